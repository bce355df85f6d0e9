package nomadparse

import (
	"testing"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/jobspec"
	"github.com/tenantctl/tenantctl/internal/nomadtest/jobhcl"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/jobspecs"
)

// TestRenderedJobsParseInNomadDouble parses every rendered job of both
// profiles with the Nomad double's parser, which mirrors /v1/jobs/parse
// (strict schema, strict variables), and checks what tenantctl relies on.
func TestRenderedJobsParseInNomadDouble(t *testing.T) {
	for _, profile := range tenant.Profiles {
		t.Run(string(profile), func(t *testing.T) {
			spec := mustSpec(t, "acme-corp", hostileName, profile)
			cfg := config.Default()
			cfg.Backup.Schedule = "0 3 * * *" // render the scheduled backup too
			jobs, err := jobspec.Render(jobspecs.FS, cfg, spec)
			if err != nil {
				t.Fatal(err)
			}
			names := tenant.NamesFor(spec.ID)
			for _, j := range jobs {
				job, err := jobhcl.Parse(j.Source, j.Vars, nil, true)
				if err != nil {
					t.Fatalf("%s: parse: %v", j.SourceFile, err)
				}
				if got := deref(job.ID); got != j.JobID {
					t.Errorf("%s: job id %q; want %q", j.SourceFile, got, j.JobID)
				}
				if got := deref(job.Namespace); got != names.Namespace {
					t.Errorf("%s: namespace %q; want %q", j.SourceFile, got, names.Namespace)
				}
				if got := job.Meta["tenantctl.tenant"]; got != spec.ID.String() {
					t.Errorf("%s: meta tenantctl.tenant %q; want %q", j.SourceFile, got, spec.ID)
				}
				if got := job.Meta["tenantctl.name"]; got != spec.Name.String() {
					t.Errorf("%s: meta tenantctl.name %q; want %q", j.SourceFile, got, spec.Name)
				}
				if got := job.Meta["tenantctl.spec-version"]; got != jobspec.SpecVersion {
					t.Errorf("%s: meta tenantctl.spec-version %q; want %q", j.SourceFile, got, jobspec.SpecVersion)
				}
				checkJob(t, j, job, spec)
			}
		})
	}
}
