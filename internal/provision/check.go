package provision

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tenantctl/tenantctl/internal/nomad"
	"github.com/tenantctl/tenantctl/internal/routing"
)

// ErrWouldWrite is returned by a ReadOnlyTransport for any request that
// could change state. The converged check runs the Vault Ensure methods over
// such a transport: on a converged tenant they only read; on drift they try to
// write, and the check learns that up has work to do.
var ErrWouldWrite = errors.New("read-only check: a write would be needed")

// ReadOnlyTransport passes GET, HEAD and LIST requests to Base and refuses
// every other method with ErrWouldWrite, except for the POST paths listed in
// AllowPOST (reads that Vault serves over POST, such as
// sys/capabilities-self; Vault's Go client sends those as PUT, which is
// allowed on the same paths).
type ReadOnlyTransport struct {
	Base      http.RoundTripper
	AllowPOST []string
}

// RoundTrip implements http.RoundTripper.
func (t ReadOnlyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.Method {
	case http.MethodGet, http.MethodHead, "LIST":
	default:
		allowed := false
		for _, p := range t.AllowPOST {
			if (req.Method == http.MethodPost || req.Method == http.MethodPut) && strings.HasSuffix(req.URL.Path, p) {
				allowed = true
			}
		}
		if !allowed {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, ErrWouldWrite)
		}
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(req)
}

func wouldWrite(err error) bool {
	return errors.Is(err, ErrWouldWrite) || (err != nil && strings.Contains(err.Error(), ErrWouldWrite.Error()))
}

// convergedCheck compares the tenant's actual state with d without writing
// anything. It returns "" when nothing differs, otherwise the first
// difference found, in up's order.
func (e Env) convergedCheck(ctx context.Context, d desired) (string, error) {
	rec, err := e.Consul.ReadRecord(ctx, d.names.KVPrefix)
	switch {
	case err != nil:
		return "", err
	case rec == nil:
		return "the tenant has no record yet", nil
	case rec.Status != StatusReady:
		return fmt.Sprintf("the last apply ended %s at step %s", rec.Status, rec.LastStep), nil
	case rec.SpecVersion != d.digest:
		return "the desired spec changed since the last apply", nil
	}
	if h, err := e.Consul.Held(ctx, d.names.LockKey); err != nil {
		return "", err
	} else if h != nil {
		return "another operator holds the lock: " + h.String(), nil
	}
	for _, c := range []string{"postgres", "redis", "migrate", "app", "worker"} {
		j := d.jobs[c]
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
	}
	for _, svc := range []string{d.names.ServicePostgres, d.names.ServiceRedis, d.names.ServiceApp, d.names.ServiceWorker} {
		is, err := e.Consul.ServiceHealth(ctx, svc)
		if err != nil {
			return "", err
		}
		passing := 0
		for _, i := range is {
			if i.Status == "passing" {
				passing++
			}
		}
		if passing == 0 {
			return fmt.Sprintf("service %s has no passing instance", svc), nil
		}
	}
	if done, err := e.migrationsDone(ctx, d); err != nil {
		return "", err
	} else if !done {
		return "migrations " + d.migVer + " have not completed", nil
	}
	if e.VaultCheck != nil {
		if why, err := e.vaultConverged(ctx, d); err != nil || why != "" {
			return why, err
		}
	}
	if e.Config.RouterAddress != "" {
		err := routing.Verify(ctx, e.Consul.Health(), routing.VerifySpec{
			Service: d.names.ServiceApp, Host: d.spec.Host.String(), RouterAddr: e.Config.RouterAddress,
			Timeout: 3 * time.Second, Logger: e.log(),
		})
		if err != nil {
			return "the route does not answer yet", nil
		}
	}
	return "", nil
}

// vaultConverged runs the Vault Ensure methods over the read-only client.
func (e Env) vaultConverged(ctx context.Context, d desired) (string, error) {
	pgAddr, err := e.serviceAddr(ctx, d.names.ServicePostgres, time.Second)
	if err != nil {
		return "service " + d.names.ServicePostgres + " has no passing instance", nil
	}
	redisAddr, err := e.serviceAddr(ctx, d.names.ServiceRedis, time.Second)
	if err != nil {
		return "service " + d.names.ServiceRedis + " has no passing instance", nil
	}
	checks := []struct {
		what string
		f    func() (bool, error)
	}{
		{"bootstrap secret", func() (bool, error) { return e.VaultCheck.EnsureBootstrap(ctx, d.names) }},
		{"policy", func() (bool, error) { return e.VaultCheck.EnsurePolicy(ctx, d.names) }},
		{"jwt role", func() (bool, error) { return e.VaultCheck.EnsureJWTRole(ctx, d.names) }},
		{"postgres secrets engine", func() (bool, error) { return e.VaultCheck.EnsurePostgres(ctx, d.names, pgAddr) }},
		{"redis secrets engine", func() (bool, error) { return e.VaultCheck.EnsureRedis(ctx, d.names, redisAddr) }},
	}
	for _, c := range checks {
		changed, err := c.f()
		switch {
		case wouldWrite(err) || changed:
			return "vault " + c.what + " differs", nil
		case err != nil:
			return "", err
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
