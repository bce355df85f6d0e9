package contract

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
)

// revertHCL is a service job with auto_revert whose task exits 1 at once
// when its greeting is "broken" (a bad build) and runs otherwise.
func revertHCL(ns, id string) string {
	return fmt.Sprintf(`
variable "greeting" {
  type    = string
  default = "hello"
}

job %q {
  namespace   = %q
  type        = "service"
  datacenters = ["*"]

  update {
    max_parallel      = 1
    health_check      = "task_states"
    min_healthy_time  = "1s"
    healthy_deadline  = "30s"
    progress_deadline = "1m"
    auto_revert       = true
  }

  group "app" {
    count = 1

    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "server" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "if [ \"$GREETING\" = broken ]; then exit 1; fi; sleep 3600"]
      }

      env {
        GREETING = var.greeting
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
`, id, ns)
}

// testAutoRevert: a deployment of a new version whose allocation fails is
// failed, and with auto_revert Nomad registers the last stable version again
// as a new version, which deploys. The failed deployment's description names
// the version it rolls back to. tenantctl's fleet apply counts such a tenant
// as failed (nomad.Client.WaitDeployment follows the deployment of the
// version it registered, not the rollback's).
func testAutoRevert(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, nil)
	if tg.Double != nil {
		// The double's stand-in for /bin/sh: a broken greeting exits 1
		// before it is ever healthy.
		hook := func(_ context.Context, ts nomadtest.TaskStart) (*nomadtest.TaskRun, error) {
			if ts.Env["GREETING"] != "broken" {
				return &nomadtest.TaskRun{}, nil
			}
			return &nomadtest.TaskRun{
				Ready: func(context.Context) error { return errors.New("not running") },
				Wait:  func(context.Context) int { return 1 },
			}, nil
		}
		tg.Double.OnTask(ns, "revert", "server", hook)
		tg.Double.OnTask(ns, "nostable", "server", hook)
	}
	// A job whose first version fails has nothing to go back to.
	register(t, c, ns, revertHCL(ns, "nostable"), "greeting = \"broken\"\n")
	first := waitDeployment(t, c, ns, "nostable", api.DeploymentStatusFailed, api.DeploymentStatusSuccessful)
	if want := "Failed due to unhealthy allocations - no stable job version to auto revert to"; first.StatusDescription != want {
		t.Errorf("first version: got deployment %s %q; want failed %q", first.Status, first.StatusDescription, want)
	}

	q := &api.QueryOptions{Namespace: ns}
	register(t, c, ns, revertHCL(ns, "revert"), "")
	if d := waitDeployment(t, c, ns, "revert", api.DeploymentStatusSuccessful, api.DeploymentStatusFailed); d.Status != api.DeploymentStatusSuccessful {
		t.Fatalf("version 0: got deployment %s (%s); want successful", d.Status, d.StatusDescription)
	}
	_, resp := register(t, c, ns, revertHCL(ns, "revert"), "greeting = \"broken\"\n")

	// The deployment of version 1 fails and says it rolls back.
	var failed *api.Deployment
	waitFor(t, "the deployment of version 1 to fail", func(q *api.QueryOptions) (bool, uint64, error) {
		q.Namespace = ns
		ds, meta, err := c.Jobs().Deployments("revert", true, q)
		if err != nil {
			return false, 0, err
		}
		for _, d := range ds {
			if d.JobVersion == 1 && d.Status == api.DeploymentStatusFailed {
				failed = d
				return true, meta.LastIndex, nil
			}
		}
		return false, meta.LastIndex, nil
	})
	if failed.JobSpecModifyIndex != resp.JobModifyIndex {
		t.Errorf("got failed deployment at job spec index %d; want the registration's %d", failed.JobSpecModifyIndex, resp.JobModifyIndex)
	}
	if want := "Failed due to unhealthy allocations - rolling back to job version 0"; failed.StatusDescription != want {
		t.Errorf("got description %q; want %q", failed.StatusDescription, want)
	}

	// Version 2 is version 0 again, and its deployment succeeds.
	d := waitDeployment(t, c, ns, "revert", api.DeploymentStatusSuccessful)
	if d.JobVersion != 2 {
		t.Errorf("got latest successful deployment of version %d; want 2 (the rollback)", d.JobVersion)
	}
	job, _, err := c.Jobs().Info("revert", q)
	if err != nil {
		t.Fatal(err)
	}
	if *job.Version != 2 || job.TaskGroups[0].Tasks[0].Env["GREETING"] != "hello" {
		t.Errorf("got job version %d with greeting %q; want version 2 with greeting hello", *job.Version, job.TaskGroups[0].Tasks[0].Env["GREETING"])
	}
	if *job.JobModifyIndex <= resp.JobModifyIndex {
		t.Errorf("got rollback job modify index %d; want past the broken registration's %d", *job.JobModifyIndex, resp.JobModifyIndex)
	}
	versions, _, _, err := c.Jobs().Versions("revert", false, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) != 3 {
		t.Errorf("got %d versions; want 3 (0, the broken 1, the rollback 2)", len(versions))
	}
}

// testPlanMissingNamespace: Nomad refuses to plan a job in a namespace that
// does not exist (HTTP 500, the register refusal's text); nomad.Client.Plan
// turns that into an "Added" plan, as registering after the namespace is
// created would be.
func testPlanMissingNamespace(t *testing.T, tg Target) {
	ns := "missing-" + suffix()
	job := parse(t, tg.Client, serviceHCL(ns, "noplan"), "")
	_, _, err := tg.Client.Jobs().Plan(job, true, &api.WriteOptions{Namespace: ns})
	want := fmt.Sprintf("job %q is in nonexistent namespace %q", "noplan", ns)
	if statusCode(err) != 500 || err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("plan in a missing namespace: got %v; want HTTP 500 saying %s", err, want)
	}
}
