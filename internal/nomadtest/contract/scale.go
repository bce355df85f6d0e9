package contract

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
)

// testScaleReplace is what `tenantctl rotate` does to replace a group's
// allocations without ever running fewer than count of them: scale the group
// up by one (a new job version; the new allocation takes the next name
// index), stop each old allocation (Nomad places a replacement under the
// same name), then scale back down, which stops the allocation with the
// highest name index: the extra one. Afterwards the job equals its source
// again: a plan of the registered HCL is None.
func testScaleReplace(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, nil)
	const id = "scaler"
	q := &api.QueryOptions{Namespace: ns}
	wo := &api.WriteOptions{Namespace: ns}
	register(t, c, ns, serviceHCL(ns, id), "")
	waitDeployment(t, c, ns, id, api.DeploymentStatusSuccessful)
	first := waitAllocs(t, c, ns, id, 1, api.AllocClientStatusRunning)[0]

	scale := func(n int) uint64 {
		t.Helper()
		resp, _, err := c.Jobs().Scale(id, "app", ptr(n), "contract: scale", false, nil, wo)
		if err != nil {
			t.Fatalf("scale to %d: %v", n, err)
		}
		if resp.EvalID == "" {
			t.Errorf("scale to %d: got no EvalID; want an evaluation", n)
		}
		return resp.JobModifyIndex
	}
	// running returns the job's allocations that should run, by name.
	running := func(q *api.QueryOptions) (map[string]*api.AllocationListStub, uint64, error) {
		q.Namespace = ns
		list, meta, err := c.Jobs().Allocations(id, false, q)
		if err != nil {
			return nil, 0, err
		}
		out := map[string]*api.AllocationListStub{}
		for _, a := range list {
			if a.DesiredStatus == api.AllocDesiredStatusRun && a.ClientStatus == api.AllocClientStatusRunning {
				if out[a.Name] != nil {
					return nil, 0, fmt.Errorf("two running allocations named %s", a.Name)
				}
				out[a.Name] = a
			}
		}
		return out, meta.LastIndex, nil
	}
	names := func(m map[string]*api.AllocationListStub) string {
		var s []string
		for n := range m {
			s = append(s, n)
		}
		sort.Strings(s)
		return strings.Join(s, ", ")
	}

	scale(2)
	var now map[string]*api.AllocationListStub
	waitFor(t, "two running allocations", func(q *api.QueryOptions) (bool, uint64, error) {
		m, idx, err := running(q)
		now = m
		return len(m) == 2, idx, err
	})
	extra := now[id+".app[1]"]
	if extra == nil || now[first.Name] == nil || now[first.Name].ID != first.ID {
		t.Fatalf("after scaling to 2: got %s; want the first allocation %s and a new %s.app[1]", names(now), first.Name, id)
	}
	job, _, err := c.Jobs().Info(id, q)
	if err != nil {
		t.Fatal(err)
	}
	if *job.Version != 1 || *job.TaskGroups[0].Count != 2 {
		t.Errorf("after scaling: got version %d count %d; want version 1, count 2", *job.Version, *job.TaskGroups[0].Count)
	}
	if d := waitDeployment(t, c, ns, id, api.DeploymentStatusSuccessful); d.JobVersion != 1 {
		t.Errorf("after scaling: latest deployment is of version %d; want 1", d.JobVersion)
	}

	if _, err := c.Allocations().Stop(&api.Allocation{ID: first.ID}, q); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replacement of the first allocation", func(q *api.QueryOptions) (bool, uint64, error) {
		m, idx, err := running(q)
		now = m
		r := m[first.Name]
		return len(m) == 2 && r != nil && r.ID != first.ID, idx, err
	})
	if now[extra.Name] == nil || now[extra.Name].ID != extra.ID {
		t.Errorf("after stopping %s: got %s; want the extra allocation still running", first.Name, names(now))
	}
	replacement := now[first.Name]

	scale(1)
	waitFor(t, "one running allocation", func(q *api.QueryOptions) (bool, uint64, error) {
		m, idx, err := running(q)
		now = m
		return len(m) == 1, idx, err
	})
	if now[first.Name] == nil || now[first.Name].ID != replacement.ID {
		t.Errorf("after scaling back to 1: got %s; want the replacement %s (the highest name index is stopped)", names(now), first.Name)
	}
	gone, _, err := c.Allocations().Info(extra.ID, q)
	if err != nil {
		t.Fatal(err)
	}
	if gone.DesiredStatus != api.AllocDesiredStatusStop || gone.DesiredDescription != "alloc not needed due to job update" {
		t.Errorf("extra allocation: got desired status %s (%s); want stop (alloc not needed due to job update)",
			gone.DesiredStatus, gone.DesiredDescription)
	}
	if d := waitDeployment(t, c, ns, id, api.DeploymentStatusSuccessful); d.JobVersion != 2 {
		t.Errorf("after scaling down: latest deployment is of version %d; want 2", d.JobVersion)
	}

	again := parse(t, c, serviceHCL(ns, id), "")
	plan, _, err := c.Jobs().Plan(again, true, wo)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if plan.Diff == nil || plan.Diff.Type != "None" {
		t.Errorf("plan of the source after scaling up and down: got %+v; want type None", plan.Diff)
	}
}
