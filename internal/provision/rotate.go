package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/nomad"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/vault"
)

// Step names of rotate.
const (
	StepRotate  = "rotate"
	StepRollout = "reload"
	StepRevoke  = "revoke"
)

// RotateOptions control rotate.
type RotateOptions struct {
	ID          tenant.ID
	Timeout     time.Duration
	LockTimeout time.Duration
	Holder      consul.Holder
}

// RotateResult is what rotate did.
type RotateResult struct {
	Report
	Vault vault.RotateReport `json:"vault"`
	// Replaced counts the allocations replaced so their tasks render new
	// credentials.
	Replaced int `json:"replaced_allocations"`
}

// Rotate rotates the root credentials of the tenant's Postgres and Redis
// connections in Vault, then replaces the app's and worker's allocations
// create-before-destroy (nomad.Client.ReplaceAllocations: one extra instance
// first, then each old allocation in turn, each new one passing in Consul
// before the next step, so a one-instance tenant always has a passing
// instance; each new allocation renders fresh credentials with its workload
// identity), then revokes exactly the dynamic credentials that existed before
// the replacements. In that order no task is ever left holding revoked
// credentials. It returns when every task is healthy again.
func Rotate(ctx context.Context, env Env, opt RotateOptions) (RotateResult, error) {
	n := tenant.NamesFor(opt.ID)
	r := env.runner("rotate", opt.ID)
	timeout := opt.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	var res RotateResult
	var before vault.Leases // the tenant's leases before the replacements
	lk := &tenantLock{env: env, n: n}
	defer lk.release(false)
	ctx = lk.guard(ctx) // a lost lock stops the command
	steps := []Step{
		preflightExisting(env, n),
		lk.step(opt.Holder, opt.LockTimeout),
		{Name: StepRotate, Apply: func(ctx context.Context) (Outcome, error) {
			rep, err := env.Vault.RotateRoots(ctx, n)
			res.Vault = rep
			if err != nil {
				return Outcome{Changed: len(rep.Rotated) > 0}, err
			}
			return Outcome{Changed: len(rep.Rotated) > 0, Detail: "rotated the root of " + strings.Join(rep.Rotated, ", ")}, nil
		}},
		{Name: StepRollout, Apply: func(ctx context.Context) (Outcome, error) {
			var err error
			if before, err = env.Vault.ListLeases(ctx, n); err != nil {
				return Outcome{}, err
			}
			wctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			total := 0
			workloads := tenant.ComponentsAt(tenant.StageWorkload)
			reps := map[string]nomad.Replacement{}
			for _, c := range workloads {
				job := n.Job(c)
				ready := func(ctx context.Context, allocID string) error { return nil }
				if c.Service {
					ready = env.allocPassing(n.Service(c), timeout)
				}
				rep, err := env.Nomad.ReplaceAllocations(wctx, n.Namespace, job, ready)
				total += rep.Replaced
				if err != nil {
					return Outcome{Changed: total > 0}, fmt.Errorf("replace %s allocations: %w", job, err)
				}
				reps[job] = rep
			}
			res.Replaced = total
			for _, svc := range n.Services(workloads) {
				if _, err := env.serviceAddr(wctx, svc, timeout); err != nil {
					return Outcome{Changed: total > 0}, err
				}
			}
			env.recordReplacements(ctx, n, reps)
			return Outcome{Changed: total > 0, Detail: fmt.Sprintf("%d allocation(s) replaced with fresh credentials, all passing", total)}, nil
		}},
		{Name: StepRevoke, Apply: func(ctx context.Context) (Outcome, error) {
			revoked, err := env.Vault.RevokeLeases(ctx, n, before)
			res.Vault.Leases = revoked
			count := res.Vault.Revoked()
			return Outcome{Changed: count > 0, Detail: fmt.Sprintf("revoked %d lease(s) issued before the rotation", count)}, err
		}},
	}
	rep, err := r.run(ctx, steps)
	res.Report = rep
	return res, err
}

// allocPassing returns a readiness check for ReplaceAllocations: the
// allocation's instance of service passes in Consul (Nomad names a service
// instance after its allocation).
func (e Env) allocPassing(service string, timeout time.Duration) func(ctx context.Context, allocID string) error {
	return func(ctx context.Context, allocID string) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		delay := 50 * time.Millisecond
		for {
			is, err := e.Consul.ServiceHealth(ctx, service)
			if err == nil {
				for _, i := range consul.Passing(is) {
					if strings.Contains(i.ID, allocID) {
						return nil
					}
				}
			}
			select {
			case <-ctx.Done():
				if err == nil {
					err = errors.New("its instance is not passing")
				}
				return fmt.Errorf("consul service %s: %w", service, err)
			case <-time.After(delay):
			}
			delay = min(2*delay, time.Second)
		}
	}
}

// recordReplacements carries the tenant record's job indexes (Record.Jobs)
// over rotate's scales: a job the record knew as converged at the index its
// replacement started from, and that nobody else changed meanwhile
// (nomad.Replacement.Alone), is converged at the index it ended at, so the
// next converged check need not plan it. Best effort: without it the next
// check plans those jobs, which is slower, never wrong.
func (e Env) recordReplacements(ctx context.Context, n tenant.Names, reps map[string]nomad.Replacement) {
	rec, err := e.Consul.ReadRecord(ctx, n.KVPrefix)
	if err != nil || rec == nil || rec.Status != tenant.StatusReady {
		return
	}
	next := *rec
	for job, rep := range reps {
		if !rep.Alone || rep.After == rep.Before {
			continue
		}
		if moved, ok := next.MoveJobIndex(job, rep.Before, rep.After); ok {
			next = moved
		}
	}
	if next.Jobs == rec.Jobs {
		return
	}
	if _, err := e.Consul.WriteRecord(ctx, n.KVPrefix, next); err != nil {
		e.log().WarnContext(ctx, "rotate: could not note the jobs' new indexes in the tenant record; the next up plans them",
			"tenant", n.ID.String(), "err", err.Error())
	}
}
