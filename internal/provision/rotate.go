package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tenantctl/tenantctl/internal/consul"
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
			for _, c := range workloads {
				job := n.Job(c)
				ready := func(ctx context.Context, allocID string) error { return nil }
				if c.Service {
					ready = env.allocPassing(n.Service(c), timeout)
				}
				replaced, err := env.Nomad.ReplaceAllocations(wctx, n.Namespace, job, ready)
				total += replaced
				if err != nil {
					return Outcome{Changed: total > 0}, fmt.Errorf("replace %s allocations: %w", job, err)
				}
			}
			res.Replaced = total
			for _, svc := range n.Services(workloads) {
				if _, err := env.serviceAddr(wctx, svc, timeout); err != nil {
					return Outcome{Changed: total > 0}, err
				}
			}
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
