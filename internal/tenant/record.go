package tenant

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Status is where a tenant's last apply ended.
type Status string

// The statuses of a Record.
const (
	// StatusReady: the last apply converged the tenant.
	StatusReady Status = "ready"
	// StatusFailed: the last apply stopped at Record.LastStep with
	// Record.Error.
	StatusFailed Status = "failed"
)

// Record is what tenantctl remembers of a tenant between commands: its spec,
// a digest of its desired state and how the last apply ended. The Consul
// adapter stores it under Names.KVPrefix. It never holds a secret.
type Record struct {
	Tenant  string `json:"tenant"`
	Name    string `json:"name"`
	Host    string `json:"host"`
	Plan    string `json:"plan"`
	Profile string `json:"profile"`
	// SpecVersion is the digest of the desired state the last apply
	// converged to (jobspecs, var file, migrations).
	SpecVersion string `json:"spec_version"`
	// AppVersion and AppArtifact are the tenant app build it runs (Spec.App);
	// empty when it runs the project config's.
	AppVersion  string    `json:"app_version,omitempty"`
	AppArtifact string    `json:"app_artifact,omitempty"`
	Status      Status    `json:"status"`
	LastApply   time.Time `json:"last_apply"`
	// LastStep is the step that ran last; on failure, the one that failed.
	LastStep string `json:"last_step,omitempty"`
	// Error is the last failure's message, when Status is StatusFailed.
	Error string `json:"error,omitempty"`
	// Jobs is where the last apply left the tenant's Nomad jobs: each job's
	// id and the job modify index its plan confirmed or its registration
	// returned (FormatJobIndexes). A job still at that index holds the spec
	// the apply converged it to, so the converged check need not plan it.
	// Empty when the last apply did not converge every job.
	Jobs string `json:"jobs,omitempty"`
	// Nomad is the version of the Nomad agent that parsed and planned those
	// jobs. Another version may parse the same source differently, so after
	// an upgrade the converged check plans every job again.
	Nomad string `json:"nomad,omitempty"`
}

// FormatJobIndexes writes job modify indexes as Record.Jobs does: "id@index"
// in the order of ids, separated by spaces. It returns "" when an id has no
// index: a partial record would let a job nobody confirmed pass as
// converged.
func FormatJobIndexes(ids []string, idx map[string]uint64) string {
	var b strings.Builder
	for i, id := range ids {
		n, ok := idx[id]
		if !ok || n == 0 {
			return ""
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s@%d", id, n)
	}
	return b.String()
}

// MoveJobIndex returns r with job id's index moved from one index to
// another, and whether it was at from: a record that holds another index
// for the job (or none) is returned unchanged.
func (r Record) MoveJobIndex(id string, from, to uint64) (Record, bool) {
	fields := strings.Fields(r.Jobs)
	old := fmt.Sprintf("%s@%d", id, from)
	for i, f := range fields {
		if f == old && to != 0 {
			fields[i] = fmt.Sprintf("%s@%d", id, to)
			r.Jobs = strings.Join(fields, " ")
			return r, true
		}
	}
	return r, false
}

// JobIndexes reads Record.Jobs back; a malformed entry is skipped (its job
// is then planned).
func (r Record) JobIndexes() map[string]uint64 {
	out := map[string]uint64{}
	for _, f := range strings.Fields(r.Jobs) {
		id, n, ok := strings.Cut(f, "@")
		if !ok || id == "" {
			continue
		}
		if v, err := strconv.ParseUint(n, 10, 64); err == nil && v > 0 {
			out[id] = v
		}
	}
	return out
}

// Spec rebuilds the spec the record was applied with (for drift: what this
// tenantctl would render for it now).
func (r Record) Spec() (Spec, error) {
	spec, err := NewSpec(SpecInput{ID: r.Tenant, Name: r.Name, Host: r.Host, Plan: r.Plan, Profile: r.Profile})
	spec.App = App{Version: r.AppVersion, Artifact: r.AppArtifact}
	return spec, err
}

// SameState reports whether r and o describe the same desired and observed
// state, whenever they were written: storing o over r would change nothing
// but LastApply.
func (r Record) SameState(o Record) bool {
	r.LastApply, o.LastApply = time.Time{}, time.Time{}
	return r == o
}

// Input returns what r records as the input of NewSpec: the spec an `up`
// without flags converges the tenant to.
func (r Record) Input() SpecInput {
	return SpecInput{ID: r.Tenant, Name: r.Name, Host: r.Host, Plan: r.Plan, Profile: r.Profile}
}

// Change is one field of a tenant's spec whose desired value differs from
// the recorded one.
type Change struct {
	Field string `json:"field"` // name, host, plan or profile
	From  string `json:"from"`
	To    string `json:"to"`
}

// String describes the change for people: `host "a.example.com" → "b.example.com"`.
func (c Change) String() string { return fmt.Sprintf("%s %q → %q", c.Field, c.From, c.To) }

// Changes lists the fields of s that differ from what r records, in the
// order name, host, plan, profile. A field r does not record (empty) is no
// change.
func (r Record) Changes(s Spec) []Change {
	var out []Change
	for _, f := range []struct{ field, from, to string }{
		{"name", r.Name, s.Name.String()},
		{"host", r.Host, s.Host.String()},
		{"plan", r.Plan, string(s.Plan)},
		{"profile", r.Profile, string(s.Profile)},
	} {
		if f.from != "" && f.from != f.to {
			out = append(out, Change{Field: f.field, From: f.from, To: f.to})
		}
	}
	return out
}
