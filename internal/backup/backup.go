// Package backup takes and restores a tenant's backups: a consistent
// PostgreSQL dump (pg_dump's custom format) and a logical Redis snapshot,
// with a manifest of sizes, checksums and the schema version. It is the
// runner inside the tenant's backup and restore batch jobs (`tenantctl db
// backup`, `tenantctl db restore`); the CLI's backup and restore commands
// dispatch those jobs.
//
// A backup lives in <root>/<tenant>/<backup-id>/ (store.go), written in a
// hidden directory beside it and renamed once complete, so a partial backup
// never looks like one. Restore verifies the manifest and the files before it
// changes anything, then replaces the database's schema in one transaction
// and Redis's keys. Neither ever writes or prints a secret: passwords reach
// the Postgres client programs through their environment, and every message
// from them or from a driver is scrubbed.
//
// The package has no state of its own; every function takes what it needs.
package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantctl/tenantctl/internal/migrate"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/version"
)

// Attribute names of the log records.
const (
	logTenant = "tenant"
	logID     = "backup_id"
	logBytes  = "bytes"
	logKeys   = "keys"
	logRows   = "rows"
)

// ConfigError is a setting a user must fix: Option names the field of
// Options or RestoreOptions that holds it (DatabaseURL, RedisURL, PGBinDir,
// Keep, ID); a front end words the remedy in its own terms.
type ConfigError struct {
	Option string
	Err    error
}

func (e *ConfigError) Error() string { return "backup: " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Options configure Backup.
type Options struct {
	// Root is the directory holding every tenant's backups.
	Root string
	// Tenant is the tenant whose data DatabaseURL and RedisURL reach.
	Tenant tenant.ID
	// ID is the new backup's id; empty means NewID.
	ID string
	// Keep is how many of the tenant's newest complete backups to keep
	// after this one; 0 keeps all.
	Keep int
	// DatabaseURL reaches the tenant's database as a backup user (member
	// of the backup group role, with BYPASSRLS).
	DatabaseURL string
	// RedisURL, redis://user:password@host:port/0, reaches the tenant's
	// Redis as a user allowed RedisBackupCommands.
	RedisURL string
	// PGBinDir holds pg_dump, pg_restore and psql; empty means PATH.
	PGBinDir string
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// ExistsError is a backup id that is taken already.
type ExistsError struct{ ID string }

func (e *ExistsError) Error() string { return fmt.Sprintf("backup: backup %s exists already", e.ID) }

// PrivilegeError is a database user that lacks a privilege the backup or
// restore needs.
type PrivilegeError struct {
	Err  error
	hint string
}

func (e *PrivilegeError) Error() string { return e.Err.Error() }
func (e *PrivilegeError) Unwrap() error { return e.Err }

// Hint is the remedy.
func (e *PrivilegeError) Hint() string { return e.hint }

// PruneError is a backup that completed, followed by a retention run that
// failed.
type PruneError struct{ Err error }

func (e *PruneError) Error() string {
	return "backup: the backup is complete, but deleting old backups failed: " + e.Err.Error()
}
func (e *PruneError) Unwrap() error { return e.Err }

// Backup takes a backup of tenant o.Tenant into o.Root and applies the
// retention o.Keep. It returns the manifest of the new backup; with a
// *PruneError it still returns it (the backup is complete). Nothing appears
// under the backup's id unless everything was written and synced.
func Backup(ctx context.Context, o Options) (*Manifest, error) {
	o.defaults()
	start := o.Now()
	if o.Keep < 0 {
		return nil, &ConfigError{Option: "Keep", Err: fmt.Errorf("keep %d: want 0 (keep all) or more", o.Keep)}
	}
	if o.ID == "" {
		id, err := NewID(start)
		if err != nil {
			return nil, err
		}
		o.ID = id
	}
	final, err := backupDir(o.Root, o.Tenant, o.ID)
	if err != nil {
		return nil, err
	}
	pg, err := parsePG(o.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if _, err := redisClient(o.RedisURL); err != nil {
		return nil, err
	}
	if _, err := (pgTools{o.PGBinDir}).path("pg_dump"); err != nil {
		return nil, err
	}
	if err := reach(ctx, pg, o.RedisURL, "tenantctl-backup"); err != nil {
		return nil, err
	}
	log := o.Logger.With(logTenant, string(o.Tenant), logID, o.ID)
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if _, err := os.Lstat(final); err == nil {
		return nil, &ExistsError{ID: o.ID}
	}
	tmp := filepath.Join(dir, partialPrefix+o.ID+"-"+randomSuffix())
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = os.RemoveAll(tmp)
		}
	}()

	log.Info("dumping postgres")
	pgInfo, schema, err := dumpPostgres(ctx, pg, pgTools{o.PGBinDir}, filepath.Join(tmp, PostgresFile))
	var pe *PrivilegeError
	if errors.As(err, &pe) {
		pe.hint = fmt.Sprintf("the backup user needs BYPASSRLS and membership in %s, the role with SELECT on every table; see docs/backups.md",
			tenant.NamesFor(o.Tenant).DBBackupRole)
	}
	if err != nil {
		return nil, err
	}
	log.Info("dumped postgres", logRows, total(pgInfo.Rows))
	log.Info("snapshotting redis")
	redisInfo, err := snapshotRedis(ctx, o.RedisURL, filepath.Join(tmp, RedisFile))
	if err != nil {
		return nil, prefixed(err)
	}
	log.Info("snapshotted redis", logKeys, redisInfo.Keys)

	m := &Manifest{
		Format:           FormatVersion,
		ID:               o.ID,
		Tenant:           string(o.Tenant),
		Created:          start.UTC().Truncate(time.Millisecond),
		SchemaVersion:    schema,
		TenantctlVersion: version.Version,
		Postgres:         pgInfo,
		Redis:            redisInfo,
	}
	for _, name := range []string{PostgresFile, RedisFile} {
		size, sum, err := hashFile(filepath.Join(tmp, name))
		if err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		m.Files = append(m.Files, File{Name: name, Size: size, SHA256: sum})
	}
	m.DurationMS = o.Now().Sub(start).Milliseconds()
	if err := commit(tmp, final, m); err != nil {
		return nil, fmt.Errorf("backup: complete %s: %w", o.ID, err)
	}
	committed = true
	log.Info("backup complete", logBytes, m.Size())

	pruned, err := Prune(o.Root, o.Tenant, o.Keep)
	for _, id := range pruned {
		log.Info("deleted an old backup (retention)", "deleted", id)
	}
	if err != nil {
		return m, &PruneError{Err: err}
	}
	return m, nil
}

func total(rows map[string]int64) int64 {
	var n int64
	for _, c := range rows {
		n += c
	}
	return n
}

// dumpPostgres dumps the database into path from one snapshot, whose schema
// version and row counts it returns too: a repeatable-read transaction
// exports its snapshot, reads them, and pg_dump dumps that same snapshot.
func dumpPostgres(ctx context.Context, pg *pgConn, tools pgTools, path string) (PostgresInfo, int64, error) {
	info := PostgresInfo{Rows: map[string]int64{}}
	conn, err := connectPG(ctx, pg, "tenantctl-backup")
	if err != nil {
		return info, 0, err
	}
	defer conn.Close(context.Background())
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return info, 0, pgError("postgres: begin", err, pg)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // read only
	var snapshot string
	if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot(), current_setting('server_version_num')::int`).
		Scan(&snapshot, &info.ServerVersion); err != nil {
		return info, 0, pgError("postgres: export snapshot", err, pg)
	}
	schema, err := schemaVersion(ctx, tx)
	if err != nil {
		return info, 0, pgError("postgres: schema version", err, pg)
	}
	// row_security off: a user without BYPASSRLS gets an error here, where
	// it would otherwise count (and pg_dump would dump) nothing.
	if _, err := tx.Exec(ctx, `SET LOCAL row_security = off`); err != nil {
		return info, 0, pgError("postgres", err, pg)
	}
	tables, err := userTables(ctx, tx)
	if err != nil {
		return info, 0, pgError("postgres: list tables", err, pg)
	}
	for _, t := range tables {
		var n int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{t.schema, t.name}.Sanitize()).Scan(&n); err != nil {
			return info, 0, pgError("postgres: count rows of "+t.String(), err, pg)
		}
		info.Rows[t.String()] = n
	}
	if err := pg.dump(ctx, tools, snapshot, path); err != nil {
		var cfg *ConfigError
		if errors.As(err, &cfg) {
			return info, 0, err
		}
		return info, 0, fmt.Errorf("backup: dump postgres: %w", err)
	}
	return info, schema, nil
}

// connectPG connects with pg's configuration.
func connectPG(ctx context.Context, pg *pgConn, appName string) (*pgx.Conn, error) {
	cfg := pg.config.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = appName
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, &ConnectError{Err: fmt.Errorf("postgres: connect to %s:%d database %s as %s: %s",
			cfg.Host, cfg.Port, cfg.Database, cfg.User, scrub(err.Error(), pg.password))}
	}
	return conn, nil
}

// ConnectError is a database or Redis that could not be reached or logged
// into.
type ConnectError struct{ Err error }

func (e *ConnectError) Error() string { return "backup: " + e.Err.Error() }
func (e *ConnectError) Unwrap() error { return e.Err }

// pgError words a Postgres error without secrets and turns a missing
// privilege into a PrivilegeError (whose remedy the caller words).
func pgError(op string, err error, pg *pgConn) error {
	wrapped := fmt.Errorf("backup: %s: %s", op, scrub(err.Error(), pg.password))
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" { // insufficient_privilege
		return &PrivilegeError{Err: wrapped}
	}
	return wrapped
}

// qualifiedTable is a table name with its schema.
type qualifiedTable struct{ schema, name string }

func (t qualifiedTable) String() string { return t.schema + "." + t.name }

// userTables lists the ordinary tables outside the system schemas that do
// not belong to an extension: the tables a dump holds data of.
func userTables(ctx context.Context, tx pgx.Tx) ([]qualifiedTable, error) {
	rows, err := tx.Query(ctx, `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
		ORDER BY 1, 2`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (qualifiedTable, error) {
		var t qualifiedTable
		err := r.Scan(&t.schema, &t.name)
		return t, err
	})
}

// schemaVersion is the highest applied migration in the version table of
// internal/migrate, 0 when there is none.
func schemaVersion(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (int64, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, migrate.VersionTable).Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v int64
	err := q.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM `+pgx.Identifier{migrate.VersionTable}.Sanitize()+
		` WHERE is_applied AND version_id > 0`).Scan(&v)
	return v, err
}

// prefixed returns err with the package's "backup: " prefix, once.
func prefixed(err error) error {
	if strings.HasPrefix(err.Error(), "backup: ") {
		return err
	}
	return fmt.Errorf("backup: %w", err)
}

// isNotExist reports a missing file.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
