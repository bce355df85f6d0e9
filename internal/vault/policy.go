package vault

import (
	"context"
	"fmt"
	"strings"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// credRoles returns the tenant's database secrets engine roles, Postgres then
// Redis.
func credRoles(n tenant.Names) []string {
	return []string{n.DBRoleApp, n.DBRoleWorker, n.DBRoleMigrate, n.RedisRoleApp, n.RedisRoleWorker}
}

// PolicyText returns the ACL policy of tenant n's workloads: read on its own
// credential paths and its bootstrap secret, and nothing else. Paths are
// exact (no globs), so no other tenant's path can match, whatever its id.
func (c *Client) PolicyText(n tenant.Names) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Workloads of tenant %s. Managed by tenantctl: edits are overwritten.\n", n.ID)
	for _, r := range credRoles(n) {
		fmt.Fprintf(&b, "path %q {\n  capabilities = [\"read\"]\n}\n", c.mounts.Database+"/creds/"+r)
	}
	fmt.Fprintf(&b, "path %q {\n  capabilities = [\"read\"]\n}\n", c.bootstrapDataPath(n))
	return b.String()
}

func policyPath(n tenant.Names) string { return "sys/policies/acl/" + n.Policy }

// EnsurePolicy writes the tenant's ACL policy when it is missing or differs.
func (c *Client) EnsurePolicy(ctx context.Context, n tenant.Names) (bool, error) {
	path := policyPath(n)
	have, err := c.read(ctx, "read policy", path)
	if err != nil {
		return false, err
	}
	want := c.PolicyText(n)
	if have != nil && have["policy"] == want {
		return false, nil
	}
	if _, err := c.write(ctx, "write policy", path, map[string]any{"policy": want}); err != nil {
		return false, err
	}
	c.log.InfoContext(ctx, "vault: wrote policy", attrTenant, n.ID.String(), attrPath, path)
	return true, nil
}
