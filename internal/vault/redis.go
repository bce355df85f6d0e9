package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/tenantctl/tenantctl/internal/backup"
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

// redisOnly returns ACL rules allowing exactly cmds on every key.
func redisOnly(cmds []string) []string {
	rules := []string{"~*", "-@all"}
	for _, c := range cmds {
		rules = append(rules, "+"+strings.ToLower(c))
	}
	return rules
}

// redisCreation is the creation statement the redis plugin expects: one JSON
// list of ACL rules.
func redisCreation(rules []string) []string {
	b, _ := json.Marshal(rules)
	return []string{string(b)}
}

// redisRoles returns the tenant's Redis credential roles: app and worker
// with RedisACLRules; the backup jobs with exactly their commands.
func redisRoles(n tenant.Names) []roleSpec {
	role := func(name string, rules []string) roleSpec {
		return roleSpec{name: name, connection: n.RedisConnection, creation: redisCreation(rules)}
	}
	return []roleSpec{
		role(n.RedisRoleApp, RedisACLRules),
		role(n.RedisRoleWorker, RedisACLRules),
		// The backup jobs' users may run exactly the commands the runner
		// sends (internal/backup owns the lists), on every key.
		role(n.RedisRoleBackup, redisOnly(backup.RedisBackupCommands)),
		role(n.RedisRoleRestore, redisOnly(backup.RedisRestoreCommands)),
		role(n.RedisRoleScheduledBackup, redisOnly(backup.RedisBackupCommands)),
	}
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
	roles := redisRoles(n)
	allowed := make([]string, 0, len(roles))
	for _, r := range roles {
		allowed = append(allowed, r.name)
	}
	spec := connectionSpec{
		name: n.RedisConnection,
		fields: []field{
			{key: "plugin_name", value: RedisPlugin},
			{key: "allowed_roles", value: allowed, set: true},
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
