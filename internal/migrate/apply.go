package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"time"

	"github.com/pressly/goose/v3"
)

// Log attribute names.
const (
	attrError     = "error"
	attrFile      = "file"
	attrDuration  = "duration"
	attrHolderPID = "holder_pid"
)

// Applied is one migration applied (or, in a dry run, to be applied).
type Applied struct {
	Version  int64         `json:"version"`
	File     string        `json:"file"`
	Duration time.Duration `json:"duration_ns"`
}

// Result is what Migrate did.
type Result struct {
	DryRun bool `json:"dry_run"`
	// Applied lists the migrations applied, in order; in a dry run, those
	// that would be. Empty when the database was already up to date.
	Applied []Applied `json:"applied"`
	// FromVersion and Version are the database's version before and after
	// (in a dry run, after is the version a real run would reach).
	FromVersion int64 `json:"from_version"`
	Version     int64 `json:"version"`
	// Granted reports that privileges were (re)granted to the app role.
	Granted bool `json:"granted"`
}

// UpToDate reports whether there was nothing to apply.
func (r *Result) UpToDate() bool { return len(r.Applied) == 0 }

// Migrate applies every pending migration in version order and then grants
// the app role its privileges. It holds the migration lock throughout, so
// concurrent calls (from any process) apply each migration exactly once: the
// second waits and then finds nothing to do.
//
// It refuses to run, changing nothing, when the database has drifted from the
// files (*DriftError). A failing migration returns *MigrationError; the
// migrations before it stay applied. With dryRun it only reports what it
// would apply, taking no lock and creating nothing.
func (r *Runner) Migrate(ctx context.Context, dryRun bool) (*Result, error) {
	if dryRun {
		st, err := r.Status(ctx)
		if err != nil {
			return nil, err
		}
		if drift := st.Drifted(); len(drift) > 0 {
			return nil, &DriftError{Migrations: drift}
		}
		res := &Result{DryRun: true, FromVersion: st.CurrentVersion, Version: st.CurrentVersion}
		for _, m := range st.PendingMigrations() {
			res.Applied = append(res.Applied, Applied{Version: m.Version, File: m.File})
			res.Version = m.Version
		}
		return res, nil
	}

	conn, err := r.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close()
	if err := r.lock(ctx, conn); err != nil {
		return nil, err
	}
	defer func() {
		// conn.Close returns the connection to the pool, where a session
		// lock would stay held: unlock explicitly. (A connection that
		// breaks releases the lock with its session.)
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockKey); err != nil {
			r.log.Warn("release migration lock", slog.Any(attrError, err))
		}
	}()

	rows, err := readApplied(ctx, conn)
	if err != nil {
		return nil, err
	}
	st := compare(r.migrations, rows)
	if drift := st.Drifted(); len(drift) > 0 {
		return nil, &DriftError{Migrations: drift}
	}
	res := &Result{FromVersion: st.CurrentVersion, Version: st.CurrentVersion}
	if st.Pending > 0 {
		applied, err := r.up(ctx)
		res.Applied = applied
		if len(applied) > 0 {
			res.Version = applied[len(applied)-1].Version
		}
		if err != nil {
			return res, err
		}
	}
	if r.opts.AppRole != "" {
		if err := r.grant(ctx, conn); err != nil {
			return res, err
		}
		res.Granted = true
	}
	return res, nil
}

// up runs goose over the verified files. The caller holds the lock.
func (r *Runner) up(ctx context.Context) ([]Applied, error) {
	p, err := goose.NewProvider(goose.DialectCustom, r.db, r.fsys,
		goose.WithStore(newVersionStore(r.migrations)),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(r.log),
	)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	applied := toApplied(results)
	for _, a := range applied {
		r.log.Info("applied migration", slog.String(attrFile, a.File), slog.Duration(attrDuration, a.Duration))
	}
	if err == nil {
		return applied, nil
	}
	var pe *goose.PartialError
	if !errors.As(err, &pe) || pe.Failed == nil || pe.Failed.Source == nil {
		return applied, fmt.Errorf("migrate: %w", err)
	}
	applied = toApplied(pe.Applied)
	file := path.Base(pe.Failed.Source.Path)
	me := &MigrationError{File: file, Version: pe.Failed.Source.Version, RolledBack: true, Err: pe.Err}
	for _, m := range r.migrations {
		if m.Version == me.Version && m.NoTransaction {
			me.RolledBack = false
		}
	}
	for _, a := range applied {
		me.Applied = append(me.Applied, a.File)
	}
	return applied, me
}

func toApplied(results []*goose.MigrationResult) []Applied {
	var out []Applied
	for _, res := range results {
		if res == nil || res.Source == nil || res.Error != nil {
			continue
		}
		out = append(out, Applied{Version: res.Source.Version, File: path.Base(res.Source.Path), Duration: res.Duration})
	}
	return out
}

// lock takes the session advisory lock on conn, waiting at most the lock
// timeout for another runner to release it.
func (r *Runner) lock(ctx context.Context, conn *sql.Conn) error {
	var ok bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey).Scan(&ok); err != nil {
		return fmt.Errorf("migrate: take migration lock: %w", err)
	}
	if ok {
		return nil
	}
	holder := r.lockHolder(ctx, conn)
	r.log.Info("waiting for the migration lock", slog.Int(attrHolderPID, holder))
	wctx, cancel := context.WithTimeout(ctx, r.opts.LockTimeout)
	defer cancel()
	if _, err := conn.ExecContext(wctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("migrate: wait for migration lock: %w", ctx.Err())
		}
		if wctx.Err() != nil {
			err = fmt.Errorf("not released within %s", r.opts.LockTimeout)
		}
		return &LockError{HolderPID: holder, Err: err}
	}
	return nil
}

// lockHolder returns the backend pid holding the migration lock, 0 when it
// cannot tell.
func (r *Runner) lockHolder(ctx context.Context, conn *sql.Conn) int {
	var pid int
	err := conn.QueryRowContext(ctx, `SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND ((classid::bigint << 32) | objid::bigint) = $1 LIMIT 1`, lockKey).Scan(&pid)
	if err != nil {
		return 0
	}
	return pid
}
