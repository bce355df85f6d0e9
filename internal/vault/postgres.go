package vault

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

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
// owner and survive the revocation of the migrate user.
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
	}
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
// On creation it first bootstraps the database with the bootstrap password
// (owner and group roles, the tenant database and its privileges, see
// EnsureDatabase), then creates the connection as the superuser and rotates
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
			return EnsureDatabase(ctx, n, addr, postgresSSLMode, password)
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

// EnsureDatabase connects to the tenant's Postgres at addr as the superuser
// with password and idempotently creates the NOLOGIN owner and group roles,
// the tenant database owned by the owner role, and the privileges: the group
// may connect and use the public schema, and gets SELECT, INSERT, UPDATE and
// DELETE on every table (and sequence use) the owner creates there; nobody
// else may connect or create. tenantctl calls it once, before Vault rotates
// the superuser's password.
func EnsureDatabase(ctx context.Context, n tenant.Names, addr, sslMode, password string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("vault: postgres address %q: %w", addr, err)
	}
	connect := func(db string) (*pgx.Conn, error) {
		cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=%s connect_timeout=10",
			host, port, PostgresSuperuser, db, sslMode))
		if err != nil {
			return nil, fmt.Errorf("vault: postgres config: %w", err)
		}
		cfg.Password = password
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("vault: connect to postgres %s database %s: %s", addr, db, redacted(err.Error(), []string{password}))
		}
		return conn, nil
	}
	// exec sends stmts in one round trip (the simple protocol runs them as
	// one implicit transaction unless one of them cannot run in one).
	exec := func(conn *pgx.Conn, stmts ...string) error {
		if _, err := conn.Exec(ctx, strings.Join(stmts, ";\n")); err != nil {
			return fmt.Errorf("vault: bootstrap postgres database %s: %s", n.Database, redacted(err.Error(), []string{password}))
		}
		return nil
	}
	owner, group, db := pgx.Identifier{n.OwnerRole}.Sanitize(), pgx.Identifier{n.AppGroupRole}.Sanitize(), pgx.Identifier{n.Database}.Sanitize()

	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := connect("postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	roleSQL := func(role, quoted string) string {
		return fmt.Sprintf(`DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN CREATE ROLE %s NOLOGIN; END IF; END$$`, role, quoted)
	}
	if err := exec(conn, roleSQL(n.OwnerRole, owner), roleSQL(n.AppGroupRole, group)); err != nil {
		return err
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, n.Database).Scan(&exists); err != nil {
		return fmt.Errorf("vault: bootstrap postgres: look up database %s: %w", n.Database, err)
	}
	if !exists {
		// CREATE DATABASE cannot run inside a transaction: on its own.
		if err := exec(conn, "CREATE DATABASE "+db+" OWNER "+owner); err != nil {
			return err
		}
	}
	if err := exec(conn,
		"ALTER DATABASE "+db+" OWNER TO "+owner,
		"REVOKE ALL ON DATABASE "+db+" FROM PUBLIC",
		"GRANT CONNECT ON DATABASE "+db+" TO "+group,
	); err != nil {
		return err
	}
	tconn, err := connect(n.Database)
	if err != nil {
		return err
	}
	defer tconn.Close(context.Background())
	return exec(tconn,
		"ALTER SCHEMA public OWNER TO "+owner,
		"REVOKE ALL ON SCHEMA public FROM PUBLIC",
		"GRANT USAGE ON SCHEMA public TO "+group,
		"ALTER DEFAULT PRIVILEGES FOR ROLE "+owner+" IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "+group,
		"ALTER DEFAULT PRIVILEGES FOR ROLE "+owner+" IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO "+group,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "+group,
		"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO "+group,
	)
}
