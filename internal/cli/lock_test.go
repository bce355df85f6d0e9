package cli

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
	"github.com/tenantctl/tenantctl/internal/provisiontest"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/testenv"
)

// TestUpStopsWhenItLosesItsLock: while `up` waits for the app's deployment,
// the lock's Consul session is destroyed on the real Consul (what happens
// when its TTL runs out under a suspended process or a Consul outage). up
// must stop at once and exit 6 naming the lost lock, not go on writing while
// another operator may hold the tenant.
func TestUpStopsWhenItLosesItsLock(t *testing.T) {
	h := provisiontest.New(t)
	h.AddTenant("lost")
	n := provisiontest.Names(t, "lost")
	var appJob string
	for _, c := range tenant.Components() {
		if c.Name == "app" {
			appJob = n.Job(c)
		}
	}
	// The app never becomes ready: up stays in its app step until the
	// deployment's deadline, far beyond this test.
	h.Double().OnTask(n.Namespace, appJob, "app", func(ctx context.Context, _ nomadtest.TaskStart) (*nomadtest.TaskRun, error) {
		return &nomadtest.TaskRun{Ready: func(context.Context) error { return errors.New("held back by the test") }}, nil
	})

	done := make(chan result, 1)
	go func() { done <- runCLI(t, h.CLIEnv(), "up", "lost", "--profile", "exec", "--timeout", "3m") }()

	consul := testenv.SharedConsul(t).Client(t)
	nomad := h.Nomad().Client()
	deadline := time.Now().Add(2 * time.Minute)
	var session string
	for session == "" {
		if time.Now().After(deadline) {
			t.Fatal("up did not reach its app step with the lock held within 2m")
		}
		select {
		case r := <-done:
			t.Fatalf("up ended before the test took its lock away: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		case <-time.After(100 * time.Millisecond):
		}
		if job, _, err := nomad.Jobs().Info(appJob, &nomadapi.QueryOptions{Namespace: n.Namespace}); err != nil || job == nil {
			continue
		}
		if kv, _, err := consul.KV().Get(n.LockKey, nil); err == nil && kv != nil {
			session = kv.Session
		}
	}
	if _, err := consul.Session().Destroy(session, nil); err != nil {
		t.Fatal(err)
	}

	var r result
	select {
	case r = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("up went on for 2m after losing its lock; want it stopped")
	}
	t.Logf("up after losing its lock:\n%s", r.stderr)
	if r.code != exit.Locked {
		t.Fatalf("up after losing its lock: got exit %d; want %d\nstdout: %s\nstderr: %s", r.code, exit.Locked, r.stdout, r.stderr)
	}
	for _, s := range []string{"Error: ", "lost the tenant's lock " + n.LockKey, "session ended", "step app", "\nTry: ", "tenantctl status"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("up's stderr lacks %q:\n%s", s, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "interrupted") {
		t.Errorf("up's stderr calls the lost lock an interrupt:\n%s", r.stderr)
	}
	code, stdout, stderr := runCLI(t, h.CLIEnv(), "down", "lost", "--yes", "--profile", "exec").parts() // no record: up stopped before writing one
	if code != exit.OK {
		t.Fatalf("down after the lost lock: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	t.Logf("down after the lost lock:\n%s%s", stdout, stderr)
	h.AssertGone("lost")
}

// TestUpTakesOverTheLockOfADeadTenantctl: a tenantctl killed with SIGKILL
// leaves its lock to a Consul session that lives on for its TTL (15 s, up to
// twice that). Its holder, recorded with this machine's host name, boot id
// and pid namespace, names a process that no longer exists: the next up
// takes the lock over at once and says so. --lock-timeout is shorter than
// the session's TTL, so only a takeover can succeed.
func TestUpTakesOverTheLockOfADeadTenantctl(t *testing.T) {
	h := provisiontest.New(t)
	h.AddTenant("stale")
	n := provisiontest.Names(t, "stale")
	consulAPI := testenv.SharedConsul(t).Client(t)

	dead := consul.CurrentHolder("up stale", time.Now().Add(-time.Minute))
	if dead.BootID == "" || dead.PIDNamespace == "" {
		t.Skip("no boot id or pid namespace on this system")
	}
	dead.PID, dead.Started = 1<<22+7, 12345 // above the kernel's pid_max: no such process
	value, err := json.Marshal(dead)
	if err != nil {
		t.Fatal(err)
	}
	session, _, err := consulAPI.Session().Create(&consulapi.SessionEntry{
		Name: "tenantctl up stale", TTL: "15s", Behavior: consulapi.SessionBehaviorRelease, LockDelay: time.Second,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = consulAPI.Session().Destroy(session, nil) })
	stale := &consulapi.KVPair{Key: n.LockKey, Value: value, Session: session, Flags: consulapi.LockFlagValue}
	if ok, _, err := consulAPI.KV().Acquire(stale, nil); err != nil || !ok {
		t.Fatalf("acquire the stale lock: %v, %v", ok, err)
	}

	code, stdout, stderr := runCLI(t, h.CLIEnv(), "up", "stale", "--profile", "exec", "--lock-timeout", "8s", "--timeout", "2m").parts()
	if code != exit.OK {
		t.Fatalf("up with a dead holder's lock: got exit %d; want 0\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "took it over from "+dead.String()) {
		t.Errorf("up's progress does not say it took the lock over from the dead holder:\n%s", stderr)
	}
	h.WaitPassing("stale")
	if code, _, stderr := runCLI(t, h.CLIEnv(), "down", "stale", "--yes").parts(); code != exit.OK {
		t.Fatalf("down: exit %d\n%s", code, stderr)
	}
}
