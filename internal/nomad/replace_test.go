package nomad

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/nomadtest"
)

func TestReplaceAllocationsReplacesEachRunningOne(t *testing.T) {
	const ns, id = "acme--tenant", "acme--app"
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	mustNamespace(t, c, ns)
	src := strings.Replace(serviceSrc(ns, id), "count = 1", "count = 2", 1)
	res := applied(t, c, src, "")
	ctx := ctxFor(t, waitLimit)
	if err := c.WaitDeployment(ctx, ns, id, res.JobModifyIndex); err != nil {
		t.Fatal(err)
	}
	before, _, err := c.Allocations(ctx, ns, id)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.ReplaceAllocations(ctx, ns, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Replaced != 2 {
		t.Errorf("got %d replaced; want 2", rep.Replaced)
	}
	// Two scales (up by one, back down), nothing else: the job is where it
	// was, at a later index.
	if !rep.Alone || rep.After <= rep.Before || rep.Before != res.JobModifyIndex {
		t.Errorf("got %+v; want alone, from %d to a later index", rep, res.JobModifyIndex)
	}
	after, _, err := c.Allocations(ctx, ns, id)
	if err != nil {
		t.Fatal(err)
	}
	old := map[string]bool{}
	for _, a := range before {
		old[a.ID] = true
	}
	running := 0
	for _, a := range after {
		if a.ClientStatus != api.AllocClientStatusRunning {
			continue
		}
		running++
		if old[a.ID] {
			t.Errorf("got allocation %s still running; want it replaced", a.ID)
		}
	}
	if running != 2 {
		t.Errorf("got %d running; want 2", running)
	}
}

func TestListJobsMetaAndCounts(t *testing.T) {
	const ns, id = "acme--tenant", "acme--migrate"
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	mustNamespace(t, c, ns)
	applied(t, c, batchSrc(ns, id), "")
	ctx := ctxFor(t, waitLimit)
	child, err := c.Dispatch(ctx, ns, id, map[string]string{"version": "7"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitDispatched(ctx, ns, child); err != nil {
		t.Fatal(err)
	}
	jobs, err := c.ListJobs(ctx, ns, id+"/dispatch-")
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 {
		t.Fatalf("got %d jobs; want the one child", len(jobs))
	}
	j := jobs[0]
	if j.ID != child || j.ParentID != id || j.Meta["version"] != "7" || j.Status != "dead" || j.Complete != 1 || j.Failed != 0 {
		t.Errorf("got %+v; want the dead child with meta version 7 and one complete allocation", j)
	}
}

func TestHostVolumesIdempotent(t *testing.T) {
	const ns = "acme--tenant"
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	mustNamespace(t, c, ns)
	ctx := context.Background()
	for i, want := range []bool{true, false} {
		changed, err := c.EnsureHostVolume(ctx, ns, "acme--postgres-data", "default")
		if err != nil {
			t.Fatalf("ensure %d: %v", i, err)
		}
		if changed != want {
			t.Errorf("ensure %d: got changed=%v; want %v", i, changed, want)
		}
	}
	for i, want := range []bool{true, false} {
		changed, err := c.DeleteHostVolume(ctx, ns, "acme--postgres-data")
		if err != nil {
			t.Fatalf("delete %d: %v", i, err)
		}
		if changed != want {
			t.Errorf("delete %d: got changed=%v; want %v", i, changed, want)
		}
	}
}

// TestReplaceAllocationsCreateBeforeDestroy replaces the only allocation of
// a one-instance job while a watcher counts the running allocations: never
// fewer than one, every new allocation is handed to ready, and afterwards
// the job equals its source (plan None).
func TestReplaceAllocationsCreateBeforeDestroy(t *testing.T) {
	const ns, id = "acme--tenant", "acme--app"
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	mustNamespace(t, c, ns)
	src := serviceSrc(ns, id)
	res := applied(t, c, src, "")
	ctx := ctxFor(t, waitLimit)
	if err := c.WaitDeployment(ctx, ns, id, res.JobModifyIndex); err != nil {
		t.Fatal(err)
	}
	before, _, err := c.Allocations(ctx, ns, id)
	if err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	minRunning := make(chan int, 1)
	go func() {
		least := 1 << 30
		for {
			select {
			case <-stop:
				minRunning <- least
				return
			case <-time.After(2 * time.Millisecond):
			}
			list, _, err := c.Allocations(ctx, ns, id)
			if err != nil {
				continue
			}
			n := 0
			for _, a := range list {
				if a.DesiredStatus == api.AllocDesiredStatusRun && a.ClientStatus == api.AllocClientStatusRunning {
					n++
				}
			}
			least = min(least, n)
		}
	}()
	var readied []string
	rep, err := c.ReplaceAllocations(ctx, ns, id, func(_ context.Context, allocID string) error {
		readied = append(readied, allocID)
		return nil
	})
	n := rep.Replaced
	close(stop)
	if err != nil {
		t.Fatal(err)
	}
	if least := <-minRunning; least < 1 {
		t.Errorf("running allocations during the replacement: got a minimum of %d; want at least 1", least)
	}
	if n != 1 || len(readied) != 2 {
		t.Errorf("got %d replaced, %d handed to ready; want 1 and 2 (the extra one and the replacement)", n, len(readied))
	}
	after, _, err := c.Allocations(ctx, ns, id)
	if err != nil {
		t.Fatal(err)
	}
	var running []Alloc
	for _, a := range after {
		if a.DesiredStatus == api.AllocDesiredStatusRun {
			running = append(running, a)
		}
	}
	if len(running) != 1 || running[0].ID == before[0].ID || running[0].Name != before[0].Name {
		t.Errorf("after: got %d allocations to run (%v); want one new allocation named %s", len(running), running, before[0].Name)
	}
	job, err := c.Parse(ctx, []byte(src), "")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := c.Plan(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if plan.DiffType != DiffNone {
		t.Errorf("plan after the replacement: got %s; want %s", plan.DiffType, DiffNone)
	}
}

// TestReplaceAllocationsNoticesAnotherChange: a registration by someone else
// while the allocations are replaced makes the replacement not alone, so a
// caller does not take the job for converged at its new index.
func TestReplaceAllocationsNoticesAnotherChange(t *testing.T) {
	const ns, id = "acme--tenant", "acme--app"
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	mustNamespace(t, c, ns)
	res := applied(t, c, serviceSrc(ns, id), "")
	ctx := ctxFor(t, waitLimit)
	if err := c.WaitDeployment(ctx, ns, id, res.JobModifyIndex); err != nil {
		t.Fatal(err)
	}
	other := srv.Client()
	changed := false
	rep, err := c.ReplaceAllocations(ctx, ns, id, func(_ context.Context, _ string) error {
		if changed {
			return nil
		}
		changed = true
		job, _, err := other.Jobs().Info(id, &api.QueryOptions{Namespace: ns})
		if err != nil {
			return err
		}
		job.Meta = map[string]string{"changed_by": "operator"}
		_, _, err = other.Jobs().Register(job, &api.WriteOptions{Namespace: ns})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !changed || rep.Alone {
		t.Errorf("got %+v after another registration during the replacement; want not alone", rep)
	}
}
