package consul

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/tenantctl/tenantctl/internal/exit"
)

// Holder describes who holds a tenant's lock; it is the lock key's value.
type Holder struct {
	Operator string    `json:"operator"`
	Host     string    `json:"host"`
	PID      int       `json:"pid"`
	Command  string    `json:"command"`
	Since    time.Time `json:"since"`
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
	return Holder{Operator: user, Host: host, PID: os.Getpid(), Command: command, Since: now.UTC()}
}

// Lock is a held tenant lock.
type Lock struct {
	client    *Client
	lock      *consulapi.Lock
	key       string
	session   string
	stopRenew chan struct{}
	once      sync.Once
}

// Release gives the lock up and ends its session. It is safe to call more
// than once.
func (l *Lock) Release() error {
	var err error
	l.once.Do(func() {
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
	go func() { _ = c.api.Session().RenewPeriodic(sessionTTL.String(), session, nil, stopRenew) }()
	giveUp := func() {
		close(stopRenew)
		_, _ = c.api.Session().Destroy(session, nil)
	}

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
		lost, err := lk.Lock(ctx.Done())
		switch {
		case errors.Is(err, consulapi.ErrLockConflict):
			giveUp()
			return nil, exit.New(exit.Usage, "another tool wrote to "+key+"; remove that key if it is stale",
				"consul: %q is not a tenantctl lock", key)
		case err != nil:
			giveUp()
			return nil, fmt.Errorf("consul: lock %q: %w", key, err)
		case lost != nil:
			c.log.Debug("lock acquired", "key", key)
			return &Lock{client: c, lock: lk, key: key, session: session, stopRenew: stopRenew}, nil
		}
		if ctx.Err() != nil {
			giveUp()
			return nil, ctx.Err()
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
