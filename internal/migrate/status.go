package migrate

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// State is the state of one migration in a database.
type State string

// The states. Modified, Missing and OutOfOrder are drift: Migrate refuses to
// run while any migration is in one of them.
const (
	StateApplied State = "applied" // applied, and the file is unchanged
	StatePending State = "pending" // not applied yet; the next Migrate applies it
	// StateModified: applied, but the file has changed since.
	StateModified State = "modified"
	// StateMissing: applied, but there is no file for it (the database was
	// migrated by a newer tenantctl, or a file was deleted).
	StateMissing State = "missing"
	// StateOutOfOrder: not applied, but older than the newest applied
	// version (a file added with a number already passed).
	StateOutOfOrder State = "out-of-order"
)

// Drift reports whether s is a drift state.
func (s State) Drift() bool {
	return s == StateModified || s == StateMissing || s == StateOutOfOrder
}

// MigrationStatus is one migration's state in a database.
type MigrationStatus struct {
	Version int64  `json:"version"`
	File    string `json:"file"`
	State   State  `json:"state"`
	// AppliedAt is when it was applied; nil when it is not.
	AppliedAt *time.Time `json:"applied_at,omitempty"`
	// Checksum is the file's checksum; empty when there is no file.
	Checksum string `json:"checksum,omitempty"`
	// AppliedChecksum is the checksum recorded when it was applied; empty
	// when it is not applied or was applied without one.
	AppliedChecksum string `json:"applied_checksum,omitempty"`
}

// Status is the state of every migration known to the files or the database.
type Status struct {
	// CurrentVersion is the newest applied version, 0 for none.
	CurrentVersion int64 `json:"current_version"`
	// TargetVersion is the newest version among the files.
	TargetVersion int64             `json:"target_version"`
	Migrations    []MigrationStatus `json:"migrations"`
	Applied       int               `json:"applied"`
	Pending       int               `json:"pending"`
	Drift         int               `json:"drift"`
}

// Status reads the version table (without creating it and without taking
// the lock) and compares it with the files.
func (r *Runner) Status(ctx context.Context) (*Status, error) {
	rows, err := readApplied(ctx, r.db)
	if err != nil {
		return nil, err
	}
	return compare(r.migrations, rows), nil
}

// compare merges the files (in version order) with the applied rows (in
// version order) into a Status.
func compare(migs []Migration, rows []appliedRow) *Status {
	st := &Status{}
	applied := map[int64]appliedRow{}
	for _, row := range rows {
		applied[row.Version] = row
		st.CurrentVersion = max(st.CurrentVersion, row.Version)
	}
	files := map[int64]bool{}
	for _, m := range migs {
		files[m.Version] = true
		st.TargetVersion = max(st.TargetVersion, m.Version)
	}
	var out []MigrationStatus
	for _, m := range migs {
		ms := MigrationStatus{Version: m.Version, File: m.File, Checksum: m.Checksum}
		row, ok := applied[m.Version]
		switch {
		case ok:
			at := row.AppliedAt
			ms.AppliedAt = &at
			ms.AppliedChecksum = row.Checksum
			ms.State = StateApplied
			// A row without a checksum was recorded by something other
			// than tenantctl; it cannot be verified, so it is trusted.
			if row.Checksum != "" && row.Checksum != m.Checksum {
				ms.State = StateModified
			}
		case m.Version < st.CurrentVersion:
			ms.State = StateOutOfOrder
		default:
			ms.State = StatePending
		}
		out = append(out, ms)
	}
	for _, row := range rows {
		if files[row.Version] {
			continue
		}
		at := row.AppliedAt
		out = append(out, MigrationStatus{
			Version: row.Version, File: row.Source, State: StateMissing,
			AppliedAt: &at, AppliedChecksum: row.Checksum,
		})
	}
	slices.SortFunc(out, func(a, b MigrationStatus) int { return cmp.Compare(a.Version, b.Version) })
	for _, ms := range out {
		switch {
		case ms.State.Drift():
			st.Drift++
		case ms.State == StateApplied:
			st.Applied++
		case ms.State == StatePending:
			st.Pending++
		}
	}
	st.Migrations = out
	return st
}

// PendingMigrations returns the migrations in StatePending, in order.
func (s *Status) PendingMigrations() []MigrationStatus {
	var out []MigrationStatus
	for _, m := range s.Migrations {
		if m.State == StatePending {
			out = append(out, m)
		}
	}
	return out
}

// Drifted returns the migrations in a drift state, in order.
func (s *Status) Drifted() []MigrationStatus {
	var out []MigrationStatus
	for _, m := range s.Migrations {
		if m.State.Drift() {
			out = append(out, m)
		}
	}
	return out
}
