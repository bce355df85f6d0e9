package contract

import (
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
)

// testVersionsAndSubmissions registers two versions of a job, then stops it, and checks the versions
// Nomad keeps, their submissions and the indexes a registration answers with.
func testVersionsAndSubmissions(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, nil)
	q := &api.QueryOptions{Namespace: ns}
	_, r1 := register(t, c, ns, serviceHCL(ns, "ver"), "greeting = \"one\"\n")
	j1, _, err := c.Jobs().Info("ver", q)
	if err != nil {
		t.Fatal(err)
	}
	if *j1.Version != 0 || r1.JobModifyIndex != *j1.JobModifyIndex || *j1.CreateIndex != *j1.JobModifyIndex {
		t.Errorf("first register: got version %d, answer index %d, job indexes create %d jobmodify %d; want version 0, all equal",
			*j1.Version, r1.JobModifyIndex, *j1.CreateIndex, *j1.JobModifyIndex)
	}
	_, r2 := register(t, c, ns, serviceHCL(ns, "ver"), "greeting = \"two\"\n")
	j2, _, err := c.Jobs().Info("ver", q)
	if err != nil {
		t.Fatal(err)
	}
	if *j2.Version != 1 || r2.JobModifyIndex != *j2.JobModifyIndex || *j2.CreateIndex != *j1.CreateIndex {
		t.Errorf("second register: got version %d, answer index %d, job jobmodify %d create %d; want version 1, answer = jobmodify, create kept",
			*j2.Version, r2.JobModifyIndex, *j2.JobModifyIndex, *j2.CreateIndex)
	}
	vs, _, _, err := c.Jobs().Versions("ver", false, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || *vs[0].Version != 1 || *vs[1].Version != 0 {
		t.Fatalf("got %d versions; want 2, newest first", len(vs))
	}
	for v, want := range map[int]string{0: "greeting = \"one\"\n", 1: "greeting = \"two\"\n"} {
		sub, _, err := c.Jobs().Submission("ver", v, q)
		if err != nil {
			t.Fatalf("submission of version %d: %v", v, err)
		}
		if sub.Variables != want {
			t.Errorf("submission of version %d: got variables %q; want %q", v, sub.Variables, want)
		}
	}
	if _, _, err := c.Jobs().Submission("ver", 7, q); statusCode(err) != 404 {
		t.Errorf("submission of a version that does not exist: got %v; want 404", err)
	}

	// A stop is a new version of the job with Stop set, which keeps the submission of the version it
	// stopped.
	dr, _, err := c.Jobs().Deregister("ver", false, &api.WriteOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	j3, _, err := c.Jobs().Info("ver", q)
	if err != nil {
		t.Fatal(err)
	}
	if !*j3.Stop || *j3.Version != 2 || dr == "" {
		t.Errorf("after a stop: got stop %v version %d eval %q; want stopped at version 2 with an evaluation", *j3.Stop, *j3.Version, dr)
	}
	sub, _, err := c.Jobs().Submission("ver", 2, q)
	if err != nil {
		t.Fatalf("submission of the stopped version: %v", err)
	}
	if sub.Variables != "greeting = \"two\"\n" {
		t.Errorf("submission of the stopped version: got variables %q; want those of the version it stopped", sub.Variables)
	}
}

// testDeregisterEdges: deregistering a job that does not exist succeeds without an evaluation; stopping a
// stopped job writes one more version; a namespace whose jobs are all stopped can be deleted, and deleting
// a namespace that does not exist is an error.
func testDeregisterEdges(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, nil)
	wo := &api.WriteOptions{Namespace: ns}
	for _, purge := range []bool{false, true} {
		eval, _, err := c.Jobs().Deregister("missing", purge, wo)
		if err != nil || eval != "" {
			t.Errorf("deregister (purge %v) a job that does not exist: got eval %q, %v; want success, no evaluation", purge, eval, err)
		}
	}
	register(t, c, ns, dispatchHCL(ns, "batchy"), "")
	info := func() *api.Job {
		j, _, err := c.Jobs().Info("batchy", &api.QueryOptions{Namespace: ns})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	if _, _, err := c.Jobs().Deregister("batchy", false, wo); err != nil {
		t.Fatal(err)
	}
	v := *info().Version
	if _, _, err := c.Jobs().Deregister("batchy", false, wo); err != nil {
		t.Fatalf("stop a stopped job: %v", err)
	}
	if j := info(); *j.Version != v+1 || *j.Status != "dead" {
		t.Errorf("stop a stopped job: got version %d status %s; want version %d, dead", *j.Version, *j.Status, v+1)
	}
	if _, err := c.Namespaces().Delete(ns, nil); err != nil {
		t.Errorf("delete a namespace whose only job is stopped: %v", err)
	}
	if _, err := c.Namespaces().Delete(ns, nil); statusCode(err) != 500 || !strings.Contains(err.Error(), "namespace not found") {
		t.Errorf("delete a namespace that does not exist: got %v; want HTTP 500 namespace not found", err)
	}
}

// testAllocStop stops a running allocation of a service job: Nomad answers with an evaluation that
// places a replacement.
func testAllocStop(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, nil)
	register(t, c, ns, serviceHCL(ns, "stopalloc"), "")
	waitDeployment(t, c, ns, "stopalloc", api.DeploymentStatusSuccessful)
	allocs := waitAllocs(t, c, ns, "stopalloc", 1, api.AllocClientStatusRunning)
	resp, err := c.Allocations().Stop(&api.Allocation{ID: allocs[0].ID}, &api.QueryOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if resp.EvalID == "" {
		t.Errorf("got no EvalID; want the follow-up evaluation")
	}
	var fresh *api.AllocationListStub
	waitFor(t, "a replacement", func(q *api.QueryOptions) (bool, uint64, error) {
		q.Namespace = ns
		list, m, err := c.Jobs().Allocations("stopalloc", false, q)
		if err != nil {
			return false, 0, err
		}
		for _, a := range list {
			if a.ID != allocs[0].ID && a.ClientStatus == api.AllocClientStatusRunning {
				fresh = a
			}
		}
		return fresh != nil, m.LastIndex, nil
	})
	old, _, err := c.Allocations().Info(allocs[0].ID, &api.QueryOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if old.DesiredStatus != api.AllocDesiredStatusStop || old.DesiredDescription != "alloc is being migrated" ||
		old.ClientStatus != api.AllocClientStatusComplete || old.NextAllocation != fresh.ID {
		t.Errorf("stopped allocation: got desired %s (%s), client %s, next %q; want stop (alloc is being migrated), complete, next %s",
			old.DesiredStatus, old.DesiredDescription, old.ClientStatus, old.NextAllocation, fresh.ID)
	}
	if got := eventTypes(old.TaskStates["server"]); !strings.HasSuffix(got, "Killing, Terminated, Killed") {
		t.Errorf("stopped allocation's events: got %s; want them to end with Killing, Terminated, Killed", got)
	}
	full, _, err := c.Allocations().Info(fresh.ID, &api.QueryOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if full.PreviousAllocation != old.ID || full.Name != old.Name || fresh.JobVersion != 0 {
		t.Errorf("replacement: got previous %q name %s version %d; want previous %s, name %s, version 0",
			full.PreviousAllocation, full.Name, fresh.JobVersion, old.ID, old.Name)
	}
	if got := eventTypes(full.TaskStates["server"]); got != "Received, Task Setup, Started" {
		t.Errorf("replacement's events: got %s; want Received, Task Setup, Started", got)
	}
}

// eventTypes lists a task's event types, oldest first.
func eventTypes(ts *api.TaskState) string {
	if ts == nil {
		return "(no task state)"
	}
	types := make([]string, 0, len(ts.Events))
	for _, e := range ts.Events {
		types = append(types, e.Type)
	}
	return strings.Join(types, ", ")
}
