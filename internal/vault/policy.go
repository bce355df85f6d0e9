package vault

import (
	"context"
	"fmt"
	"strings"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// credRoles returns the tenant's database secrets engine roles, Postgres then
// Redis, derived from the components that read credentials.
func credRoles(n tenant.Names) []string {
	cs := tenant.Components()
	return append(n.DBRoles(cs), n.RedisRoles(cs)...)
}

// componentPaths returns the Vault paths component c's tasks may read: its
// own credential roles and, for the data services, the bootstrap secret.
func (c *Client) componentPaths(n tenant.Names, comp tenant.Component) []string {
	var out []string
	if r := n.DBRole(comp); r != "" {
		out = append(out, c.credsPath(r))
	}
	if r := n.RedisRole(comp); r != "" {
		out = append(out, c.credsPath(r))
	}
	if comp.Reads.Bootstrap {
		out = append(out, c.bootstrapDataPath(n))
	}
	return out
}

// PolicyText returns the ACL policy of component comp of tenant n: read on
// the paths that component reads (tenant.Component.Reads), nothing else.
// Paths are exact (no globs), so no other component's or tenant's path can
// match, whatever its name.
func (c *Client) PolicyText(n tenant.Names, comp tenant.Component) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Component %s of tenant %s. Managed by tenantctl: edits are overwritten.\n", comp.Name, n.ID)
	for _, p := range c.componentPaths(n, comp) {
		fmt.Fprintf(&b, "path %q {\n  capabilities = [\"read\"]\n}\n", p)
	}
	return b.String()
}

func policyPath(name string) string { return "sys/policies/acl/" + name }

// EnsurePolicies writes the ACL policy of every component of the tenant
// (named Names.Identity) when it is missing or differs, and deletes the
// policy all its tasks shared before (Names.SharedPolicy).
func (c *Client) EnsurePolicies(ctx context.Context, n tenant.Names) (bool, error) {
	// One policy per component, each read and written on its own: they
	// converge concurrently.
	var fns []func() (bool, error)
	for _, comp := range tenant.Components() {
		fns = append(fns, func() (bool, error) {
			path := policyPath(n.Identity(comp))
			have, err := c.read(ctx, "read policy", path)
			if err != nil {
				return false, err
			}
			want := c.PolicyText(n, comp)
			if have != nil && have["policy"] == want {
				return false, nil
			}
			if _, err := c.write(ctx, "write policy", path, map[string]any{"policy": want}); err != nil {
				return false, err
			}
			c.log.InfoContext(ctx, "vault: wrote policy", attrTenant, n.ID.String(), attrPath, path)
			return true, nil
		})
	}
	fns = append(fns, func() (bool, error) {
		return c.deleteIfPresent(ctx, n, "shared policy", policyPath(n.SharedPolicy))
	})
	return parallel(fns...)
}

// deleteIfPresent deletes path when it exists and reports whether it did. A
// read-only client reports the deletion it would make as ErrWouldWrite.
func (c *Client) deleteIfPresent(ctx context.Context, n tenant.Names, what, path string) (bool, error) {
	have, err := c.read(ctx, "read "+what, path)
	if err != nil || have == nil {
		return false, err
	}
	if err := c.del(ctx, "delete "+what, path); err != nil {
		return false, err
	}
	c.log.InfoContext(ctx, "vault: deleted "+what, attrTenant, n.ID.String(), attrPath, path)
	return true, nil
}
