package vault

import (
	"context"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// Audience is the audience Nomad puts in workload identities meant for Vault.
const Audience = "vault.io"

// NamespaceClaim is the workload-identity claim the JWT role is bound to.
const NamespaceClaim = "nomad_namespace"

// UserClaim names the Vault identity alias of a workload. Nomad's "sub" is
// "<region>:<namespace>:<job>:<group>:<task>:<identity>", unique across
// namespaces; nomad_job_id alone is not (job ids repeat between tenants).
const UserClaim = "sub"

func (c *Client) jwtRolePath(n tenant.Names) string {
	return "auth/" + c.mounts.JWT + "/role/" + n.JWTRole
}

// jwtRoleFields is the desired JWT role of tenant n.
func (c *Client) jwtRoleFields(n tenant.Names) []field {
	return []field{
		{key: "role_type", value: "jwt"},
		{key: "bound_audiences", value: []string{Audience}, set: true},
		{key: "bound_claims_type", value: "string"},
		{key: "bound_claims", value: map[string]any{NamespaceClaim: n.Namespace}},
		{key: "user_claim", value: UserClaim},
		{key: "claim_mappings", value: map[string]any{
			"nomad_namespace":     "nomad_namespace",
			"nomad_job_id":        "nomad_job_id",
			"nomad_task":          "nomad_task",
			"nomad_allocation_id": "nomad_allocation_id",
		}},
		{key: "token_policies", value: []string{n.Policy}, set: true},
		{key: "token_type", value: "service"},
		{key: "token_period", value: int64(c.ttls.TokenPeriod.Seconds())},
		{key: "token_ttl", value: 0},
		{key: "token_max_ttl", value: 0},
		{key: "token_explicit_max_ttl", value: 0},
	}
}

// EnsureJWTRole writes the tenant's role in the jwt auth mount when it is
// missing or differs: workload identities of the tenant's Nomad namespace with
// audience vault.io log in to periodic, renewable service tokens carrying the
// tenant policy (and Vault's default policy, which renews tokens and leases).
func (c *Client) EnsureJWTRole(ctx context.Context, n tenant.Names) (bool, error) {
	path := c.jwtRolePath(n)
	have, err := c.read(ctx, "read jwt role", path)
	if err != nil {
		return false, err
	}
	want := c.jwtRoleFields(n)
	if have != nil && len(diff(have, want)) == 0 {
		return false, nil
	}
	if _, err := c.write(ctx, "write jwt role", path, payload(want)); err != nil {
		return false, err
	}
	c.log.InfoContext(ctx, "vault: wrote jwt role", attrTenant, n.ID.String(), attrPath, path)
	return true, nil
}
