// Package migrate applies the tenant database schema (the SQL files of the
// migrations package, or any fs.FS holding such files) to a PostgreSQL
// database, and reports its status.
//
// It is built on goose v3's Provider, which parses the files, runs each one in
// its own transaction (unless a file is marked "-- +goose NO TRANSACTION") and
// records applied versions. This package adds what goose lacks:
//
//   - a SHA-256 checksum of every applied file, recorded in the version table
//     in the same transaction as the migration, and a refusal to run when an
//     applied file has changed or the database has versions the files do not;
//   - a blocking session advisory lock held across checking, applying and
//     granting, so concurrent runners apply each migration exactly once;
//   - optional roles: SET ROLE to a schema owner for the whole session, and
//     grants to an application role afterwards;
//   - status with drift (modified, missing and out-of-order migrations).
//
// The version table is tenantctl_migrations in the session's current schema.
// See docs/migrations.md.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// VersionTable is the name of the table recording applied migrations.
const VersionTable = "tenantctl_migrations"

// lockKey is the session advisory lock (pg_advisory_lock) every runner takes
// before it reads or changes the schema: "tenantctl" in ASCII, truncated.
const lockKey int64 = 0x74656e616e74636c

// DefaultLockTimeout bounds how long Migrate waits for another runner's lock.
const DefaultLockTimeout = 5 * time.Minute

// Options configure a Runner. The zero value applies migrations as the
// connecting user and grants nothing.
type Options struct {
	// OwnerRole, when set, is SET ROLE'd on every connection, so the objects
	// the migrations create are owned by it. The connecting user must be a
	// member of it.
	OwnerRole string
	// AppRole, when set, is granted SELECT, INSERT, UPDATE and DELETE on the
	// schema's tables and USAGE and SELECT on its sequences after applying,
	// with default privileges so tables created later are covered too. It
	// gets no access to the version table.
	AppRole string
	// LockTimeout bounds the wait for another runner's lock; zero means
	// DefaultLockTimeout.
	LockTimeout time.Duration
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// Runner applies and inspects migrations on one database. It is not safe for
// concurrent use; concurrent Runners (in one process or many) are.
type Runner struct {
	db         *sql.DB
	migrations []Migration
	fsys       fs.FS // the verified files, handed to goose
	opts       Options
	log        *slog.Logger
}

// Open connects to the database at databaseURL (a postgres:// URL or a
// keyword/value connection string) and loads the migrations in fsys. It
// checks that the database answers and, when opts.OwnerRole is set, that the
// user may SET ROLE to it. Error messages never contain the URL's password.
func Open(ctx context.Context, databaseURL string, fsys fs.FS, opts Options) (*Runner, error) {
	for _, r := range []struct{ flag, name string }{{"owner role", opts.OwnerRole}, {"app role", opts.AppRole}} {
		if r.name != "" {
			if err := ValidateRoleName(r.name); err != nil {
				return nil, &ConfigError{Err: fmt.Errorf("%s: %w", r.flag, err),
					Remedy: "pass the role names tenantctl derives from the tenant id, e.g. acme__owner and acme__rw"}
			}
		}
	}
	migs, mapFS, err := Load(fsys)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, &ConfigError{Err: errors.New(RedactURL(err.Error()))}
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "tenantctl-migrate"
	}
	var connOpts []stdlib.OptionOpenDB
	if opts.OwnerRole != "" {
		setRole := "SET ROLE " + pgx.Identifier{opts.OwnerRole}.Sanitize()
		connOpts = append(connOpts, stdlib.OptionAfterConnect(func(ctx context.Context, c *pgx.Conn) error {
			_, err := c.Exec(ctx, setRole)
			return err
		}))
	}
	db := stdlib.OpenDB(*cfg, connOpts...)
	// One connection holds the lock, one runs the migrations.
	db.SetMaxIdleConns(2)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, connectError(cfg, opts.OwnerRole, err)
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{db: db, migrations: migs, fsys: mapFS, opts: opts, log: log}, nil
}

// Close closes the database connections.
func (r *Runner) Close() error { return r.db.Close() }
