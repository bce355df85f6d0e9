package migrate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Errors a user can act on carry a remedy: Hint returns it. The remedies of
// ConfigError, ConnectError and LockError name the command line's flags, so
// the CLI words them (internal/cli, dbError).

// ConfigError is invalid input: a connection string that does not parse, or
// migration files that are missing or badly named. Nothing was changed.
type ConfigError struct {
	Err error
	// Remedy is what to do, when it is more than checking the command's
	// database URL and migrations directory.
	Remedy string
}

// Error implements error.
func (e *ConfigError) Error() string { return "migrate: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *ConfigError) Unwrap() error { return e.Err }

// ConnectError is a database that cannot be reached or logged into, or an
// owner role the user may not SET ROLE to. Target names the database without
// its password.
type ConnectError struct {
	Target string
	Role   string // the owner role, when SET ROLE failed
	Err    error
}

// Error implements error.
func (e *ConnectError) Error() string {
	if e.Role != "" {
		return fmt.Sprintf("migrate: connect to %s: set role %q: %v", e.Target, e.Role, e.Err)
	}
	return fmt.Sprintf("migrate: connect to %s: %v", e.Target, e.Err)
}

// Unwrap returns the cause.
func (e *ConnectError) Unwrap() error { return e.Err }

func connectError(cfg *pgx.ConnConfig, role string, err error) error {
	target := fmt.Sprintf("postgres %s:%d/%s as %s", cfg.Host, cfg.Port, cfg.Database, cfg.User)
	var pgErr *pgconn.PgError
	if role != "" && errors.As(err, &pgErr) && (pgErr.Code == "42501" || pgErr.Code == "22023" || pgErr.Code == "42704") {
		return &ConnectError{Target: target, Role: role, Err: errors.New(pgErr.Message)}
	}
	return &ConnectError{Target: target, Err: err}
}

// LockError is a lock another runner held for longer than the lock timeout.
type LockError struct {
	HolderPID int // backend pid of the holder, 0 when unknown
	Err       error
}

// Error implements error.
func (e *LockError) Error() string {
	if e.HolderPID != 0 {
		return fmt.Sprintf("migrate: wait for the migration lock held by postgres backend pid %d: %v", e.HolderPID, e.Err)
	}
	return fmt.Sprintf("migrate: wait for the migration lock: %v", e.Err)
}

// Unwrap returns the cause.
func (e *LockError) Unwrap() error { return e.Err }

// DriftError refuses to migrate a database whose applied migrations do not
// match the files: an applied file was changed, the database has versions no
// file has, or a new file is numbered below the current version. Nothing was
// changed.
type DriftError struct {
	Migrations []MigrationStatus
}

// Error implements error.
func (e *DriftError) Error() string {
	var parts []string
	for _, m := range e.Migrations {
		switch m.State {
		case StateModified:
			parts = append(parts, fmt.Sprintf("%s was changed after it was applied (applied checksum %s, file checksum %s)",
				m.File, short(m.AppliedChecksum), short(m.Checksum)))
		case StateMissing:
			name := m.File
			if name == "" {
				name = fmt.Sprintf("version %d", m.Version)
			}
			parts = append(parts, fmt.Sprintf("%s is applied in the database but has no migration file", name))
		case StateOutOfOrder:
			parts = append(parts, fmt.Sprintf("%s is not applied but is older than the database's current version", m.File))
		}
	}
	return "migrate: refusing to run: " + strings.Join(parts, "; ")
}

// Hint returns the remedy.
func (e *DriftError) Hint() string {
	var hints []string
	seen := map[State]bool{}
	for _, m := range e.Migrations {
		if seen[m.State] {
			continue
		}
		seen[m.State] = true
		switch m.State {
		case StateModified:
			hints = append(hints, fmt.Sprintf("restore %s to the content it was applied with (git log -p -- migrations/%s) "+
				"and put the change in a new migration file with a higher number", m.File, m.File))
		case StateMissing:
			hints = append(hints, "run the tenantctl version that applied it (or newer), or restore the missing file")
		case StateOutOfOrder:
			hints = append(hints, fmt.Sprintf("renumber %s above the newest applied version", m.File))
		}
	}
	return strings.Join(hints, "; ")
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	if sum == "" {
		return "(none)"
	}
	return sum
}

// MigrationError is a migration that failed. When it ran in a transaction
// (the default) nothing of it remains; migrations applied before it in the
// same run stay applied.
type MigrationError struct {
	File    string
	Version int64
	// RolledBack is false for a file marked NO TRANSACTION: statements
	// before the failing one were committed.
	RolledBack bool
	// Applied lists the files applied before it in this run.
	Applied []string
	Err     error
}

// Error implements error.
func (e *MigrationError) Error() string {
	what := "rolled back"
	if !e.RolledBack {
		what = "NOT rolled back (it runs outside a transaction)"
	}
	return fmt.Sprintf("migrate: %s failed and was %s: %s", e.File, what, sqlErrorText(e.Err))
}

// Unwrap returns the cause.
func (e *MigrationError) Unwrap() error { return e.Err }

// Hint returns the remedy.
func (e *MigrationError) Hint() string {
	if !e.RolledBack {
		return fmt.Sprintf("inspect what %s left behind, repair it by hand, then run `tenantctl db migrate` again", e.File)
	}
	return fmt.Sprintf("fix %s (nothing of it was applied) and run `tenantctl db migrate` again", e.File)
}

// sqlErrorText renders a PostgreSQL error with its detail, hint and position.
func sqlErrorText(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err.Error()
	}
	s := pgErr.Error()
	if pgErr.Detail != "" {
		s += "; detail: " + pgErr.Detail
	}
	if pgErr.Where != "" {
		s += "; where: " + strings.ReplaceAll(pgErr.Where, "\n", " / ")
	}
	if pgErr.Hint != "" {
		s += "; hint: " + pgErr.Hint
	}
	return s
}
