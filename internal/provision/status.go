package provision

import (
	"context"
	"fmt"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/nomad"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/vault"
)

// TenantStatus is what status reports of one tenant.
type TenantStatus struct {
	Tenant   string                       `json:"tenant"`
	Record   *tenant.Record               `json:"record"`
	Jobs     map[string]nomad.JobStatus   `json:"jobs"`
	Services map[string][]consul.Instance `json:"services"`
	Links    map[string]string            `json:"links"`
	// Leases are the dynamic credentials in use (role, issued, expires; no
	// secret). LeasesError says why they could not be read (for example a
	// token without the lookup capability); status still reports the rest.
	Leases      []vault.LeaseInfo `json:"leases"`
	LeasesError string            `json:"leases_error,omitempty"`
	// LastBackup is the newest backup (tenantctl backups list), nil
	// without one; Backups counts them.
	LastBackup *tenant.Backup `json:"last_backup"`
	Backups    int            `json:"backups"`
}

func notFound(id tenant.ID) error {
	return exit.New(exit.Usage, "`tenantctl list` shows the tenants; `tenantctl up "+id.String()+"` creates this one",
		"tenant %q does not exist", id)
}

// Status reads a tenant's record, jobs, services and credential leases. It
// only reads.
func Status(ctx context.Context, env Env, id tenant.ID) (TenantStatus, error) {
	n := tenant.NamesFor(id)
	st := TenantStatus{Tenant: id.String(), Jobs: map[string]nomad.JobStatus{},
		Services: map[string][]consul.Instance{}, Links: map[string]string{}}
	rec, err := env.Consul.ReadRecord(ctx, n.KVPrefix)
	if err != nil {
		return st, exit.Because(err, exit.Unreachable, consul.CauseUnreachable)
	}
	if rec == nil {
		return st, notFound(id)
	}
	st.Record = rec
	for _, c := range tenant.Components() {
		job := n.Job(c)
		js, err := env.Nomad.JobStatus(ctx, n.Namespace, job)
		if err != nil {
			return st, fmt.Errorf("status of %s: %w", job, err)
		}
		if c.Stage == tenant.StageScheduled && !js.Found {
			continue // no backup schedule: the job is meant to be absent
		}
		st.Jobs[job] = js
		st.Links[job] = env.Nomad.JobURL(n.Namespace, job)
	}
	for _, svc := range n.Services(tenant.Components()) {
		is, err := env.Consul.ServiceHealth(ctx, svc)
		if err != nil {
			return st, err
		}
		st.Services[svc] = is
	}
	backups, err := Backups(ctx, env, id)
	if err != nil {
		return st, err
	}
	if st.Backups = len(backups); len(backups) > 0 {
		st.LastBackup = &backups[len(backups)-1]
	}
	if env.Vault != nil {
		leases, err := env.Vault.LeaseInfos(ctx, n)
		if err != nil {
			st.LeasesError = err.Error()
		}
		st.Leases = leases
	}
	if st.Leases == nil {
		st.Leases = []vault.LeaseInfo{}
	}
	return st, nil
}

// List returns every tenant's record.
func List(ctx context.Context, env Env) ([]tenant.Record, error) {
	return env.Consul.ListRecords(ctx)
}

// PlanResult is the diff of every job of a tenant, and of its spec against
// its record.
type PlanResult struct {
	Tenant string                      `json:"tenant"`
	Jobs   map[string]nomad.PlanResult `json:"jobs"`
	// Changes are the fields of the spec (name, host, plan) that differ
	// from the tenant's record; empty for a new tenant.
	Changes []tenant.Change `json:"tenant_changes,omitempty"`
}

// Changed reports whether the spec or any job would change.
func (p PlanResult) Changed() bool {
	if len(p.Changes) > 0 {
		return true
	}
	for _, j := range p.Jobs {
		if j.Changed() {
			return true
		}
	}
	return false
}

// Plan asks Nomad for the diff of every job of spec, registering nothing,
// and compares spec with the tenant's record; like up, it refuses a profile
// change.
func Plan(ctx context.Context, env Env, spec tenant.Spec) (PlanResult, error) {
	d, err := env.desiredState(spec, 0)
	if err != nil {
		return PlanResult{}, err
	}
	out := PlanResult{Tenant: spec.ID.String(), Jobs: map[string]nomad.PlanResult{}}
	if out.Changes, err = env.specChanges(ctx, spec); err != nil {
		return out, err
	}
	for _, j := range d.all() {
		job, err := env.Nomad.Parse(ctx, j.Source, j.Vars)
		if err != nil {
			return out, fmt.Errorf("parse %s: %w", j.File, err)
		}
		p, err := env.Nomad.Plan(ctx, job)
		if err != nil {
			return out, fmt.Errorf("plan %s: %w", j.JobID, err)
		}
		out.Jobs[j.JobID] = p
	}
	return out, nil
}
