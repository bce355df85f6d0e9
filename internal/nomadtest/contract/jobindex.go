package contract

import (
	"testing"

	"github.com/hashicorp/nomad/api"
)

// testJobModifyIndex pins what tenantctl's converged check relies on to skip
// planning a job (provision.unplannedJobs): the JobModifyIndex the job list
// shows moves whenever the job's spec changes (a registration with a
// change, a scale, a stop) and on nothing else: not on deployments and
// allocation states, not on an identical plan, not on dispatching children
// of a parameterized job.
func testJobModifyIndex(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, nil)
	q := &api.QueryOptions{Namespace: ns}
	wo := &api.WriteOptions{Namespace: ns}
	listed := func(id string) *api.JobListStub {
		t.Helper()
		list, _, err := c.Jobs().List(q)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range list {
			if j.ID == id {
				return j
			}
		}
		t.Fatalf("job %s not in the list", id)
		return nil
	}

	_, resp := register(t, c, ns, serviceHCL(ns, "idx"), "")
	registered := resp.JobModifyIndex
	waitDeployment(t, c, ns, "idx", api.DeploymentStatusSuccessful)
	if got := listed("idx"); got.JobModifyIndex != registered || got.ModifyIndex <= registered {
		t.Errorf("after a successful deployment: got JobModifyIndex %d, ModifyIndex %d; want %d and a later ModifyIndex",
			got.JobModifyIndex, got.ModifyIndex, registered)
	}
	plan, _, err := c.Jobs().Plan(parse(t, c, serviceHCL(ns, "idx"), ""), true, wo)
	if err != nil {
		t.Fatal(err)
	}
	if plan.JobModifyIndex != registered {
		t.Errorf("identical plan: got JobModifyIndex %d; want %d", plan.JobModifyIndex, registered)
	}

	_, presp := register(t, c, ns, dispatchHCL(ns, "param"), "")
	wo.IdempotencyToken = "tok-" + suffix()
	d, _, err := c.Jobs().Dispatch("param", map[string]string{"tenant": "acme"}, nil, "", wo)
	if err != nil {
		t.Fatalf("dispatch: %v", err)
	}
	wo.IdempotencyToken = ""
	waitJobStatus(t, c, ns, d.DispatchedJobID, "dead")
	if got := listed("param"); got.JobModifyIndex != presp.JobModifyIndex || got.Stop {
		t.Errorf("parameterized job after a dispatch ran: got JobModifyIndex %d (stop %v); want %d, not stopped",
			got.JobModifyIndex, got.Stop, presp.JobModifyIndex)
	}

	if _, _, err := c.Jobs().Scale("idx", "app", ptr(2), "contract: scale", false, nil, wo); err != nil {
		t.Fatalf("scale: %v", err)
	}
	scaled := listed("idx")
	if scaled.JobModifyIndex <= registered {
		t.Errorf("after a scale: got JobModifyIndex %d; want past %d", scaled.JobModifyIndex, registered)
	}
	if _, _, err := c.Jobs().Deregister("idx", false, wo); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if got := listed("idx"); got.JobModifyIndex <= scaled.JobModifyIndex || !got.Stop {
		t.Errorf("after a stop: got JobModifyIndex %d (stop %v); want past %d, stopped", got.JobModifyIndex, got.Stop, scaled.JobModifyIndex)
	}
}
