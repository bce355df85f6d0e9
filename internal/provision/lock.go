package provision

import (
	"context"
	"time"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// tenantLock is a command's hold on its tenant's Consul lock: the lock step
// takes it, and the command's deferred end gives it back.
type tenantLock struct {
	env  Env
	n    tenant.Names
	lock *consul.Lock
}

// step is the lock step: it waits up to wait for another holder.
func (t *tenantLock) step(holder consul.Holder, wait time.Duration) Step {
	return Step{Name: StepLock, Apply: func(ctx context.Context) (Outcome, error) {
		l, err := t.env.Consul.Acquire(ctx, t.n.LockKey, holder, wait)
		if err != nil {
			return Outcome{}, err
		}
		t.lock = l
		return Outcome{Detail: "holding " + t.n.LockKey}, nil
	}}
}

// held reports whether the step took the lock.
func (t *tenantLock) held() bool { return t.lock != nil }

// release gives the lock back; with destroy (down: the tenant is gone) it
// also deletes the lock key, unless another operator waits for it.
func (t *tenantLock) release(destroy bool) {
	if t.lock == nil {
		return
	}
	release := t.lock.Release
	if destroy {
		release = t.lock.Destroy
	}
	err := release()
	if err != nil {
		t.env.log().Warn("release tenant lock", "tenant", t.n.ID.String(), "error", err)
	}
}

// preflightExisting is the preflight step of a command that needs an
// existing tenant (rotate, migrate): the systems answer and the tenant has a
// record.
func preflightExisting(env Env, n tenant.Names) Step {
	return Step{Name: StepPreflight, Apply: func(ctx context.Context) (Outcome, error) {
		if err := preflight(ctx, env, n); err != nil {
			return Outcome{}, err
		}
		rec, err := env.Consul.ReadRecord(ctx, n.KVPrefix)
		if err != nil {
			return Outcome{}, err
		}
		if rec == nil {
			return Outcome{}, notFound(n.ID)
		}
		return Outcome{Detail: "tenant found"}, nil
	}}
}
