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
	// cancel ends the command's context (see guard) when the lock is lost.
	cancel context.CancelCauseFunc
}

// guard returns ctx, cancelled with the lock's error (exit.Locked) if the
// lock is lost while held: the command's later steps must not write while
// another operator may hold the tenant. Run the steps after the lock step
// with the returned context; runner.fail reports the cause.
func (t *tenantLock) guard(ctx context.Context) context.Context {
	ctx, t.cancel = context.WithCancelCause(ctx)
	return ctx
}

// step is the lock step: it waits up to wait for another holder.
func (t *tenantLock) step(holder consul.Holder, wait time.Duration) Step {
	return Step{Name: StepLock, Apply: func(ctx context.Context) (Outcome, error) {
		l, err := t.env.Consul.Acquire(ctx, t.n.LockKey, holder, wait)
		if err != nil {
			return Outcome{}, err
		}
		t.lock = l
		if t.cancel != nil {
			go func() {
				select {
				case <-l.Lost():
					t.cancel(l.Err())
				case <-ctx.Done():
				}
			}()
		}
		out := Outcome{Detail: "holding " + t.n.LockKey}
		if l.TookOver != nil {
			out.Detail += "; took it over from " + l.TookOver.String() + ", a process of this machine that no longer runs"
		}
		return out, nil
	}}
}

// held reports whether the step took the lock and has not lost it.
func (t *tenantLock) held() bool { return t.lock != nil && t.lock.Err() == nil }

// release gives the lock back; with destroy (down: the tenant is gone) it
// also deletes the lock key, unless another operator waits for it.
func (t *tenantLock) release(destroy bool) {
	if t.cancel != nil {
		defer t.cancel(nil)
	}
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
