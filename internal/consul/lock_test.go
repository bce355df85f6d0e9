package consul

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/testenv"
)

// lockSession returns the session that holds the lock at key.
func lockSession(t *testing.T, c *Client, key string) string {
	t.Helper()
	kv, _, err := c.api.KV().Get(key, nil)
	if err != nil || kv == nil || kv.Session == "" {
		t.Fatalf("lock key %s: got %+v, %v; want a key held by a session", key, kv, err)
	}
	return kv.Session
}

// TestLockLostWhenSessionEnds: destroying the holder's session on the real
// Consul (what an expired TTL does) closes Lost, and Err says so with exit
// code Locked; releasing afterwards is quiet.
func TestLockLostWhenSessionEnds(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	key := names(t, "lock-lost").LockKey
	l, err := c.Acquire(context.Background(), key, CurrentHolder("up lock-lost", time.Now()), time.Second)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	if l.Err() != nil {
		t.Fatalf("Err of a held lock = %v; want nil", l.Err())
	}
	if _, err := c.api.Session().Destroy(lockSession(t, c, key), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
	case <-time.After(30 * time.Second):
		t.Fatal("Lost not closed within 30s of the session's end; want it closed")
	}
	err = l.Err()
	if exit.CodeOf(err) != exit.Locked || exit.CauseOf(err) != CauseLockLost || !strings.Contains(err.Error(), "session ended") {
		t.Fatalf("Err = %v (code %d, cause %q); want Locked, %s, naming the session's end", err, exit.CodeOf(err), exit.CauseOf(err), CauseLockLost)
	}
	if err := l.Destroy(); err != nil {
		t.Errorf("Destroy of a lost lock = %v; want nil", err)
	}
	// The tenant is free again for the next command.
	again, err := c.Acquire(context.Background(), key, CurrentHolder("up lock-lost", time.Now()), 10*time.Second)
	if err != nil {
		t.Fatalf("Acquire after the loss: %v", err)
	}
	_ = again.Destroy()
}

// TestLockReleaseIsNotALoss: giving the lock up never closes Lost.
func TestLockReleaseIsNotALoss(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	l, err := c.Acquire(context.Background(), names(t, "lock-rel").LockKey, CurrentHolder("up", time.Now()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Destroy(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
		t.Fatalf("Lost closed after Release (%v); want it open", l.Err())
	case <-time.After(time.Second):
	}
}

// holdEnv tells TestLockHolderProcess, run as a child process, which Consul
// and key to lock.
const holdEnv = "TENANTCTL_TEST_LOCK_HOLD"

// TestLockHolderProcess is not a test of its own: TestLockTakenOverFromDeadProcess
// runs the test binary with holdEnv set, and this function then takes the
// lock as tenantctl would, says so, and waits to be killed.
func TestLockHolderProcess(t *testing.T) {
	spec := os.Getenv(holdEnv)
	if spec == "" {
		t.Skip("helper process of TestLockTakenOverFromDeadProcess")
	}
	addr, key, _ := strings.Cut(spec, "|")
	c, err := New(Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Acquire(context.Background(), key, CurrentHolder("up lock-dead", time.Now()), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("held\n")
	time.Sleep(2 * time.Minute) // the parent kills it long before
}

// TestLockTakenOverFromDeadProcess: a tenantctl killed with SIGKILL leaves
// its lock to a session that lives on for its TTL (15 s, up to twice that);
// the next command on the same machine sees that the holder's process is
// gone and takes the lock over at once, naming it. The wait given is shorter
// than the TTL, so only a takeover can succeed.
func TestLockTakenOverFromDeadProcess(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	key := names(t, "lock-dead").LockKey
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHolderProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), holdEnv+"="+testenv.SharedConsul(t).Addr+"|"+key)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "held" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("the holder process ended before taking the lock")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the holder process did not take the lock within 60s")
	}
	childPID := cmd.Process.Pid
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no release, no cleanup
		t.Fatal(err)
	}
	_ = cmd.Wait()
	stale := lockSession(t, c, key)

	l, err := c.Acquire(context.Background(), key, CurrentHolder("up lock-dead", time.Now()), 10*time.Second)
	if err != nil {
		t.Fatalf("Acquire after the holder was killed: %v; want the lock taken over", err)
	}
	defer l.Destroy()
	if l.TookOver == nil || l.TookOver.PID != childPID {
		t.Fatalf("TookOver = %+v; want the killed holder, pid %d", l.TookOver, childPID)
	}
	if info, _, err := c.api.Session().Info(stale, nil); err != nil || info != nil {
		t.Errorf("the dead holder's session: got %+v, %v; want it destroyed", info, err)
	}
}

// TestLockOfOtherHoldersWaits: a holder that may still run (another
// machine, another boot or pid namespace, a live process) is never taken
// over: the lock waits, and the wait ends Locked.
func TestLockOfOtherHoldersWaits(t *testing.T) {
	t.Parallel()
	me := CurrentHolder("up", time.Now())
	if me.BootID == "" || me.PIDNamespace == "" {
		t.Skip("no boot id or pid namespace on this system")
	}
	initStart, ok := processStart(1)
	if !ok {
		t.Skip("no /proc/1/stat")
	}
	dead := me
	dead.PID, dead.Started = 1<<22+7, 12345 // above pid_max: never a process
	otherHost, otherBoot, otherNS, live, reused := dead, dead, dead, me, me
	otherHost.Host = me.Host + "-elsewhere"
	otherBoot.BootID = "00000000-0000-0000-0000-000000000000"
	otherNS.PIDNamespace = "pid:[1]"
	live.PID, live.Started = 1, initStart
	reused.PID, reused.Started = 1, initStart+1 // pid 1 now, but started later: another process
	for name, tc := range map[string]struct {
		h    Holder
		gone bool
	}{
		"dead here": {dead, true}, "pid used again": {reused, true},
		"other host": {otherHost, false}, "other boot": {otherBoot, false}, "other pid namespace": {otherNS, false},
		"live process": {live, false}, "this process": {me, false},
		"old holder without ids": {Holder{Operator: "old", Host: me.Host, PID: dead.PID}, false},
	} {
		if got := tc.h.Gone(); got != tc.gone {
			t.Errorf("%s: Gone() = %v; want %v", name, got, tc.gone)
		}
	}

	c := newClient(t)
	for i, h := range []Holder{otherHost, live} {
		key := names(t, "lock-wait-"+string(rune('a'+i))).LockKey
		first, err := c.Acquire(context.Background(), key, h, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Acquire(context.Background(), key, me, 1500*time.Millisecond)
		if exit.CodeOf(err) != exit.Locked {
			t.Errorf("Acquire while %s holds the lock = %v; want Locked", h, err)
		}
		if first.Err() != nil {
			t.Errorf("the first holder lost its lock: %v", first.Err())
		}
		_ = first.Destroy()
	}
}
