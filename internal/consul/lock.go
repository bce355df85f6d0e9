package consul

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/tenantctl/tenantctl/internal/exit"
)

// Holder describes who holds a tenant's lock; it is the lock key's value.
// BootID, PIDNamespace and Started (with Host and PID) let a later tenantctl
// on the same machine tell that the holder's process is gone.
type Holder struct {
	Operator string    `json:"operator"`
	Host     string    `json:"host"`
	PID      int       `json:"pid"`
	Command  string    `json:"command"`
	Since    time.Time `json:"since"`
	// BootID is the kernel's boot id (/proc/sys/kernel/random/boot_id);
	// empty where there is none.
	BootID string `json:"boot_id,omitempty"`
	// PIDNamespace names the holder's pid namespace (/proc/self/ns/pid), so
	// two containers sharing a kernel and a host name are not confused.
	PIDNamespace string `json:"pid_ns,omitempty"`
	// Started is the holder process's start time in clock ticks after boot
	// (/proc/<pid>/stat), so a pid used again by another process is not
	// taken for the holder.
	Started uint64 `json:"started,omitempty"`
}

// String describes the holder for an error message.
func (h Holder) String() string {
	return fmt.Sprintf("%s on %s (pid %d, %q since %s)", h.Operator, h.Host, h.PID, h.Command, h.Since.Format(time.RFC3339))
}

// CurrentHolder describes this process as a lock holder.
func CurrentHolder(command string, now time.Time) Holder {
	host, _ := os.Hostname()
	user := os.Getenv("USER")
	if user == "" {
		user = fmt.Sprintf("uid %d", os.Getuid())
	}
	h := Holder{Operator: user, Host: host, PID: os.Getpid(), Command: command, Since: now.UTC()}
	h.BootID, h.PIDNamespace = machineIDs()
	h.Started, _ = processStart(h.PID)
	return h
}

// machineIDs returns this machine's boot id and this process's pid
// namespace, or empty strings where the system has none.
func machineIDs() (bootID, pidNS string) {
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		bootID = strings.TrimSpace(string(b))
	}
	pidNS, _ = os.Readlink("/proc/self/ns/pid")
	return bootID, pidNS
}

// processStart returns the start time of process pid, in clock ticks after
// boot (field 22 of /proc/<pid>/stat); ok is false when there is no such
// process or no /proc.
func processStart(pid int) (ticks uint64, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 { // fields 3..22
		return 0, false
	}
	ticks, err = strconv.ParseUint(fields[19], 10, 64)
	return ticks, err == nil
}

// Gone reports whether h is a process of this machine, in this pid
// namespace and this boot, that no longer runs: then its lock can be taken
// over at once. A holder on another machine, from another boot or pid
// namespace, or one that cannot be told apart, is never gone: its lock
// waits for its session's TTL.
func (h Holder) Gone() bool {
	host, _ := os.Hostname()
	bootID, pidNS := machineIDs()
	if h.Host == "" || h.Host != host || h.BootID == "" || h.BootID != bootID ||
		h.PIDNamespace == "" || h.PIDNamespace != pidNS || h.PID <= 0 {
		return false
	}
	if h.PID == os.Getpid() {
		return false
	}
	started, ok := processStart(h.PID)
	if !ok {
		// /proc has no such process; make sure it is not merely hidden.
		return errors.Is(syscall.Kill(h.PID, 0), syscall.ESRCH)
	}
	return h.Started != 0 && started != h.Started // the pid now names another process
}

// Lock is a held tenant lock.
type Lock struct {
	client    *Client
	lock      *consulapi.Lock
	key       string
	session   string
	stopRenew chan struct{}
	once      sync.Once
	// released is closed when Release starts, so giving the lock up is
	// not taken for losing it.
	released chan struct{}
	lost     chan struct{}
	lostErr  error
	// TookOver is the holder whose lock this one took over because its
	// process was gone (see Holder.Gone); nil when the lock was free.
	TookOver *Holder
}

// Lost is closed when the lock is lost while held: its session expired or
// was destroyed, or Consul stopped answering, so another process may hold
// it now. Err then says which.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// Err is why the lock was lost, once Lost is closed; nil before.
func (l *Lock) Err() error {
	select {
	case <-l.lost:
		return l.lostErr
	default:
		return nil
	}
}

// watch closes l.lost when the monitor of the Consul lock (leader) or the
// session's renewal (renewErr) ends before Release.
func (l *Lock) watch(leader <-chan struct{}, renewErr <-chan error) {
	var why string
	select {
	case <-l.released:
		return
	case <-leader:
		why = "the lock key no longer names this process's session"
	case err := <-renewErr:
		why = "its session could not be renewed"
		if err != nil {
			why += " (" + err.Error() + ")"
		}
	}
	select {
	case <-l.released:
		return
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, _, err := l.client.api.KV().Get(l.key, (&consulapi.QueryOptions{}).WithContext(ctx))
	switch {
	case err != nil:
		why = fmt.Sprintf("Consul stopped answering (%v), so tenantctl cannot know it still holds it", err)
	case kv == nil || kv.Session == "":
		why = "its Consul session ended (it expired, or it was destroyed): " + why
	case kv.Session != l.session:
		who := "another process"
		var h Holder
		if json.Unmarshal(kv.Value, &h) == nil && h.PID != 0 {
			who = h.String()
		}
		why = "its Consul session ended and " + who + " holds the lock now"
	}
	l.lostErr = exit.Because(fmt.Errorf("lost the tenant's lock %s: %s", l.key, why), exit.Locked, CauseLockLost)
	close(l.lost)
}

// Release gives the lock up and ends its session. It is safe to call more
// than once.
func (l *Lock) Release() error {
	var err error
	l.once.Do(func() {
		lost := l.Err() != nil
		close(l.released)
		if lost {
			// The session is gone and the key may be another holder's:
			// nothing of ours is left to give back.
			close(l.stopRenew)
			_, _ = l.client.api.Session().Destroy(l.session, nil)
			return
		}
		if uerr := l.lock.Unlock(); uerr != nil && !errors.Is(uerr, consulapi.ErrLockNotHeld) {
			err = fmt.Errorf("consul: release lock %q: %w", l.key, uerr)
		}
		close(l.stopRenew)
		if _, derr := l.client.api.Session().Destroy(l.session, nil); derr != nil && err == nil {
			err = fmt.Errorf("consul: end lock session: %w", derr)
		}
	})
	return err
}

// Destroy releases the lock and deletes its key, unless another process is
// waiting for it. down uses it so nothing of the tenant stays in KV.
func (l *Lock) Destroy() error {
	if err := l.Release(); err != nil {
		return err
	}
	if l.Err() != nil {
		return nil // the key is no longer ours to delete
	}
	if err := l.lock.Destroy(); err != nil && !errors.Is(err, consulapi.ErrLockInUse) {
		return fmt.Errorf("consul: delete lock %q: %w", l.key, err)
	}
	return nil
}

// sessionTTL bounds how long a crashed tenantctl keeps a tenant locked.
const sessionTTL = 15 * time.Second

// attemptWait is how long one acquisition attempt blocks in Consul; between
// attempts Acquire notices a cancelled context.
const attemptWait = 500 * time.Millisecond

// Acquire takes the lock at key, waiting up to wait for another holder to
// release it. When the wait ends it returns an exit.Locked error naming the
// holder, with cause CauseLocked; when ctx ends, ctx's error. The lock is tied to a Consul session
// with a TTL that this process renews, so a killed tenantctl frees the tenant
// within about twice the TTL.
func (c *Client) Acquire(ctx context.Context, key string, holder Holder, wait time.Duration) (*Lock, error) {
	value, err := json.Marshal(holder)
	if err != nil {
		return nil, fmt.Errorf("consul: encode lock holder: %w", err)
	}
	session, _, err := c.api.Session().Create(&consulapi.SessionEntry{
		Name:      "tenantctl " + holder.Command,
		TTL:       sessionTTL.String(),
		Behavior:  consulapi.SessionBehaviorRelease,
		LockDelay: time.Second,
	}, (&consulapi.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("consul: create lock session: %w", err)
	}
	stopRenew := make(chan struct{})
	renewErr := make(chan error, 1)
	go func() {
		err := c.api.Session().RenewPeriodic(sessionTTL.String(), session, nil, stopRenew)
		select {
		case <-stopRenew: // given up or released: not a loss
		default:
			if err == nil {
				err = consulapi.ErrSessionExpired
			}
			renewErr <- err
		}
	}()
	giveUp := func() {
		close(stopRenew)
		_, _ = c.api.Session().Destroy(session, nil)
	}

	var tookOver *Holder
	deadline := time.Now().Add(wait)
	for {
		attempt := min(attemptWait, time.Until(deadline))
		if attempt <= 0 {
			attempt = time.Millisecond
		}
		lk, err := c.api.LockOpts(&consulapi.LockOptions{
			Key: key, Value: value, Session: session,
			LockWaitTime: attempt, LockTryOnce: true, MonitorRetries: 3,
		})
		if err != nil {
			giveUp()
			return nil, fmt.Errorf("consul: lock %q: %w", key, err)
		}
		// Each attempt ends with its wait: Consul's client otherwise sleeps
		// 5 s after a refusal due to lock-delay (a holder's session just
		// ended), which a takeover always meets.
		actx, cancel := context.WithTimeout(ctx, attempt+attemptWait)
		leader, err := lk.Lock(actx.Done())
		cancel()
		switch {
		case errors.Is(err, consulapi.ErrLockConflict):
			giveUp()
			return nil, exit.New(exit.Usage, "another tool wrote to "+key+"; remove that key if it is stale",
				"consul: %q is not a tenantctl lock", key)
		case err != nil:
			giveUp()
			return nil, fmt.Errorf("consul: lock %q: %w", key, err)
		case leader != nil:
			c.log.Debug("lock acquired", "key", key)
			l := &Lock{client: c, lock: lk, key: key, session: session, stopRenew: stopRenew,
				released: make(chan struct{}), lost: make(chan struct{}), TookOver: tookOver}
			go l.watch(leader, renewErr)
			return l, nil
		}
		if ctx.Err() != nil {
			giveUp()
			return nil, ctx.Err()
		}
		if tookOver == nil {
			// A holder that is a dead process of this machine cannot come
			// back: end its session now instead of waiting for its TTL.
			if h, stale, err := c.staleHolder(ctx, key); err == nil && h != nil {
				if _, err := c.api.Session().Destroy(stale, (&consulapi.WriteOptions{}).WithContext(ctx)); err == nil {
					c.log.Warn("took over a tenant lock whose holder is gone", "key", key, "holder", h.String())
					tookOver = h
				}
			}
		}
		if time.Now().After(deadline) {
			giveUp()
			who := "another operator"
			if h, err := c.holder(ctx, key); err == nil && h != nil {
				who = h.String()
			}
			return nil, exit.Because(fmt.Errorf("tenant is locked by %s", who), exit.Locked, CauseLocked)
		}
	}
}

// staleHolder returns the holder of the lock at key and its session when
// that holder is gone (Holder.Gone); nil otherwise.
func (c *Client) staleHolder(ctx context.Context, key string) (*Holder, string, error) {
	kv, _, err := c.api.KV().Get(key, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil || kv == nil || kv.Session == "" {
		return nil, "", err
	}
	var h Holder
	if err := json.Unmarshal(kv.Value, &h); err != nil || !h.Gone() {
		return nil, "", err
	}
	return &h, kv.Session, nil
}

// holder reads who holds the lock at key, or nil when nobody does.
func (c *Client) holder(ctx context.Context, key string) (*Holder, error) {
	kv, _, err := c.api.KV().Get(key, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil || kv == nil || kv.Session == "" {
		return nil, err
	}
	var h Holder
	if err := json.Unmarshal(kv.Value, &h); err != nil {
		return nil, fmt.Errorf("consul: decode lock holder: %w", err)
	}
	return &h, nil
}

// Held reports whether someone holds the lock at key, and who.
func (c *Client) Held(ctx context.Context, key string) (*Holder, error) {
	return c.holder(ctx, key)
}
