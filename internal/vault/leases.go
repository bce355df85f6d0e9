package vault

import (
	"context"
	"fmt"
	"strings"

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

// RotateReport is what rotate did: RotateRoots fills Rotated and Reseeded,
// RevokeLeases the Leases.
type RotateReport struct {
	// Rotated lists the connections whose root credentials were rotated.
	Rotated []string `json:"rotated"`
	// Reseeded lists the connections whose root Vault had lost (the tenant's
	// Redis restarted without the rotated admin password in its saved ACL
	// file, and loaded the bootstrap one) and that were reset to the bootstrap
	// password before rotating.
	Reseeded []string `json:"reseeded,omitempty"`
	// Leases lists, per role, the dynamic credentials revoked.
	Leases []RoleLeases `json:"leases"`
}

// Revoked is the number of leases revoked, over every role.
func (r RotateReport) Revoked() int {
	n := 0
	for _, l := range r.Leases {
		n += l.Revoked
	}
	return n
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

// isAuthFailure reports whether Vault's error says the database refused the
// connection's root credentials.
func isAuthFailure(err error) bool {
	msg := err.Error()
	for _, s := range []string{"WRONGPASS", "NOAUTH", "invalid username-password"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// reseedRedisRoot gives the Redis connection the bootstrap password again.
// Redis keeps ACL changes in memory; the tenant's Redis job saves them to
// its ACL file every few seconds, and creates that file from the bootstrap
// secret when it is missing. A restart within the save interval after a
// rotation, or with the file lost (or not yet created, on a job older than
// it), brings back the bootstrap admin password and the root Vault had
// rotated to is gone. RotateRoots calls it, then rotates again.
func (c *Client) reseedRedisRoot(ctx context.Context, n tenant.Names) error {
	b, ok, err := c.readBootstrap(ctx, n)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("vault: bootstrap secret of tenant %s is missing", n.ID)
	}
	path := c.connectionPath(n.RedisConnection)
	_, err = c.write(ctx, "reset connection credentials", path, map[string]any{
		"plugin_name": RedisPlugin, "password": b.redis, "verify_connection": true,
	}, b.redis)
	if err != nil {
		return err
	}
	c.log.WarnContext(ctx, "vault: redis lost its rotated admin password (restarted before saving its ACLs?); reset the connection to the bootstrap password",
		attrTenant, n.ID.String(), attrPath, path)
	return nil
}
