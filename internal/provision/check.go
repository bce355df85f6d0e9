package provision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/nomad"
	"github.com/tenantctl/tenantctl/internal/routing"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/vault"
)

// convergedCheck compares the tenant's actual state with d without writing
// anything. It returns "" when nothing differs, otherwise the first
// difference found, in up's order, and how many jobs it parsed and planned
// (the others Nomad still held as the last apply left them).
func (e Env) convergedCheck(ctx context.Context, d desired) (why string, planned int, err error) {
	rec, err := e.Consul.ReadRecord(ctx, d.names.KVPrefix)
	switch {
	case err != nil:
		return "", 0, err
	case rec == nil:
		return "the tenant has no record yet", 0, nil
	case rec.Status != tenant.StatusReady:
		return fmt.Sprintf("the last apply ended %s at step %s", rec.Status, rec.LastStep), 0, nil
	case rec.SpecVersion != d.digest:
		return "the desired spec changed since the last apply", 0, nil
	case len(rec.Changes(d.spec)) > 0:
		return "the tenant's " + rec.Changes(d.spec)[0].String(), 0, nil
	case rec.AppVersion != d.spec.App.Version:
		return fmt.Sprintf("the app version changes from %q to %q", rec.AppVersion, d.spec.App.Version), 0, nil
	}
	// The rest are independent reads: run them at once and report what
	// running them in order would have found first.
	checks := []func() (string, error){func() (string, error) {
		h, err := e.Consul.Held(ctx, d.names.LockKey)
		if err != nil || h == nil {
			return "", err
		}
		return "another operator holds the lock: " + h.String(), nil
	}}
	// A job Nomad still holds as the last apply left it needs no plan
	// (unplannedJobs); the others are parsed and planned.
	skip, err := e.unplannedJobs(ctx, d, rec)
	if err != nil {
		return "", 0, err
	}
	for _, j := range d.all() {
		if skip[j.JobID] {
			continue
		}
		planned++
		checks = append(checks, func() (string, error) {
			job, err := e.Nomad.Parse(ctx, j.Source, j.Vars)
			if err != nil {
				return "", fmt.Errorf("parse %s: %w", j.File, err)
			}
			p, err := e.Nomad.Plan(ctx, job)
			if err != nil {
				return "", fmt.Errorf("plan %s: %w", j.JobID, err)
			}
			if p.Changed() {
				return fmt.Sprintf("job %s has changes (%s)", j.JobID, planSummary(p)), nil
			}
			return "", nil
		})
	}
	checks = append(checks, func() (string, error) {
		job, err := e.scheduledLeftover(ctx, d)
		if err != nil || job == "" {
			return "", err
		}
		return "job " + job + " runs although no backup schedule is set", nil
	})
	for _, svc := range d.names.Services(tenant.Components()) {
		checks = append(checks, func() (string, error) {
			is, err := e.Consul.ServiceHealth(ctx, svc)
			if err != nil {
				return "", err
			}
			if len(consul.Passing(is)) == 0 {
				return fmt.Sprintf("service %s has no passing instance", svc), nil
			}
			return "", nil
		})
	}
	checks = append(checks, func() (string, error) {
		if done, err := e.migrationsDone(ctx, d); err != nil || done {
			return "", err
		}
		return "migrations " + d.migVer + " have not completed", nil
	})
	if e.VaultCheck != nil {
		checks = append(checks, func() (string, error) { return e.vaultConverged(ctx, d) })
	}
	// The route probe comes last in order and is the only check that waits
	// (up to 3 s for a route that does not answer). It runs beside the
	// others and stops as soon as one of them finds a difference, which is
	// reported before it anyway.
	probeCtx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	if e.Config.RouterAddress != "" {
		checks = append(checks, func() (string, error) {
			err := routing.Verify(probeCtx, e.Consul, routing.VerifySpec{
				Service: d.names.ServiceApp, Host: d.spec.Host.String(), RouterAddr: e.Config.RouterAddress,
				Tenant: d.spec.ID.String(), PathHost: e.pathHost(), Timeout: 3 * time.Second, Logger: e.log(),
			})
			if err != nil {
				return "the route does not answer yet", nil
			}
			return "", nil
		})
	}
	why, err = firstDifference(stopProbe, checks...)
	return why, planned, err
}

// vaultConverged runs the Vault Ensure methods over the read-only client
// (vault.Client.ReadOnly): a write they would need is a difference.
func (e Env) vaultConverged(ctx context.Context, d desired) (string, error) {
	// One read each, however long it takes: a Consul that answers slowly
	// (a loaded machine, a fleet apply) is not a service without a
	// passing instance. A short wait here once made converged tenants of a
	// fleet look changed.
	pgAddr, err := e.passingAddr(ctx, d.names.ServicePostgres)
	if err != nil {
		return "", err
	}
	if pgAddr == "" {
		return "service " + d.names.ServicePostgres + " has no passing instance", nil
	}
	redisAddr, err := e.passingAddr(ctx, d.names.ServiceRedis)
	if err != nil {
		return "", err
	}
	if redisAddr == "" {
		return "service " + d.names.ServiceRedis + " has no passing instance", nil
	}
	checks := []struct {
		what string
		f    func() (bool, error)
	}{
		{"bootstrap secret", func() (bool, error) { return e.VaultCheck.EnsureBootstrap(ctx, d.names) }},
		{"policies", func() (bool, error) { return e.VaultCheck.EnsurePolicies(ctx, d.names) }},
		{"jwt roles", func() (bool, error) { return e.VaultCheck.EnsureJWTRoles(ctx, d.names) }},
		{"postgres secrets engine", func() (bool, error) { return e.VaultCheck.EnsurePostgres(ctx, d.names, pgAddr) }},
		{"redis secrets engine", func() (bool, error) { return e.VaultCheck.EnsureRedis(ctx, d.names, redisAddr) }},
	}
	fns := make([]func() (string, error), len(checks))
	for i, c := range checks {
		fns[i] = func() (string, error) {
			changed, err := c.f()
			switch {
			case errors.Is(err, vault.ErrWouldWrite) || changed:
				return "vault " + c.what + " differs", nil
			case err != nil:
				return "", err
			}
			return "", nil
		}
	}
	return firstDifference(nil, fns...)
}

// passingAddr returns the address of a passing instance of the tenant's
// service from one Consul read, or "" when none passes. Unlike serviceAddr
// it neither waits for an instance to pass nor gives up on a slow read.
func (e Env) passingAddr(ctx context.Context, service string) (string, error) {
	is, err := e.Consul.ServiceHealth(ctx, service)
	if err != nil {
		return "", err
	}
	if p := consul.Passing(ownInstances(service, is)); len(p) > 0 {
		return net.JoinHostPort(p[0].Address, strconv.Itoa(p[0].Port)), nil
	}
	return "", nil
}

// firstDifference runs read-only checks concurrently and returns, of their
// results in order, the first error or difference: what running them one
// after the other would have returned, in the time of the slowest. found,
// when not nil, is called as soon as any check reports an error or a
// difference, so that a check which waits can stop.
func firstDifference(found func(), checks ...func() (string, error)) (string, error) {
	whys := make([]string, len(checks))
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			whys[i], errs[i] = c()
			if found != nil && (errs[i] != nil || whys[i] != "") {
				found()
			}
		}()
	}
	wg.Wait()
	for i := range checks {
		if errs[i] != nil || whys[i] != "" {
			return whys[i], errs[i]
		}
	}
	return "", nil
}

// planSummary describes a plan in a few words.
func planSummary(p nomad.PlanResult) string {
	t := p.Totals()
	return fmt.Sprintf("%s: %d to place, %d in-place, %d destructive, %d to stop", p.DiffType, t.Place, t.InPlace, t.Destructive, t.Stop)
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
