// Package jobspecs holds tenantctl's Nomad jobspecs, embedded in the binary.
//
// Each tenant job has one file per runtime profile, <job>.<profile>.nomad.hcl
// (for example postgres.exec.nomad.hcl); a job that is the same in every
// profile may be a single <job>.nomad.hcl. The files are plain Nomad HCL2 with
// variable blocks and no tenant-specific text; internal/jobspec renders the
// per-tenant var file. docs/jobspecs.md documents every variable.
package jobspecs

import "embed"

// FS holds every *.nomad.hcl file of this directory.
//
//go:embed *.nomad.hcl
var FS embed.FS
