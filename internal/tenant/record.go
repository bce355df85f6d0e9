package tenant

import "time"

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
