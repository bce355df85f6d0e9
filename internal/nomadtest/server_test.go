package nomadtest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
)

func TestEveryReadCarriesQueryMeta(t *testing.T) {
	srv := nomadtest.New(t)
	c := srv.Client()
	for _, p := range []string{"/v1/namespaces", "/v1/jobs", "/v1/agent/self", "/v1/regions", "/v1/status/leader", "/v1/deployments", "/v1/allocations", "/v1/evaluations"} {
		var out any
		meta, err := c.Raw().Query(p, &out, nil)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if meta.LastIndex == 0 || !meta.KnownLeader {
			t.Errorf("%s: got index %d leader %v; want index > 0 and a known leader", p, meta.LastIndex, meta.KnownLeader)
		}
	}
	self, err := c.Agent().Self()
	if err != nil {
		t.Fatal(err)
	}
	if self.Member.Tags["build"] != nomadtest.DefaultVersion || self.Config["Version"].(map[string]any)["Version"] != nomadtest.DefaultVersion {
		t.Errorf("got build %q config %v; want %s", self.Member.Tags["build"], self.Config["Version"], nomadtest.DefaultVersion)
	}
}

func TestBlockingQueryOnAllocationsWakesOnPlacement(t *testing.T) {
	srv := nomadtest.New(t, nomadtest.WithDelay(time.Millisecond))
	c := srv.Client()
	allocs, meta, err := c.Jobs().Allocations("web", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(allocs) != 0 {
		t.Fatalf("got %d allocs; want 0", len(allocs))
	}
	done := make(chan int, 1)
	go func() {
		a, _, err := c.Jobs().Allocations("web", false, &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: time.Minute})
		if err != nil {
			t.Error(err)
		}
		done <- len(a)
	}()
	// A write to another table does not wake the query.
	if _, err := c.Namespaces().Register(&api.Namespace{Name: "other"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Jobs().Register(serviceJob("default", "web", 1), nil); err != nil {
		t.Fatal(err)
	}
	if n := <-done; n != 1 {
		t.Errorf("got %d allocs after wake-up; want 1", n)
	}
}

func TestBlockingQueryEndsWithClientContext(t *testing.T) {
	srv := nomadtest.New(t)
	c := srv.Client()
	_, meta, err := c.Namespaces().List(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Namespaces().List((&api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 5 * time.Minute}).WithContext(ctx))
		done <- err
	}()
	cancel()
	if err := <-done; err == nil {
		t.Errorf("got no error; want the canceled context")
	}
}

func TestFaultOnNthCallAndCalls(t *testing.T) {
	srv := nomadtest.New(t)
	c := srv.Client()
	srv.Fault("PUT /v1/jobs", 2, nomadtest.FaultUnavailable)
	job := serviceJob("default", "web", 1)
	if _, _, err := c.Jobs().Register(job, nil); err != nil {
		t.Fatalf("call 1: %v", err)
	}
	_, _, err := c.Jobs().Register(job, nil)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "No cluster leader") {
		t.Errorf("call 2: got %v; want 503 No cluster leader", err)
	}
	if _, _, err := c.Jobs().Register(job, nil); err != nil {
		t.Errorf("call 3: %v", err)
	}
	if n := srv.Calls("PUT /v1/jobs"); n != 3 {
		t.Errorf("got %d calls; want 3", n)
	}
	srv.Fault("/v1/job/*/deployment", 1, nomadtest.FaultError)
	if _, _, err := c.Jobs().LatestDeployment("web", nil); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("got %v; want a 500 from the glob pattern", err)
	}
}

func TestTokenEnforced(t *testing.T) {
	srv := nomadtest.New(t, nomadtest.WithToken("s3cret"))
	if _, _, err := srv.Client().Jobs().List(nil); err != nil {
		t.Errorf("with token: %v", err)
	}
	cfg := api.DefaultConfig()
	cfg.Address = srv.Addr()
	cfg.SecretID = "wrong"
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Jobs().List(nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("wrong token: got %v; want 403", err)
	}
}

func TestWritesCountsOnlyMutations(t *testing.T) {
	srv := nomadtest.New(t)
	c := srv.Client()
	job := serviceJob("default", "web", 1)
	if _, _, err := c.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	before := srv.Writes()
	if _, _, err := c.Jobs().Plan(job, true, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Jobs().Info("web", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Jobs().ParseHCL("job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n    }\n  }\n}\n", true); err != nil {
		t.Fatal(err)
	}
	if got := srv.Writes(); got != before {
		t.Errorf("got %d writes after plan/read/parse; want %d", got, before)
	}
}

func TestPlanCountsAndDestroy(t *testing.T) {
	srv := nomadtest.New(t)
	c := srv.Client()
	if _, _, err := c.Jobs().Register(serviceJob("default", "web", 2), nil); err != nil {
		t.Fatal(err)
	}
	waitDeployment(t, c, "default", "web", api.DeploymentStatusSuccessful)

	bigger := serviceJob("default", "web", 3)
	plan, _, err := c.Jobs().Plan(bigger, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := plan.Diff.TaskGroups[0]
	if g.Updates["create"] != 1 || g.Updates["in-place update"] != 2 {
		t.Errorf("count 2→3: got %v; want 1 create, 2 in-place update", g.Updates)
	}

	meta := serviceJob("default", "web", 2)
	meta.Meta = map[string]string{"spec": "2"}
	plan, _, err = c.Jobs().Plan(meta, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g := plan.Diff.TaskGroups[0]; g.Updates["create/destroy update"] != 2 {
		t.Errorf("job meta change: got %v; want 2 create/destroy update (meta reaches NOMAD_META_*)", g.Updates)
	}

	// Applying the destructive change replaces both allocations.
	if _, _, err := c.Jobs().Register(meta, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, "version 1 deployed", func(q *api.QueryOptions) (bool, uint64, error) {
		d, m, err := c.Jobs().LatestDeployment("web", q)
		if err != nil {
			return false, 0, err
		}
		return d.JobVersion == 1 && d.Status == api.DeploymentStatusSuccessful, m.LastIndex, nil
	})
	allocs, _, err := c.Jobs().Allocations("web", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	running, complete := 0, 0
	for _, a := range allocs {
		switch a.ClientStatus {
		case "running":
			running++
			if a.JobVersion != 1 {
				t.Errorf("got running alloc at version %d; want 1", a.JobVersion)
			}
		case "complete":
			complete++
		}
	}
	if running != 2 || complete != 2 {
		t.Errorf("got %d running, %d complete; want 2 and 2", running, complete)
	}
}

func TestDispatchMetaAndIdempotency(t *testing.T) {
	srv := nomadtest.New(t)
	c := srv.Client()
	job := batchJob("default", "migrate")
	job.ParameterizedJob = &api.ParameterizedJobConfig{MetaRequired: []string{"tenant"}, MetaOptional: []string{"step"}}
	if _, _, err := c.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Jobs().Dispatch("migrate", map[string]string{"tenant": "a", "bogus": "1"}, nil, "", nil)
	if err == nil || !strings.Contains(err.Error(), "Dispatch request included unpermitted metadata keys: [bogus]") {
		t.Errorf("got %v; want unpermitted meta refused", err)
	}
	release := make(chan struct{})
	srv.OnTask("default", "migrate", "main", func(ctx context.Context, ts nomadtest.TaskStart) (*nomadtest.TaskRun, error) {
		return &nomadtest.TaskRun{Wait: func(ctx context.Context) int {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return 0
		}}, nil
	})
	wo := &api.WriteOptions{IdempotencyToken: "once"}
	r1, _, err := c.Jobs().Dispatch("migrate", map[string]string{"tenant": "a"}, nil, "", wo)
	if err != nil {
		t.Fatal(err)
	}
	r2, _, err := c.Jobs().Dispatch("migrate", map[string]string{"tenant": "a"}, nil, "", wo)
	if err != nil {
		t.Fatal(err)
	}
	if r2.DispatchedJobID != r1.DispatchedJobID || r2.EvalID != "" {
		t.Errorf("got %q (eval %q) while the first child runs; want %q and no new eval", r2.DispatchedJobID, r2.EvalID, r1.DispatchedJobID)
	}
	close(release)
	waitJobStatus(t, c, "default", r1.DispatchedJobID, "dead")
	// As on Nomad 2.0.5 (contract case DispatchDetails), the token keeps
	// naming its child once the child is dead.
	r3, _, err := c.Jobs().Dispatch("migrate", map[string]string{"tenant": "a"}, nil, "", wo)
	if err != nil {
		t.Fatal(err)
	}
	if r3.DispatchedJobID != r1.DispatchedJobID || r3.EvalID != "" {
		t.Errorf("got %q (eval %q) after the child is dead; want %q again and no eval", r3.DispatchedJobID, r3.EvalID, r1.DispatchedJobID)
	}
	sum, _, err := c.Jobs().Summary("migrate", nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Children == nil || sum.Children.Dead != 1 {
		t.Errorf("got children %+v; want 1 dead", sum.Children)
	}
}

func TestHostVolumes(t *testing.T) {
	srv := nomadtest.New(t)
	c := srv.Client()
	resp, _, err := c.HostVolumes().Create(&api.HostVolumeCreateRequest{Volume: &api.HostVolume{Name: "acme-pgdata", PluginID: "mkdir"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := c.HostVolumes().Get(resp.Volume.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.State != api.HostVolumeStateReady || v.HostPath == "" {
		t.Errorf("got %s at %q; want ready with a host path", v.State, v.HostPath)
	}
	list, _, err := c.HostVolumes().List(nil, nil)
	if err != nil || len(list) != 1 {
		t.Fatalf("got %d volumes (%v); want 1", len(list), err)
	}
	if _, _, err := c.HostVolumes().Delete(&api.HostVolumeDeleteRequest{ID: v.ID}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.HostVolumes().Get(v.ID, nil); err == nil {
		t.Errorf("got the volume after delete; want 404")
	}
}

func TestNodeReportsDrivers(t *testing.T) {
	srv := nomadtest.New(t)
	c := srv.Client()
	nodes, _, err := c.Nodes().List(nil)
	if err != nil || len(nodes) != 1 {
		t.Fatalf("got %d nodes (%v); want 1", len(nodes), err)
	}
	n, _, err := c.Nodes().Info(nodes[0].ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n.Status != "ready" || n.Drivers["raw_exec"] == nil || !n.Drivers["raw_exec"].Healthy {
		t.Errorf("got node %s drivers %v; want ready with a healthy raw_exec", n.Status, n.Drivers)
	}
}
