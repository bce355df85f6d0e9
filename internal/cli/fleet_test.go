package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/fleet"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/provisiontest"
)

func writeFleet(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tenants.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRenderFleet: render -f writes every tenant's jobspecs and var file into
// its own directory, offline, with each tenant's app build in its var file.
func TestRenderFleet(t *testing.T) {
	path := writeFleet(t, `
defaults {
  profile     = "exec"
  app_version = "1.0"
}
app "1.0" {
  binary = "/opt/tenant-app/1.0/tenant-app"
}
app "2.0" {
  binary = "/opt/tenant-app/2.0/tenant-app"
}
tenant "rf-one" {}
tenant "rf-two" {
  app_version = "2.0"
}
`)
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, nil, "render", "-f", path, "--out", out).parts()
	if code != exit.OK {
		t.Fatalf("render -f: got exit %d; stderr %s", code, stderr)
	}
	for id, app := range map[string]string{"rf-one": "/opt/tenant-app/1.0/tenant-app", "rf-two": "/opt/tenant-app/2.0/tenant-app"} {
		vars, err := os.ReadFile(filepath.Join(out, id, id+".vars.hcl"))
		if err != nil {
			t.Fatalf("%s: %v (stdout %s)", id, err, stdout)
		}
		if !strings.Contains(string(vars), `"`+app+`"`) {
			t.Errorf("%s: var file lacks tenant_app %s:\n%s", id, app, vars)
		}
		if _, err := os.Stat(filepath.Join(out, id, "app.nomad.hcl")); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	// A bad file writes nothing and names the line.
	bad := writeFleet(t, "tenant \"rf-one\" {}\ntenant \"rf-bad\" {\n  plan = \"huge\"\n}\n")
	out2 := filepath.Join(t.TempDir(), "none")
	code, _, stderr = runCLI(t, nil, "render", "-f", bad, "--out", out2).parts()
	if code != exit.Usage || !strings.Contains(stderr, "tenants.hcl:3: tenant.rf-bad.plan") || !strings.Contains(stderr, "Try:") {
		t.Errorf("render -f bad: got exit %d stderr %q; want usage naming tenants.hcl:3 and a remedy", code, stderr)
	}
	if _, err := os.Stat(out2); !os.IsNotExist(err) {
		t.Errorf("render -f bad wrote %s", out2)
	}
	if code, _, stderr := runCLI(t, nil, "render", "rf-one", "-f", path).parts(); code != exit.Usage || !strings.Contains(stderr, "without a tenant id") {
		t.Errorf("render <id> -f: got exit %d stderr %q; want a usage error", code, stderr)
	}
}

// TestFleetCLI drives plan -f, apply -f (plain and --json), list -f with its
// drift column and apply --prune end to end against the harness.
func TestFleetCLI(t *testing.T) {
	h := provisiontest.New(t)
	h.AddTenant("fl-one", "fl-two")
	src := func(version string, ids ...string) string {
		s := "defaults {\n  profile = \"exec\"\n  app_version = \"" + version + "\"\n}\n" +
			"app \"1.0\" {\n  binary = \"/opt/tenant-app/1.0/tenant-app\"\n}\n" +
			"app \"2.0\" {\n  binary = \"/opt/tenant-app/2.0/tenant-app\"\n}\n"
		for _, id := range ids {
			s += "tenant \"" + id + "\" {}\n"
		}
		return s
	}
	path := writeFleet(t, src("1.0", "fl-one", "fl-two"))
	env := h.CLIEnv()

	code, stdout, stderr := runCLI(t, env, "plan", "-f", path).parts()
	if code != exit.Changes || strings.Count(stdout, "create") != 2 {
		t.Fatalf("plan -f: got exit %d stdout %q stderr %q; want exit 3 with two creates", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, env, "apply", "-f", path, "--canary", "1", "--parallel", "2", "--timeout", "2m").parts()
	if code != exit.OK {
		t.Fatalf("apply -f: got exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "2 converged of 2") || !strings.Contains(stderr, "fl-one: converged (canary)") {
		t.Errorf("apply -f: got stdout %q stderr %q; want the summary and plain progress lines", stdout, stderr)
	}
	h.WaitPassing("fl-one")
	h.WaitPassing("fl-two")
	if code, stdout, _ := runCLI(t, env, "plan", "-f", path).parts(); code != exit.OK || strings.Count(stdout, "untouched") != 2 {
		t.Errorf("plan -f after apply: got exit %d stdout %q; want 0 and two untouched", code, stdout)
	}

	type entry struct {
		Tenant, AppVersion, Health, SpecVersion string
		Drift                                   []string
	}
	list := func(args ...string) map[string]entry {
		t.Helper()
		code, stdout, stderr := runCLI(t, env, append([]string{"list", "--json"}, args...)...).parts()
		if code != exit.OK {
			t.Fatalf("list: exit %d: %s", code, stderr)
		}
		var es []struct {
			Tenant      string   `json:"tenant"`
			AppVersion  string   `json:"app_version"`
			Health      string   `json:"health"`
			SpecVersion string   `json:"spec_version"`
			Drift       []string `json:"drift"`
		}
		if err := json.Unmarshal([]byte(stdout), &es); err != nil {
			t.Fatalf("list --json: %v: %s", err, stdout)
		}
		out := map[string]entry{}
		for _, e := range es {
			out[e.Tenant] = entry{e.Tenant, e.AppVersion, e.Health, e.SpecVersion, e.Drift}
		}
		return out
	}
	for id, e := range list("-f", path) {
		if e.AppVersion != "1.0" || e.Health != "healthy" || len(e.Drift) != 0 || e.SpecVersion == "" {
			t.Errorf("list -f: %s got %+v; want app 1.0, healthy, no drift", id, e)
		}
	}
	// The file moves fl-one to 2.0 and drops fl-two.
	next := writeFleet(t, src("2.0", "fl-one"))
	got := list("-f", next)
	if d := strings.Join(got["fl-one"].Drift, ","); d != "file" {
		t.Errorf("list -f next: fl-one drift %q; want file", d)
	}
	if d := strings.Join(got["fl-two"].Drift, ","); d != "orphaned" {
		t.Errorf("list -f next: fl-two drift %q; want orphaned", d)
	}
	if d := list()["fl-one"].Drift; len(d) != 0 {
		t.Errorf("list: fl-one drift %v; want none without -f (this tenantctl renders the same)", d)
	}
	code, stdout, _ = runCLI(t, env, "list").parts()
	if code != exit.OK || !strings.Contains(stdout, "DRIFT") || !strings.Contains(stdout, "healthy") {
		t.Errorf("list: got exit %d stdout %q; want the table with health and drift", code, stdout)
	}

	if code, _, stderr := runCLI(t, env, "apply", "-f", next, "--prune").parts(); code != exit.Usage || !strings.Contains(stderr, "--yes") {
		t.Errorf("apply --prune off a terminal: got exit %d stderr %q; want a usage error naming --yes", code, stderr)
	}
	code, stdout, stderr = runCLI(t, env, "apply", "-f", next, "--json", "--prune", "--yes", "--timeout", "2m").parts()
	if code != exit.OK {
		t.Fatalf("apply --json --prune --yes: got exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var states, steps int
	for _, l := range lines[:len(lines)-1] {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("apply --json: line %q is not JSON: %v", l, err)
		}
		if obj["state"] != nil {
			states++
		}
		if obj["step"] != nil {
			steps++
		}
	}
	var final struct {
		Result struct {
			Tenants []struct {
				Tenant, State, AppVersion string `json:"-"`
			} `json:"tenants"`
			Orphaned []string       `json:"orphaned"`
			Pruned   []string       `json:"pruned"`
			Counts   map[string]int `json:"counts"`
		} `json:"result"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &final); err != nil {
		t.Fatalf("apply --json: last line %q: %v", lines[len(lines)-1], err)
	}
	if states == 0 || steps == 0 || final.Error != "" || final.Result.Counts["converged"] != 1 ||
		strings.Join(final.Result.Orphaned, ",") != "fl-two" || strings.Join(final.Result.Pruned, ",") != "fl-two" {
		t.Errorf("apply --json: got %d state and %d step events, final %+v; want both kinds, fl-one converged, fl-two orphaned and pruned", states, steps, final)
	}
	h.AssertGone("fl-two")
	h.WaitPassing("fl-one")
	if e := list("-f", next)["fl-one"]; e.AppVersion != "2.0" || len(e.Drift) != 0 {
		t.Errorf("list after the rollout: got %+v; want app 2.0, no drift", e)
	}
}

// TestFleetViewLive: on a terminal the fleet view redraws one table in place:
// the counts, elapsed and ETA, then the running tenants (with their step)
// before the finished ones.
func TestFleetViewLive(t *testing.T) {
	f, err := fleet.Parse([]byte("tenant \"lv-one\" {}\ntenant \"lv-two\" {}\ntenant \"lv-three\" {}\n"), "tenants.hcl", config.Default())
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	v := newFleetView(&buf, false, true, f)
	v.start()
	v.update(fleet.Update{Tenant: "lv-one", Wave: fleet.WaveCanary, State: fleet.StateRunning})
	v.Event(provision.Event{Tenant: "lv-one", Step: provision.StepDataServices, Phase: provision.PhaseStart})
	v.update(fleet.Update{Tenant: "lv-one", Wave: fleet.WaveCanary, State: fleet.StateConverged, Detail: "converged in 3s"})
	v.update(fleet.Update{Tenant: "lv-two", Wave: fleet.WaveRest, State: fleet.StateRunning})
	v.Event(provision.Event{Tenant: "lv-two", Step: provision.StepMigrations, Phase: provision.PhaseStart})
	v.stop()
	out := buf.String()
	last := out[strings.LastIndex(out, "fleet: "):]
	for _, want := range []string{"1 converged, 1 running, 1 pending of 3", "elapsed", "ETA", "\x1b[2K"} {
		if !strings.Contains(out, want) {
			t.Errorf("live view lacks %q:\n%q", want, out)
		}
	}
	two, one := strings.Index(last, "lv-two"), strings.Index(last, "lv-one")
	if two < 0 || one < 0 || two > one || !strings.Contains(last, "migrations") {
		t.Errorf("last frame: got %q; want lv-two (running, at migrations) above lv-one", last)
	}
}
