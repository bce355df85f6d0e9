package nomad

import (
	"testing"

	"github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/jobspec"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/jobspecs"
)

// renderTenant renders the shipped jobspecs of a tenant.
func renderTenant(t testing.TB, id string, profile tenant.Profile) []jobspec.Job {
	t.Helper()
	spec, err := tenant.NewSpec(tenant.SpecInput{ID: id, Name: "ACME Corporation", BaseDomain: "example.test", Plan: "small", Profile: string(profile)})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := jobspec.Render(jobspecs.FS, config.Default(), spec)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return jobs
}

// applyAll parses and applies every job and waits for the service jobs.
func applyAll(t testing.TB, c *Client, ns string, jobs []jobspec.Job) (changed int) {
	t.Helper()
	ctx := ctxFor(t, waitLimit)
	for _, j := range jobs {
		job, err := c.parseIn(ctx, ns, j.Source, j.Vars)
		if err != nil {
			t.Fatalf("%s: parse: %v", j.Name, err)
		}
		res, err := c.Apply(ctx, job, j.Source, j.Vars)
		if err != nil {
			t.Fatalf("%s: apply: %v", j.Name, err)
		}
		if res.Changed {
			changed++
		}
		if job.ParameterizedJob != nil || job.Periodic != nil {
			continue // migrate, backup, restore: nothing runs until dispatched
		}
		if err := c.WaitDeployment(ctx, ns, j.JobID, res.JobModifyIndex); err != nil {
			t.Fatalf("%s: %v", j.Name, err)
		}
	}
	return changed
}

func TestRenderedTenantConvergesThenMakesZeroWrites(t *testing.T) {
	for _, profile := range tenant.Profiles {
		t.Run(string(profile), func(t *testing.T) {
			srv := nomadtest.New(t)
			c := newClient(t, srv, "")
			names := tenant.NamesFor("acme")
			jobs := renderTenant(t, "acme", profile)
			mustNamespace(t, c, names.Namespace)
			if n := applyAll(t, c, names.Namespace, jobs); n != len(jobs) {
				t.Errorf("got %d jobs registered; want %d", n, len(jobs))
			}
			for _, j := range jobs {
				sub, _, err := srv.Client().Jobs().Submission(j.JobID, 0, &api.QueryOptions{Namespace: names.Namespace})
				if err != nil {
					t.Fatalf("%s: submission: %v", j.Name, err)
				}
				if sub.Source != string(j.Source) || sub.Variables != j.Vars {
					t.Errorf("%s: got a submission that differs from the rendered source and var file", j.Name)
				}
			}
			ctx := ctxFor(t, waitLimit)
			child, err := c.Dispatch(ctx, names.Namespace, names.JobMigrate, map[string]string{"version": jobspec.SpecVersion}, "spec-"+jobspec.SpecVersion)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.WaitDispatched(ctx, names.Namespace, child); err != nil {
				t.Fatal(err)
			}

			before := srv.Writes()
			if n := applyAll(t, c, names.Namespace, renderTenant(t, "acme", profile)); n != 0 {
				t.Errorf("got %d jobs registered on a converged tenant; want 0", n)
			}
			if again, err := c.Dispatch(ctx, names.Namespace, names.JobMigrate, map[string]string{"version": jobspec.SpecVersion}, "spec-"+jobspec.SpecVersion); err != nil || again != child {
				t.Errorf("got %q, %v; want the same child %q", again, err, child)
			}
			if got := srv.Writes(); got != before {
				t.Errorf("got %d writes on a converged tenant; want 0", got-before)
			}
		})
	}
}
