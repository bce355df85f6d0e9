package contract

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
)

// periodicHCL is a periodic batch job that never fires by itself during a
// test (yearly) and prints a line when forced.
func periodicHCL(ns, id string) string {
	return fmt.Sprintf(`
job %q {
  namespace   = %q
  type        = "batch"
  datacenters = ["*"]

  periodic {
    crons            = ["0 0 1 1 *"]
    time_zone        = "UTC"
    prohibit_overlap = true
  }

  group "run" {
    task "main" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "echo periodic-run-done"]
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

// testPeriodicForce: a periodic job's registration creates no evaluation
// and runs nothing; a forced launch creates the child "<id>/periodic-<unix
// time>" with ParentID set and no periodic block, which runs to completion
// and is listed under the parent's prefix; a job that is not periodic
// cannot be forced; a stopped and purged periodic job launches nothing
// more; a launch leaves the parent at its job modify index. (tenantctl's scheduled backup relies on all of it.)
func testPeriodicForce(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, nil)
	_, resp := register(t, c, ns, periodicHCL(ns, "sched"), "")
	if resp.EvalID != "" {
		t.Errorf("got EvalID %q for a periodic job; want none", resp.EvalID)
	}
	wo := &api.WriteOptions{Namespace: ns}
	q := &api.QueryOptions{Namespace: ns}
	if _, _, err := c.Jobs().PeriodicForce("sched", wo); err != nil {
		t.Fatalf("periodic force: %v", err)
	}
	var child string
	waitFor(t, "the forced run", func(q2 *api.QueryOptions) (bool, uint64, error) {
		q2.Namespace, q2.Prefix = ns, "sched/periodic-"
		list, meta, err := c.Jobs().List(q2)
		if err != nil {
			return false, 0, err
		}
		for _, j := range list {
			if j.ParentID == "sched" {
				child = j.ID
				return true, meta.LastIndex, nil
			}
		}
		return false, meta.LastIndex, nil
	})
	if !strings.HasPrefix(child, "sched"+api.JobPeriodicLaunchSuffix) {
		t.Errorf("got child %q; want sched/periodic-<unix time>", child)
	}
	job := waitJobStatus(t, c, ns, child, "dead")
	if job.Periodic != nil || job.ParentID == nil || *job.ParentID != "sched" {
		t.Errorf("child: periodic %v, parent %v; want no periodic block and parent sched", job.Periodic, job.ParentID)
	}
	allocs := waitAllocs(t, c, ns, child, 1, api.AllocClientStatusComplete)
	if len(allocs) != 1 {
		t.Fatalf("got %d complete allocations of the run; want 1", len(allocs))
	}
	parent, _, err := c.Jobs().Info("sched", q)
	if err != nil {
		t.Fatal(err)
	}
	if parent.Periodic == nil || parent.Status == nil || *parent.Status != "running" {
		t.Errorf("parent after a run: periodic %v status %v; want periodic, running", parent.Periodic, parent.Status)
	}
	// A launch does not touch the parent's spec (tenantctl's converged
	// check skips a job still at its recorded modify index).
	if got := deref(parent.JobModifyIndex); got != resp.JobModifyIndex {
		t.Errorf("parent after a run: JobModifyIndex %d; want %d, the registration's", got, resp.JobModifyIndex)
	}

	register(t, c, ns, dispatchHCL(ns, "notperiodic"), "")
	if _, _, err := c.Jobs().PeriodicForce("notperiodic", wo); err == nil {
		t.Error("forcing a job that is not periodic: got nil; want an error")
	}
	if _, _, err := c.Jobs().Deregister("sched", true, wo); err != nil {
		t.Fatalf("purge the periodic job: %v", err)
	}
	if _, _, err := c.Jobs().PeriodicForce("sched", wo); err == nil {
		t.Error("forcing a purged periodic job: got nil; want an error")
	}
}
