package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
)

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

// grant gives the app role access to the schema's tables and sequences, now
// and (through default privileges of the role that runs the migrations) for
// those created later, and no access to the version table. Every statement is
// idempotent.
func (r *Runner) grant(ctx context.Context, conn *sql.Conn) error {
	if r.opts.AppRole == "" {
		return nil
	}
	app := pgx.Identifier{r.opts.AppRole}.Sanitize()
	var schema string
	if err := conn.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("migrate: grant: current schema: %w", err)
	}
	s := pgx.Identifier{schema}.Sanitize()
	forRole := ""
	if r.opts.OwnerRole != "" {
		forRole = " FOR ROLE " + pgx.Identifier{r.opts.OwnerRole}.Sanitize()
	}
	stmts := []string{
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA " + s + " TO " + app,
		"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA " + s + " TO " + app,
		"REVOKE ALL ON " + s + "." + VersionTable + " FROM " + app,
		"ALTER DEFAULT PRIVILEGES" + forRole + " IN SCHEMA " + s + " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO " + app,
		"ALTER DEFAULT PRIVILEGES" + forRole + " IN SCHEMA " + s + " GRANT USAGE, SELECT ON SEQUENCES TO " + app,
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: grant: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("migrate: grant to %s: %s: %w", r.opts.AppRole, q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: grant to %s: %w", r.opts.AppRole, err)
	}
	return nil
}
