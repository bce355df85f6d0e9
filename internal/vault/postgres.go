package vault

import (
	"context"
	"fmt"
	"net"
	"net/url"

	"github.com/tenantctl/tenantctl/internal/migrate"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// PostgresPlugin is the database secrets engine plugin for Postgres.
const PostgresPlugin = "postgresql-database-plugin"

// postgresSSLMode is the libpq sslmode of connections to tenant databases,
// from Vault and for the one-time database bootstrap: the tenant's Postgres
// listens inside the cluster network.
const postgresSSLMode = "disable"

// postgresRevocation drops a dynamic user without ever failing on objects it
// owns: they go to the owner role first. Vault runs these in the tenant
// database, the only one a tenant user can own objects in.
func postgresRevocation(n tenant.Names) []string {
	return []string{
		`REASSIGN OWNED BY "{{name}}" TO ` + n.OwnerRole,
		`DROP OWNED BY "{{name}}"`,
		`DROP ROLE IF EXISTS "{{name}}"`,
	}
}

// postgresRoles returns the tenant's Postgres roles: app and worker are
// members of the NOLOGIN group role that holds data access (DML) to the
// tenant schema; migrate is a member of the NOLOGIN owner role and every
// session of it runs as the owner, so the objects it creates belong to the
// owner and survive the revocation of the migrate user. The backup jobs'
// users are members of the read-only backup group role and bypass row-level
// security (a dump must see every row; never the superuser, never the
// owner); restore's run as the owner, like migrate's, and bypass row-level
// security so the restored rows are all written back.
func postgresRoles(n tenant.Names) []roleSpec {
	member := func(group string) []string {
		return []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE ` + group}
	}
	return []roleSpec{
		{name: n.DBRoleApp, connection: n.DBConnection, creation: member(n.AppGroupRole), revocation: postgresRevocation(n)},
		{name: n.DBRoleWorker, connection: n.DBConnection, creation: member(n.AppGroupRole), revocation: postgresRevocation(n)},
		{name: n.DBRoleMigrate, connection: n.DBConnection,
			creation:   append(member(n.OwnerRole), `ALTER ROLE "{{name}}" SET role = '`+n.OwnerRole+`'`),
			revocation: postgresRevocation(n)},
		{name: n.DBRoleBackup, connection: n.DBConnection, creation: backupCreation(n), revocation: postgresRevocation(n)},
		{name: n.DBRoleScheduledBackup, connection: n.DBConnection, creation: backupCreation(n), revocation: postgresRevocation(n)},
		{name: n.DBRoleRestore, connection: n.DBConnection,
			creation:   append(bypassRLS(n.OwnerRole), `ALTER ROLE "{{name}}" SET role = '`+n.OwnerRole+`'`),
			revocation: postgresRevocation(n)},
	}
}

// backupCreation creates a backup user: first, idempotently, the backup
// group role with its privileges (migrate.BackupRoleStatements; a tenant
// database prepared before backups existed lacks it), then the user as a
// BYPASSRLS member of it.
func backupCreation(n tenant.Names) []string {
	return append(migrate.BackupRoleStatements(migrate.Database{Name: n.Database, OwnerRole: n.OwnerRole,
		AppRole: n.AppGroupRole, BackupRole: n.DBBackupRole}), bypassRLS(n.DBBackupRole)...)
}

// bypassRLS is the creation of a dynamic user that is a member of group and
// bypasses row-level security.
func bypassRLS(group string) []string {
	return []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' BYPASSRLS IN ROLE ` + group}
}

// postgresURL is the connection URL Vault uses, with Vault's templating for
// the credentials.
func (c *Client) postgresURL(n tenant.Names, addr string) string {
	return fmt.Sprintf("postgresql://{{username}}:{{password}}@%s/%s?sslmode=%s", addr, n.Database, url.QueryEscape(postgresSSLMode))
}

// asReadBack is how Vault answers a connection URL: redacted when it parses.
func asReadBack(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return raw
}

// EnsurePostgres converges the tenant's Postgres connection and its app,
// worker and migrate roles. addr is host:port of the tenant's Postgres as
// both Vault and tenantctl reach it.
//
// On creation it first prepares the database with the bootstrap password
// (owner and group roles, the tenant database and its privileges:
// migrate.PrepareDatabase, the one owner of the tenant database's roles and
// grants), then creates the connection as the superuser and rotates
// its root password at once, so only Vault knows it. A converged tenant
// costs reads only.
func (c *Client) EnsurePostgres(ctx context.Context, n tenant.Names, addr string) (bool, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return false, fmt.Errorf("vault: postgres address %q: %w", addr, err)
	}
	roles := postgresRoles(n)
	allowed := make([]string, 0, len(roles))
	for _, r := range roles {
		allowed = append(allowed, r.name)
	}
	connURL := c.postgresURL(n, addr)
	spec := connectionSpec{
		name: n.DBConnection,
		fields: []field{
			{key: "plugin_name", value: PostgresPlugin},
			{key: "allowed_roles", value: allowed, set: true},
			{key: "connection_url", value: connURL, readBack: asReadBack(connURL)},
			{key: "username", value: PostgresSuperuser},
		},
		username: PostgresSuperuser,
		marker:   markerPostgresRotated,
		prepare: func(ctx context.Context, password string) error {
			return migrate.PrepareDatabase(ctx, migrate.Database{Addr: addr, SSLMode: postgresSSLMode,
				Name: n.Database, OwnerRole: n.OwnerRole, AppRole: n.AppGroupRole, BackupRole: n.DBBackupRole}, PostgresSuperuser, password)
		},
		password: func(b bootstrap) string { return b.postgres },
	}
	changed, err := c.ensureConnection(ctx, n, spec)
	if err != nil {
		return changed, err
	}
	ch, err := c.ensureRoles(ctx, n, roles)
	return changed || ch, err
}
