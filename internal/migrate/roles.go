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
// grant the app role exactly appPrivileges.

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
}

// startingUp reports whether err is Postgres refusing a connection because
// it is still starting (SQLSTATE 57P03).
func startingUp(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "57P03"
}

// PrepareDatabase connects to db's Postgres as superuser with password and
// idempotently creates the NOLOGIN owner and app roles, the database owned by
// the owner, and the privileges: the app role may connect and use the public
// schema, and gets appPrivileges there; nobody else may connect or create.
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
	if err := exec(conn, roleSQL(db.OwnerRole, owner), roleSQL(db.AppRole, app)); err != nil {
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
		"GRANT CONNECT ON DATABASE "+name+" TO "+app,
	); err != nil {
		return err
	}
	tconn, err := connect(db.Name)
	if err != nil {
		return err
	}
	defer tconn.Close(context.Background())
	return exec(tconn, append([]string{
		"ALTER SCHEMA public OWNER TO " + owner,
		"REVOKE ALL ON SCHEMA public FROM PUBLIC",
		"GRANT USAGE ON SCHEMA public TO " + app,
	}, appPrivileges("public", db.OwnerRole, db.AppRole)...)...)
}

// redact replaces password in s.
func redact(s, password string) string {
	if len(password) >= 4 {
		s = strings.ReplaceAll(s, password, "[redacted]")
	}
	return s
}
