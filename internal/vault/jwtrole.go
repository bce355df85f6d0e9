package vault

import (
	"context"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// Audience is the audience Nomad puts in workload identities meant for Vault.
const Audience = "vault.io"

// The workload-identity claims a component's JWT role is bound to.
const (
	// NamespaceClaim is the task's Nomad namespace.
	NamespaceClaim = "nomad_namespace"
	// JobClaim is the task's Nomad job id; a dispatched child of a
	// parameterized job has "<parent>/dispatch-<time>-<random>".
	JobClaim = "nomad_job_id"
)

// dispatchedSuffix is the glob that matches the job id of every dispatched
// child of a parameterized job, after the parent's id; periodicSuffix the
// same for the runs of a periodic job ("<parent>/periodic-<unix time>").
const (
	dispatchedSuffix = "/dispatch-*"
	periodicSuffix   = "/periodic-*"
)

// UserClaim names the Vault identity alias of a workload. Nomad's "sub" is
// "<region>:<namespace>:<job>:<group>:<task>:<identity>", unique across
// namespaces; nomad_job_id alone is not (job ids repeat between tenants).
const UserClaim = "sub"

func (c *Client) jwtRolePath(name string) string {
	return "auth/" + c.mounts.JWT + "/role/" + name
}

// boundJobs returns the job ids component comp's role accepts: its job, and
// for the parameterized jobs (migrate, backup, restore) their dispatched
// children, for the periodic scheduled backup its runs.
func boundJobs(n tenant.Names, comp tenant.Component) []string {
	jobs := []string{n.Job(comp)}
	switch comp.Stage {
	case tenant.StageMigrate, tenant.StageOnDemand:
		jobs = append(jobs, n.Job(comp)+dispatchedSuffix)
	case tenant.StageScheduled:
		jobs = append(jobs, n.Job(comp)+periodicSuffix)
	}
	return jobs
}

// jwtRoleFields is the desired JWT role of component comp of tenant n.
// bound_claims is matched as globs: the namespace and job ids have no "*"
// (ids are [a-z0-9-]), so only the dispatched children's suffix is one.
func (c *Client) jwtRoleFields(n tenant.Names, comp tenant.Component) []field {
	return []field{
		{key: "role_type", value: "jwt"},
		{key: "bound_audiences", value: []string{Audience}, set: true},
		{key: "bound_claims_type", value: "glob"},
		{key: "bound_claims", value: map[string]any{NamespaceClaim: n.Namespace, JobClaim: boundJobs(n, comp)}},
		{key: "user_claim", value: UserClaim},
		{key: "claim_mappings", value: map[string]any{
			"nomad_namespace":     "nomad_namespace",
			"nomad_job_id":        "nomad_job_id",
			"nomad_task":          "nomad_task",
			"nomad_allocation_id": "nomad_allocation_id",
		}},
		{key: "token_policies", value: []string{n.Identity(comp)}, set: true},
		{key: "token_type", value: "service"},
		{key: "token_period", value: int64(c.ttls.TokenPeriod.Seconds())},
		{key: "token_ttl", value: 0},
		{key: "token_max_ttl", value: 0},
		{key: "token_explicit_max_ttl", value: 0},
	}
}

// EnsureJWTRoles writes one role per component of the tenant in the jwt auth
// mount (named Names.Identity) when it is missing or differs: workload
// identities with audience vault.io of the tenant's Nomad namespace and of
// that component's job (or, for the migration job, its dispatched children)
// log in to periodic, renewable service tokens carrying the component's
// policy (and Vault's default policy, which renews tokens and leases). It
// deletes the role every task of the tenant shared before
// (Names.SharedJWTRole).
func (c *Client) EnsureJWTRoles(ctx context.Context, n tenant.Names) (bool, error) {
	// One role per component, each read and written on its own: they
	// converge concurrently.
	var fns []func() (bool, error)
	for _, comp := range tenant.Components() {
		fns = append(fns, func() (bool, error) {
			path := c.jwtRolePath(n.Identity(comp))
			have, err := c.read(ctx, "read jwt role", path)
			if err != nil {
				return false, err
			}
			want := c.jwtRoleFields(n, comp)
			if have != nil && len(diff(have, want)) == 0 {
				return false, nil
			}
			if _, err := c.write(ctx, "write jwt role", path, payload(want)); err != nil {
				return false, err
			}
			c.log.InfoContext(ctx, "vault: wrote jwt role", attrTenant, n.ID.String(), attrPath, path)
			return true, nil
		})
	}
	fns = append(fns, func() (bool, error) {
		return c.deleteIfPresent(ctx, n, "shared jwt role", c.jwtRolePath(n.SharedJWTRole))
	})
	return parallel(fns...)
}
