package vault

import (
	"context"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// RoleLeases is how many leases of one role were revoked.
type RoleLeases struct {
	Role    string `json:"role"`
	Revoked int    `json:"revoked"`
	// Forced is true when Vault could not revoke them in the database (it was
	// unreachable) and dropped them from Vault only.
	Forced bool `json:"forced,omitempty"`
}

// RotateReport is what Rotate did.
type RotateReport struct {
	// Rotated lists the connections whose root credentials were rotated.
	Rotated []string `json:"rotated"`
	// Leases lists, per role, the dynamic credentials revoked.
	Leases []RoleLeases `json:"leases"`
}

// leasePrefix is the lease prefix of one role's credentials. The trailing
// slash keeps it from matching a role whose name merely starts with it.
func (c *Client) leasePrefix(role string) string {
	return c.credsPath(role) + "/"
}

// revokeRole revokes every lease of role and reports how many there were.
// When force is set and Vault cannot revoke them in the database, they are
// dropped from Vault with revoke-force.
func (c *Client) revokeRole(ctx context.Context, n tenant.Names, role string, force bool) (RoleLeases, error) {
	out := RoleLeases{Role: role}
	prefix := c.leasePrefix(role)
	ids, err := c.list(ctx, "list leases", "sys/leases/lookup/"+prefix)
	if err != nil {
		return out, err
	}
	if len(ids) == 0 {
		return out, nil
	}
	_, err = c.write(ctx, "revoke leases", "sys/leases/revoke-prefix/"+prefix, map[string]any{"sync": true})
	if err != nil {
		if !force || IsPermissionDenied(err) || IsUnreachable(err) {
			return out, err
		}
		c.log.WarnContext(ctx, "vault: revoking leases in the database failed; dropping them from Vault only",
			attrTenant, n.ID.String(), attrPath, prefix, "error", err.Error())
		if _, ferr := c.write(ctx, "force-revoke leases", "sys/leases/revoke-force/"+prefix, nil); ferr != nil {
			return out, ferr
		}
		out.Forced = true
	}
	out.Revoked = len(ids)
	c.log.InfoContext(ctx, "vault: revoked leases", attrTenant, n.ID.String(), attrPath, prefix, attrCount, len(ids))
	return out, nil
}

// Rotate rotates the root credentials of the tenant's Postgres and Redis
// connections and revokes every dynamic credential issued to the tenant, so
// its workloads must fetch new ones (Nomad templates do so and restart or
// signal their tasks). Connections that do not exist are skipped.
func (c *Client) Rotate(ctx context.Context, n tenant.Names) (RotateReport, error) {
	var rep RotateReport
	for _, conn := range []string{n.DBConnection, n.RedisConnection} {
		have, err := c.readConnection(ctx, conn)
		if err != nil {
			return rep, err
		}
		if have == nil {
			continue
		}
		if err := c.rotateRoot(ctx, conn); err != nil {
			return rep, err
		}
		rep.Rotated = append(rep.Rotated, conn)
	}
	for _, role := range credRoles(n) {
		rl, err := c.revokeRole(ctx, n, role, false)
		if err != nil {
			return rep, err
		}
		rep.Leases = append(rep.Leases, rl)
	}
	return rep, nil
}
