package vault

import (
	"context"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// Teardown removes every Vault object of the tenant: it revokes its leases
// (dropping them from Vault when the database is already gone), then deletes
// its roles, connections, policy, JWT role and bootstrap secret with all its
// versions. It is idempotent and reports whether it removed anything. Other
// tenants, including ones whose id starts with this one's, are untouched:
// every path is exact or ends with a slash.
func (c *Client) Teardown(ctx context.Context, n tenant.Names) (bool, error) {
	changed := false
	for _, role := range credRoles(n) {
		rl, err := c.revokeRole(ctx, n, role, true)
		if err != nil {
			return changed, err
		}
		changed = changed || rl.Revoked > 0
	}
	type object struct{ what, path string }
	var objects []object
	for _, role := range credRoles(n) {
		objects = append(objects, object{"role", c.rolePath(role)})
	}
	objects = append(objects,
		object{"connection", c.connectionPath(n.DBConnection)},
		object{"connection", c.connectionPath(n.RedisConnection)},
		object{"jwt role", c.jwtRolePath(n)},
		object{"policy", policyPath(n)},
		object{"bootstrap secret", c.bootstrapMetaPath(n)},
	)
	for _, o := range objects {
		have, err := c.read(ctx, "read "+o.what, o.path)
		if err != nil {
			return changed, err
		}
		if have == nil {
			continue
		}
		if err := c.del(ctx, "delete "+o.what, o.path); err != nil {
			return changed, err
		}
		c.log.InfoContext(ctx, "vault: deleted "+o.what, attrTenant, n.ID.String(), attrPath, o.path)
		changed = true
	}
	return changed, nil
}
