package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// RedisPlugin is the database secrets engine plugin for Redis (built into
// Vault since 1.12 and into OpenBao).
const RedisPlugin = "redis-database-plugin"

// RedisACLRules are the ACL rules of the tenant's dynamic Redis users: every
// key and channel and every command except administrative and dangerous
// ones (CONFIG, FLUSHALL, FLUSHDB, ACL, SHUTDOWN, DEBUG, KEYS, MONITOR, …);
// clients may still name their connections.
var RedisACLRules = []string{
	"~*", "&*", "+@all", "-@admin", "-@dangerous",
	"+client|setname", "+client|getname", "+client|id",
}

// redisCreation is the creation statement the redis plugin expects: one JSON
// list of ACL rules.
func redisCreation() []string {
	b, _ := json.Marshal(RedisACLRules)
	return []string{string(b)}
}

// EnsureRedis converges the tenant's Redis connection and its app and
// worker roles. addr is host:port of the tenant's Redis as Vault reaches it.
// Vault connects as the ACL user Names.RedisAdminUser with the bootstrap
// password and rotates it at once on creation.
func (c *Client) EnsureRedis(ctx context.Context, n tenant.Names, addr string) (bool, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("vault: redis address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return false, fmt.Errorf("vault: redis address %q: bad port", addr)
	}
	roles := []roleSpec{
		{name: n.RedisRoleApp, connection: n.RedisConnection, creation: redisCreation()},
		{name: n.RedisRoleWorker, connection: n.RedisConnection, creation: redisCreation()},
	}
	spec := connectionSpec{
		name: n.RedisConnection,
		fields: []field{
			{key: "plugin_name", value: RedisPlugin},
			{key: "allowed_roles", value: []string{n.RedisRoleApp, n.RedisRoleWorker}, set: true},
			{key: "host", value: host},
			{key: "port", value: port},
			{key: "username", value: n.RedisAdminUser},
			{key: "tls", value: false},
		},
		username: n.RedisAdminUser,
		marker:   markerRedisRotated,
		password: func(b bootstrap) string { return b.redis },
	}
	changed, err := c.ensureConnection(ctx, n, spec)
	if err != nil {
		return changed, err
	}
	ch, err := c.ensureRoles(ctx, n, roles)
	return changed || ch, err
}
