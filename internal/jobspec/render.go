// Package jobspec renders a tenant's Nomad jobs: for each job, the jobspec
// source (identical for every tenant) and the per-tenant var file text.
//
// tenantctl never evaluates jobspec HCL itself. `up` sends Job.Source and
// Job.Vars to Nomad's /v1/jobs/parse and registers the result with a job
// Submission holding both, and `render` writes the same two texts to disk, so
//
//	nomad job run -var-file=acme.vars.hcl postgres.nomad.hcl
//
// submits the same job. The var file holds every variable of the profile;
// each job declares the ones it reads, and Nomad (not in -strict mode) warns
// about and ignores the others.
package jobspec

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// SpecVersion is the version of the jobspec set, recorded in every job's
// meta as tenantctl.spec-version. Bump it when a jobspec changes meaning.
const SpecVersion = "1"

// Job is one rendered job of a tenant.
type Job struct {
	// Name is the component (tenant.Components): postgres, redis, migrate,
	// app or worker.
	Name string
	// JobID is the Nomad job id (tenant.Names.Job…).
	JobID string
	// File is the name render writes the source to, such as postgres.nomad.hcl.
	File string
	// SourceFile is the file Source was read from, such as postgres.exec.nomad.hcl.
	SourceFile string
	// Source is the jobspec; it is shared between tenants: do not modify it.
	Source []byte
	// Vars is the var-file text (the same for every job of the tenant).
	Vars string
}

// Renderer renders jobs from one set of jobspec sources for one profile. It
// reads the sources once; it is safe for concurrent use.
type Renderer struct {
	profile tenant.Profile
	sources map[string]source
}

type source struct {
	file string
	data []byte
}

// NewRenderer reads the jobspec of every tenant component (tenant.Components)
// for profile from fsys (jobspecs.FS or a --jobspecs-dir override):
// <component>.<profile>.nomad.hcl, or <component>.nomad.hcl when the job has a
// single file for every profile.
func NewRenderer(fsys fs.FS, profile tenant.Profile) (*Renderer, error) {
	components := tenant.Components()
	r := &Renderer{profile: profile, sources: make(map[string]source, len(components))}
	for _, comp := range components {
		c := comp.Name
		var lastErr error
		for _, name := range []string{c + "." + string(profile) + ".nomad.hcl", c + ".nomad.hcl"} {
			data, err := fs.ReadFile(fsys, name)
			if err == nil {
				r.sources[c] = source{file: name, data: data}
				lastErr = nil
				break
			}
			lastErr = err
		}
		if lastErr != nil {
			if errors.Is(lastErr, fs.ErrNotExist) {
				return nil, fmt.Errorf("jobspec: no %s.%s.nomad.hcl or %s.nomad.hcl: %w", c, profile, c, lastErr)
			}
			return nil, fmt.Errorf("jobspec: read %s: %w", c, lastErr)
		}
	}
	return r, nil
}

// Render returns spec's jobs with the default values for cfg.
func (r *Renderer) Render(cfg config.Config, spec tenant.Spec) ([]Job, error) {
	return r.RenderValues(spec, ValuesFor(cfg, spec))
}

// RenderValues returns spec's jobs with vals (ValuesFor plus overrides), one
// per component, in the order of tenant.Components. The scheduled components
// (tenant.StageScheduled) are left out while vals has no backup.schedule:
// their periodic job exists only with a schedule.
func (r *Renderer) RenderValues(spec tenant.Spec, vals Values) ([]Job, error) {
	if spec.Profile != r.profile {
		return nil, fmt.Errorf("jobspec: renderer is for profile %s, tenant %s wants %s", r.profile, spec.ID, spec.Profile)
	}
	if err := vals.Validate(); err != nil {
		return nil, err
	}
	names := tenant.NamesFor(spec.ID)
	text := vals.File()
	components := tenant.Components()
	jobs := make([]Job, 0, len(components))
	schedule, _ := vals.Get("backup.schedule")
	for _, c := range components {
		if c.Stage == tenant.StageScheduled && schedule.Str == "" {
			continue
		}
		src := r.sources[c.Name]
		jobs = append(jobs, Job{
			Name: c.Name, JobID: names.Job(c), File: c.Name + ".nomad.hcl", SourceFile: src.file, Source: src.data, Vars: text,
		})
	}
	return jobs, nil
}

// Render renders spec's jobs from fsys with the default values for cfg.
func Render(fsys fs.FS, cfg config.Config, spec tenant.Spec) ([]Job, error) {
	r, err := NewRenderer(fsys, spec.Profile)
	if err != nil {
		return nil, err
	}
	return r.Render(cfg, spec)
}

// VarFileName is the name render gives a tenant's var file.
func VarFileName(id tenant.ID) string { return id.String() + ".vars.hcl" }
