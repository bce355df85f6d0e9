package nomadtest_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
)

func TestTaskHookGetsEnvAndStopsWithAlloc(t *testing.T) {
	srv := nomadtest.New(t)
	c := srv.Client()
	var stopped atomic.Int32
	var ready atomic.Bool
	got := make(chan nomadtest.TaskStart, 1)
	srv.OnTask("default", "web", "server", func(ctx context.Context, ts nomadtest.TaskStart) (*nomadtest.TaskRun, error) {
		got <- ts
		return &nomadtest.TaskRun{
			Ready: func(context.Context) error {
				if !ready.Load() {
					return errors.New("not yet")
				}
				return nil
			},
			Stop: func() { stopped.Add(1) },
		}, nil
	})
	if _, _, err := c.Jobs().Register(serviceJob("default", "web", 1), nil); err != nil {
		t.Fatal(err)
	}
	ts := <-got
	env := ts.Env
	port, err := strconv.Atoi(env["NOMAD_PORT_http"])
	if err != nil || port == 0 || ts.Ports["http"] != port {
		t.Fatalf("got NOMAD_PORT_http %q, ports %v; want the same free port", env["NOMAD_PORT_http"], ts.Ports)
	}
	if env["LISTEN"] != net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) {
		t.Errorf("got LISTEN %q; want the interpolated NOMAD_ADDR_http", env["LISTEN"])
	}
	for k, want := range map[string]string{
		"NOMAD_ALLOC_ID": ts.Alloc.ID, "NOMAD_NAMESPACE": "default", "NOMAD_JOB_ID": "web",
		"NOMAD_TASK_NAME": "server", "NOMAD_GROUP_NAME": "app",
	} {
		if env[k] != want {
			t.Errorf("got %s=%q; want %q", k, env[k], want)
		}
	}
	if st, err := os.Stat(ts.SecretsDir); err != nil || !st.IsDir() || env["NOMAD_SECRETS_DIR"] != ts.SecretsDir {
		t.Errorf("got secrets dir %q (%v); want an existing directory", ts.SecretsDir, err)
	}

	// Not healthy until the hook says it is ready.
	d, _, err := c.Jobs().LatestDeployment("web", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != api.DeploymentStatusRunning {
		t.Fatalf("got deployment %s before ready; want running", d.Status)
	}
	ready.Store(true)
	waitDeployment(t, c, "default", "web", api.DeploymentStatusSuccessful)

	if _, _, err := c.Jobs().Deregister("web", true, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, "alloc stopped", func(q *api.QueryOptions) (bool, uint64, error) {
		a, m, err := c.Allocations().Info(ts.Alloc.ID, q)
		if err != nil {
			return false, 0, err
		}
		return a.ClientStatus == "complete", m.LastIndex, nil
	})
	srv.Close() // releases are synchronous with Close
	if stopped.Load() != 1 {
		t.Errorf("got %d stop calls; want 1", stopped.Load())
	}
}

func TestTaskHookErrorIsDriverFailure(t *testing.T) {
	srv := nomadtest.New(t)
	c := srv.Client()
	srv.OnTask("default", "web", "server", func(context.Context, nomadtest.TaskStart) (*nomadtest.TaskRun, error) {
		return nil, errors.New("fork/exec /bin/sh: permission denied")
	})
	if _, _, err := c.Jobs().Register(serviceJob("default", "web", 1), nil); err != nil {
		t.Fatal(err)
	}
	d := waitDeployment(t, c, "default", "web", api.DeploymentStatusFailed)
	if d.StatusDescription != "Failed due to unhealthy allocations" {
		t.Errorf("got %q; want Nomad's failed description", d.StatusDescription)
	}
	allocs, _, err := c.Jobs().Allocations("web", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := allocs[0].TaskStates["server"]
	var df *api.TaskEvent
	for _, ev := range ts.Events {
		if ev.Type == api.TaskDriverFailure {
			df = ev
		}
	}
	if !ts.Failed || df == nil || df.DriverError != "fork/exec /bin/sh: permission denied" {
		t.Errorf("got task state failed=%v driver event %+v; want the hook's error as a Driver Failure", ts.Failed, df)
	}
}

func TestBatchHookWaitExitCode(t *testing.T) {
	srv := nomadtest.New(t)
	c := srv.Client()
	srv.OnTask("default", "job", "main", func(ctx context.Context, ts nomadtest.TaskStart) (*nomadtest.TaskRun, error) {
		ts.Stderr.Write([]byte("migration 3 failed\n"))
		return &nomadtest.TaskRun{Wait: func(context.Context) int { return 2 }}, nil
	})
	if _, _, err := c.Jobs().Register(batchJob("default", "job"), nil); err != nil {
		t.Fatal(err)
	}
	waitJobStatus(t, c, "default", "job", "dead")
	allocs, _, err := c.Jobs().Allocations("job", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if allocs[0].ClientStatus != "failed" {
		t.Fatalf("got %s; want failed", allocs[0].ClientStatus)
	}
	frames, errs := c.AllocFS().Logs(&api.Allocation{ID: allocs[0].ID, NodeID: allocs[0].NodeID}, false, "main", "stderr", "start", 0, nil, nil)
	select {
	case f := <-frames:
		if f == nil || string(f.Data) != "migration 3 failed\n" {
			t.Errorf("got frame %+v; want the hook's stderr", f)
		}
	case err := <-errs:
		t.Fatalf("logs: %v", err)
	}
}

func TestNeverHealthyKeepsDeploymentRunning(t *testing.T) {
	srv := nomadtest.New(t)
	c := srv.Client()
	srv.Script("default", "web", "", nomadtest.Outcome{NeverHealthy: true})
	if _, _, err := c.Jobs().Register(serviceJob("default", "web", 1), nil); err != nil {
		t.Fatal(err)
	}
	waitJobStatus(t, c, "default", "web", "running")
	d, _, err := c.Jobs().LatestDeployment("web", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != api.DeploymentStatusRunning || d.TaskGroups["app"].HealthyAllocs != 0 {
		t.Errorf("got deployment %s with %d healthy; want running with 0", d.Status, d.TaskGroups["app"].HealthyAllocs)
	}
}

func TestNeverHealthyFailsAtProgressDeadline(t *testing.T) {
	srv := nomadtest.New(t)
	c := srv.Client()
	srv.Script("default", "web", "", nomadtest.Outcome{NeverHealthy: true})
	job := serviceJob("default", "web", 1)
	job.Update = &api.UpdateStrategy{ProgressDeadline: ptrTo(50 * time.Millisecond), HealthyDeadline: ptrTo(40 * time.Millisecond), MinHealthyTime: ptrTo(time.Duration(0))}
	if _, _, err := c.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	d := waitDeployment(t, c, "default", "web", api.DeploymentStatusFailed)
	if d.StatusDescription != "Failed due to progress deadline" {
		t.Errorf("got %q; want the progress-deadline failure", d.StatusDescription)
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestDynamicPortsFollowNomadsRange checks that allocations get their
// dynamic ports from Nomad's default range (20000-32000), which lies below
// the kernel's ephemeral range the harness's servers take their ports from,
// and that no two live allocations share a port.
func TestDynamicPortsFollowNomadsRange(t *testing.T) {
	srv := nomadtest.New(t)
	c := srv.Client()
	const n = 24
	got := make(chan int, n)
	srv.OnTask("default", "web", "server", func(ctx context.Context, ts nomadtest.TaskStart) (*nomadtest.TaskRun, error) {
		got <- ts.Ports["http"]
		return &nomadtest.TaskRun{}, nil
	})
	if _, _, err := c.Jobs().Register(serviceJob("default", "web", n), nil); err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for range n {
		var p int
		select {
		case p = <-got:
		case <-time.After(30 * time.Second):
			t.Fatalf("got %d of %d allocations started; want all", len(seen), n)
		}
		if p < 20000 || p > 32000 {
			t.Errorf("got dynamic port %d; want one in Nomad's default range 20000-32000", p)
		}
		if seen[p] {
			t.Errorf("got port %d for two live allocations; want distinct ports", p)
		}
		seen[p] = true
	}
}
