package backup

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantctl/tenantctl/internal/migrate"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// Root is the directory holding every tenant's backups.
	Root string
	// Tenant is the tenant restored into: DatabaseURL and RedisURL reach
	// its database and Redis, and its role names (tenant.NamesFor) get the
	// privileges.
	Tenant tenant.ID
	// SourceTenant is the tenant the backup was taken from; empty means
	// Tenant. The backup's manifest must name it. A SourceTenant other
	// than Tenant restores a copy.
	SourceTenant tenant.ID
	// ID is the backup to restore.
	ID string
	// KnownSchemaVersion is the newest migration this tenantctl has: a
	// backup of a newer schema is refused, since its migrations could not
	// be checked or continued.
	KnownSchemaVersion int64
	// DatabaseURL reaches the tenant's database as a restore user: a member
	// of the owner role (tenant.Names.OwnerRole), with BYPASSRLS.
	DatabaseURL string
	// RedisURL, redis://user:password@host:port/0, reaches the tenant's
	// Redis as a user allowed RedisRestoreCommands.
	RedisURL string
	// PGBinDir holds pg_dump, pg_restore and psql; empty means PATH.
	PGBinDir string
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// RestoreResult summarises a restore.
type RestoreResult struct {
	ID            string `json:"id"`
	SourceTenant  string `json:"source_tenant"`
	Tenant        string `json:"tenant"`
	SchemaVersion int64  `json:"schema_version"`
	// Rows is the number of table rows restored (all tables).
	Rows int64 `json:"rows"`
	// RedisKeys is the number of Redis keys restored.
	RedisKeys  int64 `json:"redis_keys"`
	DurationMS int64 `json:"duration_ms"`
}

// NotFoundError is a backup id with no complete backup of the tenant.
type NotFoundError struct {
	Tenant, ID string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("backup: no complete backup %s of tenant %s", e.ID, e.Tenant)
}

// TenantError is a backup of another tenant than the one expected.
type TenantError struct {
	ID, Want, Got string
}

func (e *TenantError) Error() string {
	return fmt.Sprintf("backup: backup %s is a backup of tenant %q, not of %q", e.ID, e.Got, e.Want)
}

// SchemaError is a backup of a newer schema than this tenantctl knows.
type SchemaError struct {
	ID           string
	Backup, Know int64
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("backup: backup %s has schema version %d; this tenantctl knows migrations up to %d", e.ID, e.Backup, e.Know)
}

// PartialRestoreError is a restore that replaced the database but failed on
// Redis.
type PartialRestoreError struct{ Err error }

func (e *PartialRestoreError) Error() string {
	return "backup: the database was restored, Redis was not (it may be empty or partly restored): " + e.Err.Error()
}
func (e *PartialRestoreError) Unwrap() error { return e.Err }

// Verify reads the manifest of backup id of tenant source under root and
// checks it is a complete backup of that tenant, in a known format, of a
// schema no newer than knownSchema, whose files match their checksums and
// whose Redis snapshot is well formed. It returns the manifest and the
// backup's directory.
func Verify(root string, source tenant.ID, id string, knownSchema int64) (*Manifest, string, error) {
	dir, err := backupDir(root, source, id)
	if err != nil {
		return nil, "", err
	}
	m, err := readManifest(dir)
	if isNotExist(err) {
		return nil, "", &NotFoundError{Tenant: string(source), ID: id}
	}
	if err != nil {
		return nil, "", fmt.Errorf("backup: %w", err)
	}
	if m.Tenant != string(source) {
		return nil, "", &TenantError{ID: id, Want: string(source), Got: m.Tenant}
	}
	if m.SchemaVersion > knownSchema {
		return nil, "", &SchemaError{ID: id, Backup: m.SchemaVersion, Know: knownSchema}
	}
	if err := verifyFiles(dir, m); err != nil {
		return nil, "", err
	}
	if err := checkSnapshot(filepath.Join(dir, RedisFile)); err != nil {
		return nil, "", fmt.Errorf("backup: %s: %w", RedisFile, err)
	}
	return m, dir, nil
}

// Restore verifies backup o.ID of o.SourceTenant (Verify) and restores it
// into tenant o.Tenant: first the database, in one transaction (the public
// schema is dropped and recreated from the dump, its privileges set again
// with migrate.SchemaPrivileges, every table's row count checked against the
// manifest; any error rolls all of it back), then Redis (FLUSHDB, then
// RESTORE of every key). A refusal or a failure before the database commits
// changes nothing; a Redis failure after it returns *PartialRestoreError.
func Restore(ctx context.Context, o RestoreOptions) (*RestoreResult, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	start := o.Now()
	if o.SourceTenant == "" {
		o.SourceTenant = o.Tenant
	}
	if _, err := tenant.ParseID(string(o.Tenant)); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if o.ID == "" {
		return nil, &ConfigError{Option: "ID", Err: fmt.Errorf("no backup id to restore")}
	}
	m, dir, err := Verify(o.Root, o.SourceTenant, o.ID, o.KnownSchemaVersion)
	if err != nil {
		return nil, err
	}
	log := o.Logger.With(logTenant, string(o.Tenant), logID, o.ID)
	pg, err := parsePG(o.DatabaseURL)
	if err != nil {
		return nil, err
	}
	for _, tool := range []string{"pg_restore", "psql"} {
		if _, err := (pgTools{o.PGBinDir}).path(tool); err != nil {
			return nil, err
		}
	}
	// Reach both before anything changes, so an unreachable Redis stops
	// the restore while nothing has changed.
	if err := reach(ctx, pg, o.RedisURL, "tenantctl-restore"); err != nil {
		return nil, err
	}

	n := tenant.NamesFor(o.Tenant)
	// A tenant prepared before backups existed may lack the backup group
	// role: restore without its grants rather than fail.
	backupRole, err := existingRole(ctx, pg, n.DBBackupRole)
	if err != nil {
		return nil, err
	}
	if backupRole == "" {
		log.Warn("the backup group role does not exist; restoring without its grants", "role", n.DBBackupRole)
	}
	log.Info("restoring postgres")
	if err := pg.restore(ctx, pgTools{o.PGBinDir}, filepath.Join(dir, PostgresFile),
		restorePrelude(n), restorePostlude(n, backupRole, m.Postgres.Rows)); err != nil {
		if strings.Contains(err.Error(), "row-level security") || strings.Contains(err.Error(), "permission denied") ||
			strings.Contains(err.Error(), "must be member of role") || strings.Contains(err.Error(), "must be owner") {
			return nil, &PrivilegeError{Err: fmt.Errorf("backup: restore postgres: %w", err),
				hint: fmt.Sprintf("the restore user must be a member of %s (the owner role) with BYPASSRLS; see docs/backups.md", n.OwnerRole)}
		}
		return nil, fmt.Errorf("backup: restore postgres: %w", err)
	}
	log.Info("restored postgres", logRows, total(m.Postgres.Rows))
	log.Info("restoring redis")
	keys, err := restoreRedis(ctx, o.RedisURL, filepath.Join(dir, RedisFile), m.Redis)
	if err != nil {
		return nil, &PartialRestoreError{Err: err}
	}
	log.Info("restored redis", logKeys, keys)
	return &RestoreResult{
		ID:            m.ID,
		SourceTenant:  m.Tenant,
		Tenant:        string(o.Tenant),
		SchemaVersion: m.SchemaVersion,
		Rows:          total(m.Postgres.Rows),
		RedisKeys:     keys,
		DurationMS:    o.Now().Sub(start).Milliseconds(),
	}, nil
}

// restoreSchema is the one schema a tenant database holds its objects in,
// and the one a restore replaces.
const restoreSchema = "public"

// restorePrelude runs before the dump's SQL: the session acts as the owner
// role, so it owns what the dump creates, and the public schema starts
// empty (objects of migrations newer than the backup go too, so the
// migrations can be applied again afterwards).
func restorePrelude(n tenant.Names) []string {
	s := pgx.Identifier{restoreSchema}.Sanitize()
	owner := pgx.Identifier{n.OwnerRole}.Sanitize()
	return []string{
		"SET client_min_messages = warning",
		// The app and worker are stopped; a session still holding a lock
		// on a table fails the restore (nothing changed) instead of
		// stalling it.
		"SET lock_timeout = '1min'",
		"SET ROLE " + owner,
		"DROP SCHEMA IF EXISTS " + s + " CASCADE",
		"CREATE SCHEMA " + s + " AUTHORIZATION " + owner,
	}
}

// restorePostlude runs after the dump's SQL, still in its transaction: the
// privileges of the tenant's roles on the new schema (backupRole's too
// unless empty), then, as the login user (which has BYPASSRLS), a check
// that every table has the rows the manifest counted.
func restorePostlude(n tenant.Names, backupRole string, rows map[string]int64) []string {
	out := append([]string{}, migrate.SchemaPrivileges(restoreSchema, n.OwnerRole, n.AppGroupRole, backupRole)...)
	out = append(out, "SET ROLE NONE", "SET row_security = off")
	names := make([]string, 0, len(rows))
	for t := range rows {
		names = append(names, t)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("DO $tenantctl$DECLARE n bigint; BEGIN\n")
	for _, t := range names {
		schema, table, _ := strings.Cut(t, ".")
		ident := pgx.Identifier{schema, table}.Sanitize()
		fmt.Fprintf(&b, "SELECT count(*) INTO n FROM %s; IF n <> %d THEN RAISE EXCEPTION 'restore check: %% has %% rows; the backup has %d', %s, n; END IF;\n",
			ident, rows[t], rows[t], quoteLiteral(t))
	}
	b.WriteString("END$tenantctl$")
	return append(out, b.String())
}

// quoteLiteral quotes s as a SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// reach logs into Postgres and Redis once, to fail early and clearly when
// either is unreachable or refuses the credentials.
func reach(ctx context.Context, pg *pgConn, redisURL, appName string) error {
	rc, err := redisClient(redisURL)
	if err != nil {
		return err
	}
	perr := rc.Do(ctx, "PING").Err()
	rc.Close()
	if perr != nil {
		return &ConnectError{Err: redisError("ping", perr, redisURL)}
	}
	conn, err := connectPG(ctx, pg, appName)
	if err != nil {
		return err
	}
	return conn.Close(context.Background())
}

// existingRole returns role when it exists in pg's cluster, else "".
func existingRole(ctx context.Context, pg *pgConn, role string) (string, error) {
	conn, err := connectPG(ctx, pg, "tenantctl-restore")
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
		return "", pgError("postgres: look up role "+role, err, pg)
	}
	if !exists {
		return "", nil
	}
	return role, nil
}
