package vault

import (
	"context"
	"strings"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// Teardown removes the tenant's access objects: it revokes its leases
// (dropping them from Vault when the database is already gone), then deletes
// its credential roles, every component's JWT role and policy (and the shared
// ones of older versions) and the identity entities its workloads' logins
// created. It keeps the keys to the tenant's data: the Postgres and Redis
// connections, which alone know the rotated root passwords, and the
// bootstrap secret with its markers; a later up of the same id finds its
// data again with them. PurgeKeys deletes them, with the data. Teardown is
// idempotent and reports whether it removed anything. Other tenants,
// including ones whose id starts with this one's, are untouched: every path
// is exact or ends with a slash.
func (c *Client) Teardown(ctx context.Context, n tenant.Names) (bool, error) {
	changed := false
	for _, role := range credRoles(n) {
		rl, err := c.revokeRole(ctx, n, role, true)
		if err != nil {
			return changed, err
		}
		changed = changed || rl.Revoked > 0
	}
	var objects []object
	for _, role := range credRoles(n) {
		objects = append(objects, object{"role", c.rolePath(role)})
	}
	for _, id := range n.Identities(tenant.Components()) {
		objects = append(objects, object{"jwt role", c.jwtRolePath(id)}, object{"policy", policyPath(id)})
	}
	objects = append(objects,
		object{"shared jwt role", c.jwtRolePath(n.SharedJWTRole)},
		object{"shared policy", policyPath(n.SharedPolicy)},
	)
	ch, err := c.deleteIdentities(ctx, n)
	if err != nil {
		return changed, err
	}
	changed = changed || ch
	ch, err = c.deleteObjects(ctx, n, objects)
	return changed || ch, err
}

// PurgeKeys deletes the keys to the tenant's data that Teardown keeps: both
// connections (with the rotated root passwords only they know) and the
// bootstrap secret with all its versions. Down calls it only with
// --purge-data, after the data itself is gone: from then on nobody can log
// in to what might remain of it. Idempotent; exact paths only.
func (c *Client) PurgeKeys(ctx context.Context, n tenant.Names) (bool, error) {
	return c.deleteObjects(ctx, n, []object{
		{"connection", c.connectionPath(n.DBConnection)},
		{"connection", c.connectionPath(n.RedisConnection)},
		{"bootstrap secret", c.bootstrapMetaPath(n)},
	})
}

// object is one Vault object to delete: what it is, and its path.
type object struct{ what, path string }

// deleteObjects deletes each object that exists, in order, and reports
// whether it deleted any.
func (c *Client) deleteObjects(ctx context.Context, n tenant.Names, objects []object) (bool, error) {
	changed := false
	for _, o := range objects {
		ch, err := c.deleteIfPresent(ctx, n, o.what, o.path)
		if err != nil {
			return changed, err
		}
		changed = changed || ch
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
