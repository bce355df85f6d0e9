package nomad

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/nomadtest"
)

func TestWaitDeployment(t *testing.T) {
	const ns, id = "acme--tenant", "acme--app"
	for _, tc := range []struct {
		name     string
		outcome  *nomadtest.Outcome
		deadline time.Duration
		// want* are substrings of the error (none: success).
		want       []string
		wantStatus string
		atDeadline bool
	}{
		{name: "successful"},
		{
			name: "task fails with events",
			outcome: &nomadtest.Outcome{Fail: true, ExitCode: 3, Events: []*api.TaskEvent{
				{Type: api.TaskRestarting, DisplayMessage: "Task restarting in 15s", Time: time.Now().UnixNano()},
				{Type: api.TaskDriverMessage, DisplayMessage: "config file /local/app.env missing", Time: time.Now().UnixNano()},
			}},
			want:       []string{"failed", `task "server": dead, failed`, "Exit Code: 3", "config file /local/app.env missing", "Restarting"},
			wantStatus: api.DeploymentStatusFailed,
		},
		{
			name:       "placement failure until the deadline",
			outcome:    &nomadtest.Outcome{PlacementFailure: true},
			deadline:   300 * time.Millisecond,
			want:       []string{"before the deadline", `group "web": 1 allocation(s) could not be placed`, `Dimension "memory" exhausted on 1 nodes`},
			wantStatus: api.DeploymentStatusRunning,
			atDeadline: true,
		},
		{
			name:       "never healthy until the deadline",
			outcome:    &nomadtest.Outcome{NeverHealthy: true},
			deadline:   300 * time.Millisecond,
			want:       []string{"before the deadline", "running", `task "server": running`, "Started"},
			wantStatus: api.DeploymentStatusRunning,
			atDeadline: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := nomadtest.New(t)
			c := newClient(t, srv, "")
			mustNamespace(t, c, ns)
			if tc.outcome != nil {
				srv.Script(ns, id, "", *tc.outcome)
			}
			res := applied(t, c, serviceSrc(ns, id), "")
			if tc.atDeadline {
				// Let the double reach the state the digest describes
				// first, so a slow machine cannot change the digest.
				settle(t, c, ns, id, tc.outcome)
			}
			d := waitLimit
			if tc.deadline > 0 {
				d = tc.deadline
			}
			err := c.WaitDeployment(ctxFor(t, d), ns, id, res.JobModifyIndex)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("got %v; want success", err)
				}
				return
			}
			var de *DeployError
			if !errors.As(err, &de) {
				t.Fatalf("got %v; want a *DeployError", err)
			}
			if de.Status != tc.wantStatus {
				t.Errorf("got status %q; want %q", de.Status, tc.wantStatus)
			}
			if got := errors.Is(err, context.DeadlineExceeded); got != tc.atDeadline {
				t.Errorf("got deadline=%v; want %v", got, tc.atDeadline)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got error:\n%s\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestWaitDeploymentIgnoresOlderVersions(t *testing.T) {
	const ns, id = "acme--tenant", "acme--app"
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	mustNamespace(t, c, ns)
	src := serviceSrc(ns, id)
	first := applied(t, c, src, "")
	if err := c.WaitDeployment(ctxFor(t, waitLimit), ns, id, first.JobModifyIndex); err != nil {
		t.Fatal(err)
	}
	// The new version never becomes healthy: the successful deployment of
	// the old version must not satisfy the wait.
	srv.Script(ns, id, "", nomadtest.Outcome{NeverHealthy: true})
	second := applied(t, c, src, "greeting = \"v2\"\n")
	err := c.WaitDeployment(ctxFor(t, 300*time.Millisecond), ns, id, second.JobModifyIndex)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v; want the deadline", err)
	}
}

func TestWaitSurvivesInjectedFault(t *testing.T) {
	const ns, id = "acme--tenant", "acme--app"
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	mustNamespace(t, c, ns)
	srv.Fault("GET /v1/job/:id/deployment", 1, nomadtest.FaultError)
	srv.Fault("GET /v1/job/:id/deployment", 2, nomadtest.FaultUnavailable)
	res := applied(t, c, serviceSrc(ns, id), "")
	if err := c.WaitDeployment(ctxFor(t, waitLimit), ns, id, res.JobModifyIndex); err != nil {
		t.Fatalf("got %v; want the wait to retry past a 500 and a 503", err)
	}
}

func TestWaitAllocsRunningForBatchlessServiceWithoutUpdate(t *testing.T) {
	const ns, id = "acme--tenant", "acme--plain"
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	mustNamespace(t, c, ns)
	src := strings.Replace(serviceSrc(ns, id), "max_parallel      = 1", "max_parallel      = 0", 1)
	res := applied(t, c, src, "")
	if err := c.WaitDeployment(ctxFor(t, waitLimit), ns, id, res.JobModifyIndex); err != nil {
		t.Fatalf("got %v; want the allocation running", err)
	}
	st, err := c.JobStatus(context.Background(), ns, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Deployment != "" || st.ByClientStatus[api.AllocClientStatusRunning] != 1 {
		t.Errorf("got deployment %q, %v; want none, 1 running", st.Deployment, st.ByClientStatus)
	}
}

// settle waits until the double has evaluated the job and, unless placement
// fails, started its allocation.
func settle(t *testing.T, c *Client, ns, id string, o *nomadtest.Outcome) {
	t.Helper()
	err := c.watch(ctxFor(t, waitLimit), func(q *api.QueryOptions) (bool, uint64, error) {
		q.Namespace = ns
		evals, meta, err := c.api.Jobs().Evaluations(id, q)
		if err != nil {
			return false, 0, err
		}
		for _, ev := range evals {
			if ev.Status == api.EvalStatusComplete {
				return true, meta.LastIndex, nil
			}
		}
		return false, meta.LastIndex, nil
	})
	if err != nil {
		t.Fatalf("wait for the evaluation: %v", err)
	}
	if o != nil && o.PlacementFailure {
		return
	}
	if err := c.WaitAllocsRunning(ctxFor(t, waitLimit), ns, id); err != nil {
		t.Fatalf("wait for the allocation to run: %v", err)
	}
}
