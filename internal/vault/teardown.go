package vault

import (
	"context"
	"strings"

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
	ch, err := c.deleteIdentities(ctx, n)
	if err != nil {
		return changed, err
	}
	changed = changed || ch
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

// deleteIdentities deletes the identity entities (or, for an entity that also
// has other aliases, just the alias) that logins of the tenant's workloads
// created in the jwt mount: their alias names are Nomad "sub" claims,
// "<region>:<namespace>:…", matched on the exact namespace. A token that may
// not list identities only gets a warning: the entities grant nothing.
func (c *Client) deleteIdentities(ctx context.Context, n tenant.Names) (bool, error) {
	const listPath = "identity/entity-alias/id"
	s, err := c.api.Logical().ListWithContext(ctx, listPath)
	if err != nil {
		err = apiErr("list identity aliases", listPath, err)
		if IsPermissionDenied(err) {
			c.log.WarnContext(ctx, "vault: cannot list identity aliases; leaving the tenant's workload entities",
				attrTenant, n.ID.String(), "error", err.Error())
			return false, nil
		}
		return false, err
	}
	if s == nil {
		return false, nil
	}
	infos, _ := s.Data["key_info"].(map[string]any)
	mountPath := "auth/" + c.mounts.JWT + "/"
	changed := false
	for aliasID, raw := range infos {
		info, _ := raw.(map[string]any)
		name, _ := info["name"].(string)
		mp, _ := info["mount_path"].(string)
		entityID, _ := info["canonical_id"].(string)
		parts := strings.Split(name, ":")
		if mp != mountPath || len(parts) < 2 || parts[1] != n.Namespace {
			continue
		}
		path := "identity/entity-alias/id/" + aliasID
		if entityID != "" {
			ent, err := c.read(ctx, "read identity entity", "identity/entity/id/"+entityID)
			if err != nil {
				return changed, err
			}
			if aliases, _ := ent["aliases"].([]any); ent != nil && len(aliases) <= 1 {
				path = "identity/entity/id/" + entityID
			}
		}
		if err := c.del(ctx, "delete identity", path); err != nil {
			return changed, err
		}
		c.log.InfoContext(ctx, "vault: deleted workload identity", attrTenant, n.ID.String(), attrPath, path)
		changed = true
	}
	return changed, nil
}
