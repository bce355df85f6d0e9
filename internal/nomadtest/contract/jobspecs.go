package contract

import (
	"io"
	"testing"

	"github.com/hashicorp/nomad/api"
	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/jobspec"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/jobspecs"
)

func ioCopy(w io.Writer, r io.Reader) (int64, error) { return io.Copy(w, r) }

// testJobspecs parses every shipped jobspec of every profile with the var
// file tenantctl renders for a representative tenant, and plans it.
func testJobspecs(t *testing.T, tg Target) {
	cfg := config.Default()
	for _, profile := range tenant.Profiles {
		t.Run(string(profile), func(t *testing.T) {
			spec, err := tenant.NewSpec(tenant.SpecInput{
				ID: "acme-corp", Name: "ACME Corporation", BaseDomain: "example.test", Plan: "small", Profile: string(profile),
			})
			if err != nil {
				t.Fatal(err)
			}
			jobs, err := jobspec.Render(jobspecs.FS, cfg, spec)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			for _, j := range jobs {
				job, err := tg.Client.Jobs().ParseHCLOpts(&api.JobsParseRequest{
					JobHCL: string(j.Source), Variables: j.Vars, Canonicalize: true,
				})
				if err != nil {
					t.Errorf("%s (%s): parse: %v", j.Name, j.SourceFile, err)
					continue
				}
				if job.ID == nil || *job.ID != j.JobID {
					t.Errorf("%s: got job id %v; want %q", j.Name, job.ID, j.JobID)
				}
			}
		})
	}
}
