package provision

import (
	"context"
	"sync"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// jobLedger collects, during one apply, the job modify index each job was
// left at: the one its plan found unchanged or the one its registration
// returned. Both come from the write path's own view of Nomad (the
// registration enforces the index its plan saw), so an index in the ledger
// is one at which Nomad held exactly the spec this apply converged to.
//
// The record keeps the ledger (Record.Jobs). A job still at its recorded
// index has not been registered, scaled or stopped since, by anyone: Nomad
// moves a job's modify index on every change of its spec and on nothing
// else. The converged check then needs neither to parse nor to plan it,
// which was most of the cost of a converged fleet (docs/fleet.md).
type jobLedger struct {
	mu  sync.Mutex
	idx map[string]uint64
}

// note records where job id was left; a nil ledger notes nothing.
func (l *jobLedger) note(id string, index uint64) {
	if l == nil || id == "" || index == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.idx == nil {
		l.idx = map[string]uint64{}
	}
	l.idx[id] = index
}

// format returns Record.Jobs for jobs, "" unless every one was noted.
func (l *jobLedger) format(ids []string) string {
	if l == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return tenant.FormatJobIndexes(ids, l.idx)
}

// jobIDs returns the ids of every job of d, in d.all's order.
func (d desired) jobIDs() []string {
	var ids []string
	for _, j := range d.all() {
		ids = append(ids, j.JobID)
	}
	return ids
}

// appliedJobs returns the record's Jobs and Nomad fields for an apply that
// converged every job of d. Without the agent's version both are empty, and
// the next converged check plans every job: a safe default, never a wrong
// answer.
func (e Env) appliedJobs(ctx context.Context, d desired) (jobs, version string) {
	jobs = d.applied.format(d.jobIDs())
	if jobs == "" {
		return "", ""
	}
	v, err := e.Nomad.Version(ctx)
	if err != nil || v == "" {
		e.log().DebugContext(ctx, "record without job indexes: nomad version unknown", "tenant", d.spec.ID.String(), "err", err)
		return "", ""
	}
	return jobs, v
}

// unplannedJobs returns the jobs of d the converged check need not plan:
// those that Nomad holds at the index the last converged apply recorded for
// them, live (not stopped), when the agent is still the version that
// planned them. Any doubt (no record of indexes, another Nomad version, a
// job moved on, stopped or gone) leaves the job to be planned.
func (e Env) unplannedJobs(ctx context.Context, d desired, rec *tenant.Record) (map[string]bool, error) {
	skip := map[string]bool{}
	recorded := rec.JobIndexes()
	if len(recorded) == 0 || rec.Nomad == "" {
		return skip, nil
	}
	v, err := e.Nomad.Version(ctx)
	if err != nil {
		return nil, err
	}
	if v != rec.Nomad {
		e.log().DebugContext(ctx, "nomad version changed since the last apply: planning every job",
			"tenant", d.spec.ID.String(), "recorded", rec.Nomad, "now", v)
		return skip, nil
	}
	list, err := e.Nomad.ListJobs(ctx, d.names.Namespace, d.spec.ID.String()+tenant.Separator)
	if err != nil {
		return nil, err
	}
	for _, j := range list {
		if j.ParentID != "" || j.Stop {
			continue
		}
		if want, ok := recorded[j.ID]; ok && want == j.JobModifyIndex {
			skip[j.ID] = true
		}
	}
	return skip, nil
}
