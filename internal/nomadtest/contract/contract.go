package contract

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
)

// Run runs every contract case against target.
func Run(t *testing.T, target Target) {
	t.Run("ParseErrors", func(t *testing.T) { testParseErrors(t, target) })
	t.Run("ParseGolden", func(t *testing.T) { testParseGolden(t, target) })
	t.Run("ParseVariables", func(t *testing.T) { testParseVariables(t, target) })
	t.Run("NamespaceLifecycle", func(t *testing.T) { testNamespaceLifecycle(t, target) })
	t.Run("RegisterSubmission", func(t *testing.T) { testRegisterSubmission(t, target) })
	t.Run("RegisterDeploymentSuccessful", func(t *testing.T) { testRegisterDeployment(t, target) })
	t.Run("HealthyCountsThenSuccessful", func(t *testing.T) { testHealthyCountsThenSuccessful(t, target) })
	t.Run("EnforceIndex", func(t *testing.T) { testEnforceIndex(t, target) })
	t.Run("JobModifyIndex", func(t *testing.T) { testJobModifyIndex(t, target) })
	t.Run("BlockingQuery", func(t *testing.T) { testBlockingQuery(t, target) })
	t.Run("DispatchComplete", func(t *testing.T) { testDispatch(t, target) })
	t.Run("PlanIdenticalIsNone", func(t *testing.T) { testPlanIdentical(t, target) })
	t.Run("PlanEdited", func(t *testing.T) { testPlanEdited(t, target) })
	t.Run("PlanUpdateKinds", func(t *testing.T) { testPlanUpdateKinds(t, target) })
	t.Run("VersionsAndSubmissions", func(t *testing.T) { testVersionsAndSubmissions(t, target) })
	t.Run("DeregisterEdges", func(t *testing.T) { testDeregisterEdges(t, target) })
	t.Run("AllocStop", func(t *testing.T) { testAllocStop(t, target) })
	t.Run("ScaleReplace", func(t *testing.T) { testScaleReplace(t, target) })
	t.Run("DispatchDetails", func(t *testing.T) { testDispatchDetails(t, target) })
	t.Run("PeriodicForce", func(t *testing.T) { testPeriodicForce(t, target) })
	t.Run("DeploymentShape", func(t *testing.T) { testDeploymentShape(t, target) })
	t.Run("HostVolumes", func(t *testing.T) { testHostVolumes(t, target) })
	t.Run("AutoRevert", func(t *testing.T) { testAutoRevert(t, target) })
	t.Run("PlanMissingNamespace", func(t *testing.T) { testPlanMissingNamespace(t, target) })
	t.Run("StopAndPurge", func(t *testing.T) { testStopAndPurge(t, target) })
	t.Run("ScriptedTaskFailure", func(t *testing.T) { testScriptedFailure(t, target) })
	t.Run("ScriptedPlacementFailure", func(t *testing.T) { testPlacementFailure(t, target) })
	t.Run("InjectedFault", func(t *testing.T) { testInjectedFault(t, target) })
	t.Run("Jobspecs", func(t *testing.T) { testJobspecs(t, target) })
	t.Run("FunctionTable", func(t *testing.T) { testFunctionTable(t, target) })
	t.Run("UnknownFunctionInValidation", func(t *testing.T) { testUnknownFunctionInValidation(t, target) })
}

func testParseVariables(t *testing.T, tg Target) {
	job := parse(t, tg.Client, serviceHCL("default", "parsevars"), "greeting = \"bonjour\"\ntags = [\"a\", \"b\"]\n")
	task := job.TaskGroups[0].Tasks[0]
	if got := task.Env["GREETING"]; got != "bonjour" {
		t.Errorf("got GREETING %q; want %q", got, "bonjour")
	}
	if got := job.TaskGroups[0].Services[0].Tags; strings.Join(got, ",") != "a,b" {
		t.Errorf("got tags %v; want [a b]", got)
	}
	if job.Update == nil || job.Update.MinHealthyTime == nil || *job.Update.MinHealthyTime != time.Second {
		t.Errorf("got update %+v; want min_healthy_time 1s", job.Update)
	}
	if job.Type == nil || *job.Type != "service" || job.TaskGroups[0].Count == nil || *job.TaskGroups[0].Count != 1 {
		t.Errorf("got canonicalized type/count %v/%v; want service/1", job.Type, job.TaskGroups[0].Count)
	}
}

func testNamespaceLifecycle(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, map[string]string{"tenant": "acme"})
	got, _, err := c.Namespaces().Info(ns, nil)
	if err != nil {
		t.Fatalf("read namespace: %v", err)
	}
	if got.Meta["tenant"] != "acme" {
		t.Errorf("got meta %v; want tenant=acme", got.Meta)
	}
	got.Meta["display"] = "ACME Corporation"
	if _, err := c.Namespaces().Register(got, nil); err != nil {
		t.Fatalf("update namespace: %v", err)
	}
	list, _, err := c.Namespaces().List(nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range list {
		if n.Name == ns {
			found = n.Meta["display"] == "ACME Corporation"
		}
	}
	if !found {
		t.Errorf("got namespace list without %s (display meta); want it", ns)
	}

	register(t, c, ns, serviceHCL(ns, "blocker"), "")
	_, err = c.Namespaces().Delete(ns, nil)
	if err == nil || !strings.Contains(err.Error(), "non-terminal jobs") {
		t.Fatalf("got delete error %v; want refusal mentioning non-terminal jobs", err)
	}
	if _, _, err := c.Jobs().Deregister("blocker", true, &api.WriteOptions{Namespace: ns}); err != nil {
		t.Fatalf("purge: %v", err)
	}
	if _, err := c.Namespaces().Delete(ns, nil); err != nil {
		t.Fatalf("delete namespace after purge: %v", err)
	}
	if _, _, err := c.Namespaces().Info(ns, nil); statusCode(err) != 404 {
		t.Errorf("got read-after-delete error %v; want 404", err)
	}
}

func testRegisterSubmission(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, nil)
	src, vars := serviceHCL(ns, "sub"), "greeting = \"hi\"\n"
	_, resp := register(t, c, ns, src, vars)
	if !strings.Contains(resp.Warnings, "shutdown_delay") {
		t.Errorf("got warnings %q; want one about shutdown_delay", resp.Warnings)
	}
	sub, _, err := c.Jobs().Submission("sub", 0, &api.QueryOptions{Namespace: ns})
	if err != nil {
		t.Fatalf("read submission: %v", err)
	}
	if sub.Source != src || sub.Variables != vars || sub.Format != "hcl2" {
		t.Errorf("got submission %q/%q/%q; want the source, variables and hcl2", sub.Source, sub.Variables, sub.Format)
	}
}

func testRegisterDeployment(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, nil)
	_, resp := register(t, c, ns, serviceHCL(ns, "web"), "")
	if resp.EvalID == "" {
		t.Errorf("got no EvalID; want an evaluation")
	}
	d := waitDeployment(t, c, ns, "web", api.DeploymentStatusSuccessful, api.DeploymentStatusFailed)
	if d.Status != api.DeploymentStatusSuccessful {
		t.Fatalf("got deployment %s (%s); want successful", d.Status, d.StatusDescription)
	}
	if st := d.TaskGroups["app"]; st == nil || st.HealthyAllocs != 1 || st.DesiredTotal != 1 {
		t.Errorf("got group state %+v; want 1/1 healthy", st)
	}
	allocs := waitAllocs(t, c, ns, "web", 1, api.AllocClientStatusRunning)
	a, _, err := c.Allocations().Info(allocs[0].ID, &api.QueryOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	ts := a.TaskStates["server"]
	if ts == nil || ts.State != "running" || len(ts.Events) == 0 {
		t.Fatalf("got task state %+v; want running with events", ts)
	}
	if ts.Events[0].Type != api.TaskReceived {
		t.Errorf("got first event %q; want %q", ts.Events[0].Type, api.TaskReceived)
	}
	ev, _, err := c.Evaluations().Info(resp.EvalID, &api.QueryOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Status != api.EvalStatusComplete || len(ev.FailedTGAllocs) != 0 {
		t.Errorf("got eval %s with %d failed groups; want complete, none failed", ev.Status, len(ev.FailedTGAllocs))
	}
	sum, _, err := c.Jobs().Summary("web", &api.QueryOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Summary["app"].Running != 1 {
		t.Errorf("got summary %+v; want 1 running", sum.Summary["app"])
	}
}

// testHealthyCountsThenSuccessful: once every group of a deployment counts
// all its allocations healthy, the deployment turns successful with nothing
// more done (nomad.Client.WaitDeployment returns at the counts; on a real
// agent the status follows a second or two later, the double writes both at
// once).
func testHealthyCountsThenSuccessful(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, nil)
	register(t, c, ns, serviceHCL(ns, "web"), "")
	var counted *api.Deployment
	waitFor(t, "deployment of web with every allocation healthy", func(q *api.QueryOptions) (bool, uint64, error) {
		q.Namespace = ns
		d, meta, err := c.Jobs().LatestDeployment("web", q)
		if err != nil {
			return false, 0, err
		}
		if d == nil {
			return false, meta.LastIndex, nil
		}
		if d.Status != api.DeploymentStatusRunning && d.Status != api.DeploymentStatusSuccessful {
			return false, 0, fmt.Errorf("deployment %s (%s)", d.Status, d.StatusDescription)
		}
		for _, g := range d.TaskGroups {
			if g.HealthyAllocs < g.DesiredTotal {
				return false, meta.LastIndex, nil
			}
		}
		counted = d
		return len(d.TaskGroups) > 0, meta.LastIndex, nil
	})
	t.Logf("every allocation counted healthy while the deployment was %s", counted.Status)
	wo := &api.WriteOptions{Namespace: ns}
	if counted.Status == api.DeploymentStatusRunning {
		// The deployment is still active: Nomad refuses to scale the job
		// until it ends, which is why tenantctl waits for that before it
		// scales (nomad.Client.scaleFor).
		_, _, err := c.Jobs().Scale("web", "app", ptr(2), "contract: scale during the deployment", false, nil, wo)
		if statusCode(err) != 400 || !strings.Contains(err.Error(), "job scaling blocked due to active deployment") {
			t.Errorf("scale while the deployment runs with every allocation healthy: got %v; want HTTP 400 job scaling blocked due to active deployment", err)
		}
	}
	d := waitDeployment(t, c, ns, "web", api.DeploymentStatusSuccessful, api.DeploymentStatusFailed)
	if d.ID != counted.ID || d.Status != api.DeploymentStatusSuccessful {
		t.Fatalf("got deployment %s %s (%s) after %s counted every allocation healthy; want it successful", d.ID, d.Status, d.StatusDescription, counted.ID)
	}
	if _, _, err := c.Jobs().Scale("web", "app", ptr(2), "contract: scale after the deployment", false, nil, wo); err != nil {
		t.Errorf("scale after the deployment succeeded: %v", err)
	}
}

func testEnforceIndex(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, nil)
	job := parse(t, c, serviceHCL(ns, "enforce"), "")
	wo := &api.WriteOptions{Namespace: ns}
	resp, _, err := c.Jobs().EnforceRegister(job, 0, wo)
	if err != nil {
		t.Fatalf("first enforced register: %v", err)
	}
	_, _, err = c.Jobs().EnforceRegister(job, 0, wo)
	if err == nil || !strings.Contains(err.Error(), "Enforcing job modify index 0: job already exists") {
		t.Errorf("got %v; want the enforce-index conflict", err)
	}
	_, _, err = c.Jobs().EnforceRegister(job, resp.JobModifyIndex+1000, wo)
	if err == nil || !strings.Contains(err.Error(), "conflicting job modify index") {
		t.Errorf("got %v; want the conflicting-index error", err)
	}
	if _, _, err := c.Jobs().EnforceRegister(job, resp.JobModifyIndex, wo); err != nil {
		t.Errorf("enforced register at the current index: %v", err)
	}
}

func testBlockingQuery(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, nil)
	register(t, c, ns, serviceHCL(ns, "block"), "")
	q := &api.QueryOptions{Namespace: ns}
	_, meta, err := c.Jobs().Info("block", q)
	if err != nil {
		t.Fatal(err)
	}
	// A blocking query at the current index with a short wait returns
	// without a change.
	_, m2, err := c.Jobs().Info("block", &api.QueryOptions{Namespace: ns, WaitIndex: meta.LastIndex, WaitTime: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if m2.LastIndex < meta.LastIndex {
		t.Errorf("got index %d after timeout; want >= %d", m2.LastIndex, meta.LastIndex)
	}
	type result struct {
		idx uint64
		err error
	}
	done := make(chan result, 1)
	go func() {
		_, m, err := c.Jobs().Info("block", &api.QueryOptions{Namespace: ns, WaitIndex: m2.LastIndex, WaitTime: time.Minute})
		if err != nil {
			done <- result{err: err}
			return
		}
		done <- result{idx: m.LastIndex}
	}()
	register(t, c, ns, serviceHCL(ns, "block"), "greeting = \"changed\"\n")
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.idx <= m2.LastIndex {
		t.Errorf("got index %d; want > %d after a change", r.idx, m2.LastIndex)
	}
}

func testDispatch(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, nil)
	_, resp := register(t, c, ns, dispatchHCL(ns, "migrate"), "")
	if resp.EvalID != "" {
		t.Errorf("got EvalID %q for a parameterized job; want none", resp.EvalID)
	}
	wo := &api.WriteOptions{Namespace: ns}
	if _, _, err := c.Jobs().Dispatch("migrate", nil, nil, "", wo); err == nil || !strings.Contains(err.Error(), "required meta keys") {
		t.Errorf("got %v; want missing meta_required refused", err)
	}
	release := func() {}
	if tg.Double != nil {
		// Keep the child running until the second dispatch, as the real
		// task's sleep does.
		ch := make(chan struct{})
		var once sync.Once
		release = func() { once.Do(func() { close(ch) }) }
		defer release()
		tg.Double.OnTask(ns, "migrate", "main", func(ctx context.Context, _ nomadtest.TaskStart) (*nomadtest.TaskRun, error) {
			return &nomadtest.TaskRun{Wait: func(ctx context.Context) int {
				select {
				case <-ch:
				case <-ctx.Done():
				}
				return 0
			}}, nil
		})
	}
	wo.IdempotencyToken = "tok-" + suffix()
	d1, _, err := c.Jobs().Dispatch("migrate", map[string]string{"tenant": "acme"}, nil, "", wo)
	if err != nil {
		t.Fatalf("dispatch: %v", err)
	}
	if !strings.HasPrefix(d1.DispatchedJobID, "migrate/dispatch-") {
		t.Errorf("got child %q; want prefix migrate/dispatch-", d1.DispatchedJobID)
	}
	d2, _, err := c.Jobs().Dispatch("migrate", map[string]string{"tenant": "acme"}, nil, "", wo)
	if err != nil {
		t.Fatalf("dispatch again: %v", err)
	}
	if d2.DispatchedJobID != d1.DispatchedJobID {
		t.Errorf("got child %q for the same idempotency token while the first runs; want %q", d2.DispatchedJobID, d1.DispatchedJobID)
	}
	release()
	child := waitJobStatus(t, c, ns, d1.DispatchedJobID, "dead")
	if child.ParentID == nil || *child.ParentID != "migrate" || child.Meta["tenant"] != "acme" {
		t.Errorf("got child parent %v meta %v; want parent migrate, tenant=acme", child.ParentID, child.Meta)
	}
	allocs := waitAllocs(t, c, ns, d1.DispatchedJobID, 1, api.AllocClientStatusComplete)
	if len(allocs) != 1 {
		t.Errorf("got %d complete allocs; want 1", len(allocs))
	}
}

func testPlanIdentical(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, nil)
	job, _ := register(t, c, ns, serviceHCL(ns, "same"), "")
	waitDeployment(t, c, ns, "same", api.DeploymentStatusSuccessful)
	again := parse(t, c, serviceHCL(ns, "same"), "")
	plan, _, err := c.Jobs().Plan(again, true, &api.WriteOptions{Namespace: ns})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if plan.Diff == nil || plan.Diff.Type != "None" {
		t.Fatalf("got diff %+v; want type None", plan.Diff)
	}
	for _, g := range plan.Diff.TaskGroups {
		if g.Type != "None" || g.Updates["ignore"] != 1 {
			t.Errorf("got group %s type %s updates %v; want None with 1 ignore", g.Name, g.Type, g.Updates)
		}
	}
	info, _, err := c.Jobs().Info(*job.ID, &api.QueryOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	// Re-registering the identical job writes no new version: Nomad answers
	// with the job's ModifyIndex (past its JobModifyIndex once the job's
	// status has changed, as it has after a deployment), so a caller must
	// not take the answer of an unchanged register as the version to wait
	// for. tenantctl never registers a job whose plan is None.
	_, resp := register(t, c, ns, serviceHCL(ns, "same"), "")
	if resp.JobModifyIndex != *info.ModifyIndex {
		t.Errorf("got JobModifyIndex %d after identical register; want the job's ModifyIndex %d", resp.JobModifyIndex, *info.ModifyIndex)
	}
	after, _, err := c.Jobs().Info(*job.ID, &api.QueryOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if *after.Version != *info.Version || *after.JobModifyIndex != *info.JobModifyIndex {
		t.Errorf("got version %d at JobModifyIndex %d after identical register; want %d at %d",
			*after.Version, *after.JobModifyIndex, *info.Version, *info.JobModifyIndex)
	}
}

func testPlanEdited(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, nil)
	register(t, c, ns, serviceHCL(ns, "edit"), "")
	waitDeployment(t, c, ns, "edit", api.DeploymentStatusSuccessful)
	wo := &api.WriteOptions{Namespace: ns}

	destructive := parse(t, c, serviceHCL(ns, "edit"), "greeting = \"changed\"\n")
	plan, _, err := c.Jobs().Plan(destructive, true, wo)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if plan.Diff.Type != "Edited" || len(plan.Diff.TaskGroups) != 1 {
		t.Fatalf("got diff type %s with %d groups; want Edited with 1", plan.Diff.Type, len(plan.Diff.TaskGroups))
	}
	if g := plan.Diff.TaskGroups[0]; g.Type != "Edited" || g.Updates["create/destroy update"] != 1 {
		t.Errorf("env change: got group %s updates %v; want Edited with 1 create/destroy update", g.Type, g.Updates)
	}
	if du := plan.Annotations.DesiredTGUpdates["app"]; du == nil || du.DestructiveUpdate != 1 {
		t.Errorf("env change: got desired updates %+v; want 1 destructive", du)
	}

	inPlace := parse(t, c, serviceHCL(ns, "edit"), "tags = [\"contract\", \"v2\"]\n")
	plan, _, err = c.Jobs().Plan(inPlace, true, wo)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if g := plan.Diff.TaskGroups[0]; plan.Diff.Type != "Edited" || g.Updates["in-place update"] != 1 {
		t.Errorf("service tag change: got %s group updates %v; want Edited with 1 in-place update", plan.Diff.Type, g.Updates)
	}
}

func testStopAndPurge(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, nil)
	register(t, c, ns, serviceHCL(ns, "stopme"), "")
	waitDeployment(t, c, ns, "stopme", api.DeploymentStatusSuccessful)
	wo := &api.WriteOptions{Namespace: ns}
	if _, _, err := c.Jobs().Deregister("stopme", false, wo); err != nil {
		t.Fatalf("stop: %v", err)
	}
	j := waitJobStatus(t, c, ns, "stopme", "dead")
	if j.Stop == nil || !*j.Stop {
		t.Errorf("got Stop %v; want true after a non-purge stop", j.Stop)
	}
	waitAllocs(t, c, ns, "stopme", 1, api.AllocClientStatusComplete)
	if _, _, err := c.Jobs().Deregister("stopme", true, wo); err != nil {
		t.Fatalf("purge: %v", err)
	}
	if _, _, err := c.Jobs().Info("stopme", &api.QueryOptions{Namespace: ns}); statusCode(err) != 404 {
		t.Errorf("got read-after-purge error %v; want 404", err)
	}
}
