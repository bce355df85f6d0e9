package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/fleet"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/provisiontest"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// appPath is the exec-profile tenant-app of app version v in the tests'
// fleet files.
func appPath(v string) string { return "/opt/tenant-app/" + v + "/tenant-app" }

// fleetSrc is a fleet file of ids at app version def (exec profile), with
// per-tenant versions from over; versions lists the app blocks.
func fleetSrc(def string, versions []string, ids []string, over map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "defaults {\n  profile     = \"exec\"\n  app_version = %q\n}\n\n", def)
	for _, v := range versions {
		fmt.Fprintf(&b, "app %q {\n  binary = %q\n}\n\n", v, appPath(v))
	}
	for _, id := range ids {
		fmt.Fprintf(&b, "tenant %q {\n  name = \"Tenant %s\"\n", id, id)
		if v, ok := over[id]; ok {
			fmt.Fprintf(&b, "  app_version = %q\n", v)
		}
		b.WriteString("}\n\n")
	}
	return b.String()
}

func mustFleet(t *testing.T, h *provisiontest.Harness, src string) *fleet.File {
	t.Helper()
	f, err := fleet.Parse([]byte(src), "tenants.hcl", h.Env().Config)
	if err != nil {
		t.Fatalf("fleet file: %v\n%s", err, src)
	}
	return f
}

// recorder keeps the fleet's updates in order.
type recorder struct {
	mu      sync.Mutex
	updates []fleet.Update
}

func (r *recorder) observe(u fleet.Update) {
	r.mu.Lock()
	r.updates = append(r.updates, u)
	r.mu.Unlock()
}

// first returns the index of the first update of tenant id in state st, or -1.
func (r *recorder) first(id string, st fleet.State) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, u := range r.updates {
		if u.Tenant == id && u.State == st {
			return i
		}
	}
	return -1
}

func options(rec *recorder) fleet.Options {
	return fleet.Options{Parallel: 2, Timeout: 2 * time.Minute, LockTimeout: 20 * time.Second, SoakEvery: 200 * time.Millisecond,
		Observe: rec.observe}
}

func states(res fleet.Result) map[string]fleet.State {
	out := map[string]fleet.State{}
	for _, t := range res.Tenants {
		out[t.Tenant] = t.State
	}
	return out
}

func record(t *testing.T, h *provisiontest.Harness, id string) tenant.Record {
	t.Helper()
	st, err := provision.Status(context.Background(), h.Env(), provisiontest.ID(t, id))
	if err != nil {
		t.Fatalf("status %s: %v", id, err)
	}
	return *st.Record
}

// appCommand is the command of tenant id's app task as Nomad has it now.
func appCommand(t *testing.T, h *provisiontest.Harness, id string) (string, uint64) {
	t.Helper()
	n := provisiontest.Names(t, id)
	job, _, err := h.Nomad().Client().Jobs().Info(n.JobApp, &nomadapi.QueryOptions{Namespace: n.Namespace})
	if err != nil {
		t.Fatalf("read app job of %s: %v", id, err)
	}
	cmd, _ := job.TaskGroups[0].Tasks[0].Config["command"].(string)
	return cmd, *job.Version
}

// TestApplyConvergesFleet: apply of a three-tenant fleet with one canary
// converges every tenant, the canary (and its soak) before the rest; the
// records carry the app version; a second apply changes nothing and writes
// nothing anywhere.
func TestApplyConvergesFleet(t *testing.T) {
	h := provisiontest.New(t)
	ids := []string{"fa-one", "fa-two", "fa-three"}
	h.AddTenant(ids...)
	f := mustFleet(t, h, fleetSrc("1.0", []string{"1.0"}, ids, nil))
	rec := &recorder{}
	opt := options(rec)
	opt.Canary, opt.CanarySoak = 1, time.Second
	res, err := fleet.Apply(context.Background(), h.Env(), f, opt)
	if err != nil {
		t.Fatalf("apply: %v\n%+v", err, res)
	}
	for _, id := range ids {
		if st := states(res)[id]; st != fleet.StateConverged {
			t.Errorf("%s: got %s; want converged", id, st)
		}
		h.WaitPassing(id)
		if r := record(t, h, id); r.AppVersion != "1.0" || r.AppArtifact != appPath("1.0") || r.Status != tenant.StatusReady {
			t.Errorf("%s: got record %+v; want ready at app 1.0", id, r)
		}
		if cmd, _ := appCommand(t, h, id); cmd != appPath("1.0") {
			t.Errorf("%s: got app command %q; want %q", id, cmd, appPath("1.0"))
		}
	}
	soaked := rec.first("fa-one", fleet.StateSoaking)
	if soaked < 0 {
		t.Fatalf("the canary was never soaked: %+v", rec.updates)
	}
	for _, id := range ids[1:] {
		if started := rec.first(id, fleet.StateRunning); started < soaked {
			t.Errorf("%s started (update %d) before the canary's soak (update %d)", id, started, soaked)
		}
	}
	if res.Counts[fleet.StateConverged] != 3 || res.Halted || len(res.NotStarted) != 0 {
		t.Errorf("got counts %v halted %v; want 3 converged, no halt", res.Counts, res.Halted)
	}

	nomadW, vaultW, consulW := h.Double().Writes(), h.VaultProxy().Writes(), h.ConsulProxy().Writes()
	res, err = fleet.Apply(context.Background(), h.Env(), f, options(&recorder{}))
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	if res.Counts[fleet.StateUnchanged] != 3 {
		t.Errorf("second apply: got counts %v; want 3 unchanged", res.Counts)
	}
	if d := h.Double().Writes() - nomadW; d != 0 {
		t.Errorf("second apply: got %d Nomad writes; want 0", d)
	}
	if d := h.VaultProxy().Writes() - vaultW; d != 0 {
		t.Errorf("second apply: got %d Vault writes; want 0", d)
	}
	if d := h.ConsulProxy().Writes() - consulW; d != 0 {
		t.Errorf("second apply: got %d Consul writes; want 0", d)
	}
}

// TestApplyFailingCanaryHalts: the canary runs a broken app build; its
// deployment fails, the rollout halts, the rest are named as not started and
// nothing of theirs exists; the exit code is Partial.
func TestApplyFailingCanaryHalts(t *testing.T) {
	h := provisiontest.New(t)
	ids := []string{"fc-canary", "fc-two", "fc-three"}
	h.AddTenant(ids...)
	h.BreakAppBuild(appPath("bad"))
	f := mustFleet(t, h, fleetSrc("1.0", []string{"1.0", "bad"}, ids, map[string]string{"fc-canary": "bad"}))
	opt := options(&recorder{})
	opt.Canary, opt.CanarySoak = 1, time.Second
	res, err := fleet.Apply(context.Background(), h.Env(), f, opt)
	if exit.CodeOf(err) != exit.Partial {
		t.Fatalf("apply: got %v (exit %d); want exit %d", err, exit.CodeOf(err), exit.Partial)
	}
	got := res.Tenants[0]
	if got.State != fleet.StateFailed || got.Step != provision.StepApp || got.Wave != fleet.WaveCanary {
		t.Errorf("canary: got %+v; want failed at step app", got)
	}
	if !res.Halted || !slices.Equal(res.NotStarted, ids[1:]) || !strings.Contains(res.HaltReason, "fc-canary") {
		t.Errorf("got halted %v (%q) not started %v; want halted by the canary, %v not started", res.Halted, res.HaltReason, res.NotStarted, ids[1:])
	}
	for _, id := range ids[1:] {
		if st := states(res)[id]; st != fleet.StateNotStarted {
			t.Errorf("%s: got %s; want not-started", id, st)
		}
		for _, l := range h.Leftovers(id) {
			t.Errorf("%s was not started but has %s", id, l)
		}
	}
	for _, want := range []string{"1 failed (fc-canary)", "2 not started", "fc-two, fc-three"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got error %q; want it to say %q", err, want)
		}
	}
	if r := record(t, h, "fc-canary"); r.Status != tenant.StatusFailed || r.LastStep != provision.StepApp {
		t.Errorf("canary record: got %+v; want failed at step app", r)
	}
}

// TestApplyMaxFailures: with --max-failures 1, one at a time and no canary,
// the second failure halts the rollout: the first tenant converged, two
// failed, the last is untouched.
func TestApplyMaxFailures(t *testing.T) {
	h := provisiontest.New(t)
	ids := []string{"fm-one", "fm-two", "fm-three", "fm-four"}
	h.AddTenant(ids...)
	h.BreakAppBuild(appPath("bad"))
	f := mustFleet(t, h, fleetSrc("1.0", []string{"1.0", "bad"}, ids, map[string]string{"fm-two": "bad", "fm-three": "bad"}))
	opt := options(&recorder{})
	opt.Parallel, opt.MaxFailures = 1, 1
	res, err := fleet.Apply(context.Background(), h.Env(), f, opt)
	if exit.CodeOf(err) != exit.Partial {
		t.Fatalf("apply: got %v; want exit %d", err, exit.Partial)
	}
	want := map[string]fleet.State{"fm-one": fleet.StateConverged, "fm-two": fleet.StateFailed, "fm-three": fleet.StateFailed, "fm-four": fleet.StateNotStarted}
	for id, st := range want {
		if got := states(res)[id]; got != st {
			t.Errorf("%s: got %s; want %s", id, got, st)
		}
	}
	if !res.Halted || !strings.Contains(res.HaltReason, "--max-failures 1") {
		t.Errorf("got halt %v %q; want halted by --max-failures", res.Halted, res.HaltReason)
	}
	if l := h.Leftovers("fm-four"); len(l) > 0 {
		t.Errorf("fm-four was not started but has %v", l)
	}

	// The same fleet with --max-failures 2 goes on past both failures.
	res, err = fleet.Apply(context.Background(), h.Env(), f, fleet.Options{Parallel: 1, MaxFailures: 2, Timeout: 2 * time.Minute, LockTimeout: 20 * time.Second})
	if exit.CodeOf(err) != exit.Partial || res.Halted || states(res)["fm-four"] != fleet.StateConverged || states(res)["fm-one"] != fleet.StateUnchanged {
		t.Errorf("max-failures 2: got %v halted %v states %v; want no halt, fm-four converged, fm-one unchanged", err, res.Halted, states(res))
	}
}

// TestAppVersionRollout: a fleet at app 1.0 moves to 2.0 (plan shows the app
// and worker jobs changing destructively; apply updates them tenant by
// tenant, migrations before the app); then 3.0, a broken build, fails its
// canary: Nomad's auto_revert rolls the canary's app back to 2.0, the
// tenant counts as failed and the other tenant stays on 2.0, untouched.
func TestAppVersionRollout(t *testing.T) {
	h := provisiontest.New(t)
	ids := []string{"fr-one", "fr-two"}
	h.AddTenant(ids...)
	versions := []string{"1.0", "2.0", "3.0"}
	h.BreakAppBuild(appPath("3.0"))
	ctx := context.Background()
	if _, err := fleet.Apply(ctx, h.Env(), mustFleet(t, h, fleetSrc("1.0", versions, ids, nil)), options(&recorder{})); err != nil {
		t.Fatalf("apply 1.0: %v", err)
	}
	for _, id := range ids {
		h.WaitPassing(id)
	}

	v2 := mustFleet(t, h, fleetSrc("2.0", versions, ids, nil))
	plan, err := fleet.Plan(ctx, h.Env(), v2)
	if err != nil {
		t.Fatal(err)
	}
	n := provisiontest.Names(t, "fr-one")
	for _, tp := range plan.Tenants {
		if tp.Action == fleet.ActionOrphaned {
			continue // other tests' tenants share the package's Consul
		}
		var jobs []string
		for _, j := range tp.Jobs {
			jobs = append(jobs, j.Job[len(tp.Tenant)+2:]+":"+j.Update)
		}
		if tp.Action != fleet.ActionChange || strings.Join(jobs, ",") != "app:destructive,worker:destructive" || tp.AppVersion != "2.0" {
			t.Errorf("plan %s: got %s %v (app %s); want change of app and worker, destructive, to 2.0", tp.Tenant, tp.Action, jobs, tp.AppVersion)
		}
	}
	if !plan.Changed() {
		t.Errorf("plan: got no changes; want changes")
	}

	var mu sync.Mutex
	var steps []string
	h.OnEvent("fr-one", func(e provision.Event) {
		if e.Phase == provision.PhaseDone {
			mu.Lock()
			steps = append(steps, e.Step)
			mu.Unlock()
		}
	})
	opt := options(&recorder{})
	opt.Canary = 1
	res, err := fleet.Apply(ctx, h.Env(), v2, opt)
	if err != nil {
		t.Fatalf("apply 2.0: %v", err)
	}
	h.OnEvent("fr-one", nil)
	for _, id := range ids {
		if st := states(res)[id]; st != fleet.StateConverged {
			t.Errorf("apply 2.0: %s got %s; want converged", id, st)
		}
		if cmd, _ := appCommand(t, h, id); cmd != appPath("2.0") {
			t.Errorf("apply 2.0: %s runs %q; want %q", id, cmd, appPath("2.0"))
		}
		if r := record(t, h, id); r.AppVersion != "2.0" {
			t.Errorf("apply 2.0: %s record at app %q; want 2.0", id, r.AppVersion)
		}
		h.WaitPassing(id)
	}
	mu.Lock()
	mig, app := slices.Index(steps, provision.StepMigrations), slices.Index(steps, provision.StepApp)
	mu.Unlock()
	if mig < 0 || app < 0 || mig > app {
		t.Errorf("apply 2.0: got steps %v; want migrations done before app", steps)
	}
	if plan, err := fleet.Plan(ctx, h.Env(), v2); err != nil || plan.Changed() {
		t.Errorf("plan after apply 2.0: got changed=%v err=%v; want untouched", plan.Changed(), err)
	}

	_, before := appCommand(t, h, "fr-one")
	opt = options(&recorder{})
	opt.Canary = 1
	res, err = fleet.Apply(ctx, h.Env(), mustFleet(t, h, fleetSrc("3.0", versions, ids, nil)), opt)
	if exit.CodeOf(err) != exit.Partial {
		t.Fatalf("apply 3.0: got %v; want exit %d", err, exit.Partial)
	}
	canary := res.Tenants[0]
	if canary.State != fleet.StateFailed || canary.Step != provision.StepApp || !strings.Contains(canary.Error, "rolling back to job version") {
		t.Errorf("apply 3.0: canary got %+v; want failed at step app, rolled back", canary)
	}
	if st := states(res)["fr-two"]; st != fleet.StateNotStarted {
		t.Errorf("apply 3.0: fr-two got %s; want not-started", st)
	}
	// Nomad rolled the canary's app back to 2.0, as a new job version.
	deadline := time.Now().Add(time.Minute)
	for {
		cmd, version := appCommand(t, h, "fr-one")
		if cmd == appPath("2.0") && version > before+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fr-one's app: got %q at version %d; want %q at a version past %d (the rollback)", cmd, version, appPath("2.0"), before+1)
		}
		time.Sleep(200 * time.Millisecond)
	}
	d, _, err := h.Nomad().Client().Jobs().LatestDeployment(n.JobApp, &nomadapi.QueryOptions{Namespace: n.Namespace})
	if err != nil || d == nil {
		t.Fatalf("latest deployment of %s: %v", n.JobApp, err)
	}
	if cmd, _ := appCommand(t, h, "fr-two"); cmd != appPath("2.0") || record(t, h, "fr-two").AppVersion != "2.0" {
		t.Errorf("fr-two: got %q; want it untouched at 2.0", cmd)
	}
	if r := record(t, h, "fr-one"); r.Status != tenant.StatusFailed {
		t.Errorf("fr-one record: got %s; want failed", r.Status)
	}
	var se *provision.StepError
	if errors.As(err, &se) {
		t.Errorf("apply 3.0: got a single tenant's step error; want the fleet's")
	}
}
