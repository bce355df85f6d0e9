package vault

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// Leases are lease ids by role: a snapshot of the dynamic credentials a
// tenant holds at one moment.
type Leases map[string][]string

// RotateRoots rotates the root credentials of the tenant's Postgres and
// Redis connections (reseeding Redis from the bootstrap secret when it lost
// the rotated one), without touching dynamic credentials. With ListLeases and
// RevokeLeases it lets rotate revoke only the credentials issued before the
// workloads were given new ones, so no request goes without valid
// credentials. Connections that do not exist are skipped.
func (c *Client) RotateRoots(ctx context.Context, n tenant.Names) (RotateReport, error) {
	var rep RotateReport
	for _, conn := range []string{n.DBConnection, n.RedisConnection} {
		have, err := c.readConnection(ctx, conn)
		if err != nil {
			return rep, err
		}
		if have == nil {
			continue
		}
		err = c.rotateRoot(ctx, conn)
		if err != nil && conn == n.RedisConnection && isAuthFailure(err) {
			if rerr := c.reseedRedisRoot(ctx, n); rerr != nil {
				return rep, fmt.Errorf("%w (reseeding it from the bootstrap secret also failed: %w)", err, rerr)
			}
			rep.Reseeded = append(rep.Reseeded, conn)
			err = c.rotateRoot(ctx, conn)
		}
		if err != nil {
			return rep, err
		}
		rep.Rotated = append(rep.Rotated, conn)
	}
	return rep, nil
}

// ListLeases returns the ids of every lease of the tenant's credential roles.
// It only reads.
func (c *Client) ListLeases(ctx context.Context, n tenant.Names) (Leases, error) {
	out := Leases{}
	for _, role := range credRoles(n) {
		prefix := c.leasePrefix(role)
		keys, err := c.list(ctx, "list leases", "sys/leases/lookup/"+prefix)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			out[role] = append(out[role], prefix+k)
		}
		sort.Strings(out[role])
	}
	return out, nil
}

// RevokeLeases revokes exactly the leases in l (each must belong to one of
// the tenant's roles) and reports how many per role. A lease that has already
// gone (expired, or revoked with its token) is not an error.
func (c *Client) RevokeLeases(ctx context.Context, n tenant.Names, l Leases) ([]RoleLeases, error) {
	var out []RoleLeases
	for _, role := range credRoles(n) {
		ids := l[role]
		if len(ids) == 0 {
			continue
		}
		prefix := c.leasePrefix(role)
		rl := RoleLeases{Role: role}
		for _, id := range ids {
			if len(id) <= len(prefix) || id[:len(prefix)] != prefix {
				return out, fmt.Errorf("vault: lease %q is not one of role %s's", id, role)
			}
			if _, err := c.write(ctx, "revoke lease", "sys/leases/revoke", map[string]any{"lease_id": id, "sync": true}); err != nil {
				if isGoneLease(err) {
					continue
				}
				return out, err
			}
			rl.Revoked++
		}
		c.log.InfoContext(ctx, "vault: revoked leases issued before the rotation", attrTenant, n.ID.String(), attrPath, prefix, attrCount, rl.Revoked)
		out = append(out, rl)
	}
	return out, nil
}

// isGoneLease reports whether Vault's answer to a revocation says the lease
// no longer exists.
func isGoneLease(err error) bool {
	var e *APIError
	if !errors.As(err, &e) {
		return false
	}
	return e.StatusCode == 404 || (e.StatusCode == 400 && strings.Contains(strings.ToLower(err.Error()), "lease"))
}
