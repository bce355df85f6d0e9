package contract

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
)

func testScriptedFailure(t *testing.T, tg Target) {
	srv := tg.needDouble(t, "a task exiting with code 3")
	c := tg.Client
	ns := namespace(t, tg, nil)
	srv.Script(ns, "crash", "server", nomadtest.Outcome{Fail: true, ExitCode: 3, Stderr: "boom: cannot connect\n"})
	register(t, c, ns, serviceHCL(ns, "crash"), "")
	d := waitDeployment(t, c, ns, "crash", api.DeploymentStatusFailed, api.DeploymentStatusSuccessful)
	if d.Status != api.DeploymentStatusFailed {
		t.Fatalf("got deployment %s; want failed", d.Status)
	}
	allocs := waitAllocs(t, c, ns, "crash", 1, api.AllocClientStatusFailed)
	a, _, err := c.Allocations().Info(allocs[0].ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	var exit *api.TaskEvent
	for _, ev := range a.TaskStates["server"].Events {
		if ev.Type == api.TaskTerminated {
			exit = ev
		}
	}
	if exit == nil || exit.ExitCode != 3 {
		t.Errorf("got terminated event %+v; want exit code 3", exit)
	}
	logs, err := c.Raw().Response("/v1/client/fs/logs/"+a.ID+"?task=server&type=stderr&plain=true&origin=end&offset=100", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	buf := new(strings.Builder)
	if _, err := ioCopy(buf, logs); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "boom: cannot connect\n" {
		t.Errorf("got stderr %q; want the scripted text", buf.String())
	}
}

func testPlacementFailure(t *testing.T, tg Target) {
	srv := tg.needDouble(t, "a placement failure")
	c := tg.Client
	ns := namespace(t, tg, nil)
	srv.Script(ns, "noroom", "", nomadtest.Outcome{PlacementFailure: true})
	_, resp := register(t, c, ns, serviceHCL(ns, "noroom"), "")
	var ev *api.Evaluation
	waitFor(t, "eval complete", func(q *api.QueryOptions) (bool, uint64, error) {
		e, m, err := c.Evaluations().Info(resp.EvalID, q)
		ev = e
		if err != nil {
			return false, 0, err
		}
		return e.Status == api.EvalStatusComplete, m.LastIndex, nil
	})
	if m := ev.FailedTGAllocs["app"]; m == nil || m.DimensionExhausted["memory"] == 0 {
		t.Errorf("got FailedTGAllocs %+v; want group app exhausted on memory", ev.FailedTGAllocs)
	}
	if ev.BlockedEval == "" {
		t.Errorf("got no BlockedEval; want one")
	}
}

func testInjectedFault(t *testing.T, tg Target) {
	srv := tg.needDouble(t, "HTTP faults")
	c := tg.Client
	srv.Fault("GET /v1/namespaces", 2, nomadtest.FaultError)
	if _, _, err := c.Namespaces().List(nil); err != nil {
		t.Fatalf("first call: %v", err)
	}
	if _, _, err := c.Namespaces().List(nil); statusCode(err) != 500 {
		t.Errorf("second call: got %v; want HTTP 500", err)
	}
	if _, _, err := c.Namespaces().List(nil); err != nil {
		t.Errorf("third call: got %v; want success", err)
	}

	srv.Fault("GET /v1/job/:id", 1, nomadtest.FaultHang)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, _, err := c.Jobs().Info("anything", (&api.QueryOptions{}).WithContext(ctx))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hung call: got %v; want the caller's context deadline", err)
	}
	if _, _, err := c.Jobs().Info("anything", nil); statusCode(err) != 404 {
		t.Errorf("call after the hang: got %v; want 404", err)
	}
}
