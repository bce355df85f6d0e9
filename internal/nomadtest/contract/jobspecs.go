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
// file tenantctl renders for a representative tenant, then plans each parsed
// job in the tenant's namespace (the server validates it and reports it as
// an added job) without registering anything.
func testJobspecs(t *testing.T, tg Target) {
	cfg := config.Default()
	for _, profile := range tenant.Profiles {
		t.Run(string(profile), func(t *testing.T) {
			spec, err := tenant.NewSpec(tenant.SpecInput{
				ID: "ct" + suffix(), Name: "ACME Corporation", BaseDomain: "example.test", Plan: "small", Profile: string(profile),
			})
			if err != nil {
				t.Fatal(err)
			}
			jobs, err := jobspec.Render(jobspecs.FS, cfg, spec)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			ns := spec.Names().Namespace
			if _, err := tg.Client.Namespaces().Register(&api.Namespace{Name: ns, Description: "tenantctl contract test"}, nil); err != nil {
				t.Fatalf("create namespace %s: %v", ns, err)
			}
			t.Cleanup(func() { tg.Client.Namespaces().Delete(ns, nil) })
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
					continue
				}
				if job.Namespace == nil || *job.Namespace != ns {
					t.Errorf("%s: got namespace %v; want %q", j.Name, job.Namespace, ns)
					continue
				}
				plan, _, err := tg.Client.Jobs().Plan(job, true, &api.WriteOptions{Namespace: ns})
				if err != nil {
					t.Errorf("%s (%s): plan: %v", j.Name, j.SourceFile, err)
					continue
				}
				if plan.Diff == nil || plan.Diff.Type != "Added" {
					t.Errorf("%s: got plan diff %+v; want Added", j.Name, plan.Diff)
				}
			}
		})
	}
}
