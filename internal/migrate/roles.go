package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// This file is the one owner of a tenant database's roles and privileges:
// PrepareDatabase creates the roles, the database and its privileges before
// Vault's connection exists, and the runner re-grants after every run; both
// grant the app role exactly appPrivileges. A restore recreates the schema and
// gives it SchemaPrivileges, the same statements PrepareDatabase runs.

var roleNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// ValidateRoleName checks that name is a plain PostgreSQL role name:
// lowercase letters, digits and underscores, not starting with a digit, at
// most 63 bytes. tenant.NamesFor produces such names.
func ValidateRoleName(name string) error {
	if !roleNameRE.MatchString(name) {
		return fmt.Errorf("invalid role name %q: want [a-z_][a-z0-9_]*, at most 63 characters", name)
	}
	return nil
}

// appPrivileges are the statements that give role app data access (DML) to
// the tables and the use of the sequences of schema: those there now and,
// through owner's default privileges, those owner creates later; and no
// access to the version table, when it exists. Owner empty means the role
// that runs the statements. Every statement is idempotent.
func appPrivileges(schema, owner, app string) []string {
	s, a := pgx.Identifier{schema}.Sanitize(), pgx.Identifier{app}.Sanitize()
	forRole := ""
	if owner != "" {
		forRole = " FOR ROLE " + pgx.Identifier{owner}.Sanitize()
	}
	version := pgx.Identifier{schema, VersionTable}.Sanitize()
	return []string{
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA " + s + " TO " + a,
		"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA " + s + " TO " + a,
		"ALTER DEFAULT PRIVILEGES" + forRole + " IN SCHEMA " + s + " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO " + a,
		"ALTER DEFAULT PRIVILEGES" + forRole + " IN SCHEMA " + s + " GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO " + a,
		// The version table is the runner's: GRANT … ON ALL TABLES reached it.
		fmt.Sprintf("DO $$BEGIN IF to_regclass(%s) IS NOT NULL THEN REVOKE ALL ON %s FROM %s; END IF; END$$",
			quoteLiteral(version), version, a),
	}
}

// backupPrivileges are the statements that give role backup read access to
// schema: SELECT on every table (the version table included: a dump holds
// it) and sequence there now and, through owner's default privileges, those
// owner creates later. Nothing else: no DML, no CREATE. Reading the rows of
// tables under FORCE ROW LEVEL SECURITY also takes BYPASSRLS, a role
// attribute that is not inherited from a group: the login roles Vault creates
// for backups carry it themselves (see docs/backups.md).
func backupPrivileges(schema, owner, backup string) []string {
	s, b := pgx.Identifier{schema}.Sanitize(), pgx.Identifier{backup}.Sanitize()
	forRole := ""
	if owner != "" {
		forRole = " FOR ROLE " + pgx.Identifier{owner}.Sanitize()
	}
	return []string{
		"GRANT SELECT ON ALL TABLES IN SCHEMA " + s + " TO " + b,
		"GRANT SELECT ON ALL SEQUENCES IN SCHEMA " + s + " TO " + b,
		"ALTER DEFAULT PRIVILEGES" + forRole + " IN SCHEMA " + s + " GRANT SELECT ON TABLES TO " + b,
		"ALTER DEFAULT PRIVILEGES" + forRole + " IN SCHEMA " + s + " GRANT SELECT ON SEQUENCES TO " + b,
	}
}

// SchemaPrivileges returns the statements that set the privileges of a
// tenant schema owned by owner: nobody but the owner may create in it; the
// app role may use it and gets appPrivileges; the backup role, when not
// empty, may use it and gets backupPrivileges. Every statement is
// idempotent and qualifies its names, so it runs under any search_path, as
// the owner or a superuser. PrepareDatabase runs them, and so does a restore
// after it has recreated the schema.
func SchemaPrivileges(schema, owner, app, backup string) []string {
	s := pgx.Identifier{schema}.Sanitize()
	out := []string{
		"REVOKE ALL ON SCHEMA " + s + " FROM PUBLIC",
		"GRANT USAGE ON SCHEMA " + s + " TO " + pgx.Identifier{app}.Sanitize(),
	}
	out = append(out, appPrivileges(schema, owner, app)...)
	if backup != "" {
		out = append(out, "GRANT USAGE ON SCHEMA "+s+" TO "+pgx.Identifier{backup}.Sanitize())
		out = append(out, backupPrivileges(schema, owner, backup)...)
	}
	return out
}

// BackupRoleStatements returns idempotent statements that give an existing
// tenant database db its backup group role db.BackupRole as PrepareDatabase
// would have: the NOLOGIN role if missing, CONNECT on the database, USAGE on
// the public schema and backupPrivileges. A superuser runs them in db; they
// fit in one transaction, so they can lead the creation statements of the
// Vault role that issues backup users, which converges tenants prepared
// before the backup role existed.
func BackupRoleStatements(db Database) []string {
	if db.BackupRole == "" {
		return nil
	}
	b := pgx.Identifier{db.BackupRole}.Sanitize()
	return append([]string{
		fmt.Sprintf(`DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = %s) THEN CREATE ROLE %s NOLOGIN; END IF; END$$`,
			quoteLiteral(db.BackupRole), b),
		"GRANT CONNECT ON DATABASE " + pgx.Identifier{db.Name}.Sanitize() + " TO " + b,
		"GRANT USAGE ON SCHEMA public TO " + b,
	}, backupPrivileges("public", db.OwnerRole, db.BackupRole)...)
}

// quoteLiteral quotes s as a SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// grant gives the app role its privileges (appPrivileges) in the current
// schema, in one transaction.
func (r *Runner) grant(ctx context.Context, conn *sql.Conn) error {
	if r.opts.AppRole == "" {
		return nil
	}
	var schema string
	if err := conn.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("migrate: grant: current schema: %w", err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: grant: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, q := range appPrivileges(schema, r.opts.OwnerRole, r.opts.AppRole) {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("migrate: grant to %s: %s: %w", r.opts.AppRole, q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: grant to %s: %w", r.opts.AppRole, err)
	}
	return nil
}

// Database is a tenant database as PrepareDatabase makes it.
type Database struct {
	// Addr is host:port of the tenant's Postgres.
	Addr string
	// SSLMode is the libpq sslmode of the connection.
	SSLMode string
	// Name is the database; OwnerRole owns it and the schema objects,
	// AppRole gets data access (tenant.Names: Database, OwnerRole,
	// AppGroupRole).
	Name, OwnerRole, AppRole string
	// BackupRole, when set, is the NOLOGIN group role of backup users
	// (tenant.Names.DBBackupRole): it may connect and read every table and
	// sequence (backupPrivileges), nothing more.
	BackupRole string
}

// startingUp reports whether err is Postgres refusing a connection because
// it is still starting (SQLSTATE 57P03).
func startingUp(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "57P03"
}

// PrepareDatabase connects to db's Postgres as superuser with password and
// idempotently creates the NOLOGIN owner, app and (when set) backup roles,
// the database owned by the owner, and the privileges: the app role may
// connect and use the public schema, and gets appPrivileges there; the backup
// role may connect and gets backupPrivileges; nobody else may connect or
// create (SchemaPrivileges).
// tenantctl calls it once per Vault connection, before Vault rotates the
// superuser's password (the Vault adapter's EnsurePostgres). Errors never
// show the password.
func PrepareDatabase(ctx context.Context, db Database, superuser, password string) error {
	host, port, err := net.SplitHostPort(db.Addr)
	if err != nil {
		return fmt.Errorf("migrate: postgres address %q: %w", db.Addr, err)
	}
	connect := func(name string) (*pgx.Conn, error) {
		cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=%s connect_timeout=10",
			host, port, superuser, name, db.SSLMode))
		if err != nil {
			return nil, fmt.Errorf("migrate: postgres config: %w", err)
		}
		cfg.Password = password
		conn, err := pgx.ConnectConfig(ctx, cfg)
		// A Postgres that has just opened its port may still be starting up
		// (SQLSTATE 57P03, cannot_connect_now): it will accept us shortly.
		for try := 0; err != nil && startingUp(err) && try < 60 && ctx.Err() == nil; try++ {
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			conn, err = pgx.ConnectConfig(ctx, cfg)
		}
		if err != nil {
			return nil, fmt.Errorf("migrate: connect to postgres %s database %s: %s", db.Addr, name, redact(err.Error(), password))
		}
		return conn, nil
	}
	// exec sends stmts in one round trip (the simple protocol runs them as
	// one implicit transaction unless one of them cannot run in one).
	exec := func(conn *pgx.Conn, stmts ...string) error {
		if _, err := conn.Exec(ctx, strings.Join(stmts, ";\n")); err != nil {
			return fmt.Errorf("migrate: prepare database %s: %s", db.Name, redact(err.Error(), password))
		}
		return nil
	}
	owner, app, name := pgx.Identifier{db.OwnerRole}.Sanitize(), pgx.Identifier{db.AppRole}.Sanitize(), pgx.Identifier{db.Name}.Sanitize()

	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := connect("postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	roleSQL := func(role, quoted string) string {
		return fmt.Sprintf(`DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = %s) THEN CREATE ROLE %s NOLOGIN; END IF; END$$`,
			quoteLiteral(role), quoted)
	}
	roles := []string{roleSQL(db.OwnerRole, owner), roleSQL(db.AppRole, app)}
	connectTo := []string{app}
	if db.BackupRole != "" {
		backup := pgx.Identifier{db.BackupRole}.Sanitize()
		roles = append(roles, roleSQL(db.BackupRole, backup))
		connectTo = append(connectTo, backup)
	}
	if err := exec(conn, roles...); err != nil {
		return err
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, db.Name).Scan(&exists); err != nil {
		return fmt.Errorf("migrate: prepare database: look up database %s: %w", db.Name, err)
	}
	if !exists {
		// CREATE DATABASE cannot run inside a transaction: on its own.
		if err := exec(conn, "CREATE DATABASE "+name+" OWNER "+owner); err != nil {
			return err
		}
	}
	if err := exec(conn,
		"ALTER DATABASE "+name+" OWNER TO "+owner,
		"REVOKE ALL ON DATABASE "+name+" FROM PUBLIC",
		"GRANT CONNECT ON DATABASE "+name+" TO "+strings.Join(connectTo, ", "),
	); err != nil {
		return err
	}
	tconn, err := connect(db.Name)
	if err != nil {
		return err
	}
	defer tconn.Close(context.Background())
	return exec(tconn, append([]string{"ALTER SCHEMA public OWNER TO " + owner},
		SchemaPrivileges("public", db.OwnerRole, db.AppRole, db.BackupRole)...)...)
}

// redact replaces password in s.
func redact(s, password string) string {
	if len(password) >= 4 {
		s = strings.ReplaceAll(s, password, "[redacted]")
	}
	return s
}
