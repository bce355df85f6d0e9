package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/provisiontest"
)

// TestRealNomadFleet applies a two-tenant fleet file on a real agent: it
// creates both tenants (one canary), rolls app version 2.0 out to both, then
// tries 3.0, a build that exits at once: the canary's deployment fails,
// Nomad's auto_revert rolls its app back to 2.0, apply exits 5 and the other
// tenant is left untouched on 2.0.
func TestRealNomadFleet(t *testing.T) {
	w := newWorld(t)
	// Without a router address the routing step checks the app's Consul
	// service only: this test is about the fleet, and the router job's
	// template does not render on Nomad 2.0.5 in this tree (its nginx task
	// fails with "wrong type for value; expected string").
	w.writeConfigNoRouter()
	bin := filepath.Join(w.dir, "bin")
	v2 := filepath.Join(bin, "v2", "tenant-app")
	v3 := filepath.Join(bin, "v3", "tenant-app")
	for _, d := range []string{filepath.Dir(v2), filepath.Dir(v3)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	app, err := os.ReadFile(filepath.Join(bin, "tenant-app"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v2, app, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v3, []byte("#!/bin/sh\necho 'tenant-app 3.0: cannot start' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ids := []string{"fleet-a", "fleet-b"}
	file := filepath.Join(w.dir, "tenants.hcl")
	write := func(version string) {
		src := "defaults {\n  profile     = \"exec\"\n  app_version = \"" + version + "\"\n}\n" +
			"app \"1.0\" {\n  binary = \"" + filepath.Join(bin, "tenant-app") + "\"\n}\n" +
			"app \"2.0\" {\n  binary = \"" + v2 + "\"\n}\n" +
			"app \"3.0\" {\n  binary = \"" + v3 + "\"\n}\n"
		for _, id := range ids {
			src += "tenant \"" + id + "\" {}\n"
		}
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	appCommand := func(id string) (string, uint64) {
		t.Helper()
		n := provisiontest.Names(t, id)
		job, _, err := w.real.Client().Jobs().Info(n.JobApp, &nomadapi.QueryOptions{Namespace: n.Namespace})
		if err != nil {
			t.Fatalf("read %s: %v", n.JobApp, err)
		}
		cmd, _ := job.TaskGroups[0].Tasks[0].Config["command"].(string)
		return cmd, *job.Version
	}

	write("1.0")
	if r := w.run("plan", "-f", file); r.code != exit.Changes {
		t.Fatalf("plan -f of a new fleet: got exit %d; want 3\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := w.must("apply", "-f", file, "--canary", "1", "--canary-soak", "5s", "--parallel", "2", "--timeout", "5m")
	report("fleet/create-2-tenants", r.took)
	w.assertHealthy(file, ids...)

	write("2.0")
	r = w.must("apply", "-f", file, "--canary", "1", "--parallel", "2", "--timeout", "5m")
	report("fleet/rollout-2-tenants", r.took)
	for _, id := range ids {
		if cmd, _ := appCommand(id); cmd != v2 {
			t.Errorf("%s after the 2.0 rollout runs %q; want %q", id, cmd, v2)
		}
	}
	w.assertHealthy(file, ids...)
	if r := w.run("plan", "-f", file); r.code != exit.OK {
		t.Errorf("plan -f after the rollout: got exit %d; want 0\n%s", r.code, r.stdout)
	}

	_, before := appCommand("fleet-a")
	write("3.0")
	r = w.run("apply", "-f", file, "--canary", "1", "--parallel", "2", "--timeout", "5m")
	report("fleet/failing-canary", r.took)
	if r.code != exit.Partial {
		t.Fatalf("apply of the broken 3.0: got exit %d; want 5\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"rolling back to job version", "not started (untouched): fleet-b"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("apply of the broken 3.0: stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		cmd, version := appCommand("fleet-a")
		if cmd == v2 && version > before+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fleet-a's app: got %q at version %d; want Nomad's rollback to %q", cmd, version, v2)
		}
		time.Sleep(time.Second)
	}
	if cmd, _ := appCommand("fleet-b"); cmd != v2 {
		t.Errorf("fleet-b: runs %q; want it untouched on %q", cmd, v2)
	}
	w.assertHealthy("", "fleet-b") // healthy; it drifts from the file (3.0) by design
}

// writeConfigNoRouter rewrites the world's tenantctl.hcl without
// router_address and with a progress deadline of one minute.
func (w *world) writeConfigNoRouter() {
	w.t.Helper()
	b, err := os.ReadFile(w.cfgPath)
	if err != nil {
		w.t.Fatal(err)
	}
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "router_address") {
			keep = append(keep, l)
		}
	}
	// A broken build's allocations are rescheduled until the progress
	// deadline (the jobspecs keep Nomad's reschedule policy), so the failing
	// canary's deployment fails then; 1m keeps the test short.
	keep = append(keep, "update {\n  min_healthy_time  = \"5s\"\n  healthy_deadline  = \"30s\"\n  progress_deadline = \"1m\"\n}\n")
	if err := os.WriteFile(w.cfgPath, []byte(strings.Join(keep, "\n")), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// assertHealthy checks with `list --json` (with -f file unless empty) that
// each tenant is healthy and does not drift.
func (w *world) assertHealthy(file string, ids ...string) {
	w.t.Helper()
	args := []string{"list", "--json"}
	if file != "" {
		args = append(args, "-f", file)
	}
	r := w.must(args...)
	var es []struct {
		Tenant string   `json:"tenant"`
		Health string   `json:"health"`
		Drift  []string `json:"drift"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &es); err != nil {
		w.t.Fatalf("list --json: %v: %s", err, r.stdout)
	}
	for _, id := range ids {
		found := false
		for _, e := range es {
			if e.Tenant == id {
				found = true
				if e.Health != "healthy" || len(e.Drift) != 0 {
					w.t.Errorf("list: %s is %q with drift %v; want healthy, no drift", id, e.Health, e.Drift)
				}
			}
		}
		if !found {
			w.t.Errorf("list: no %s", id)
		}
	}
}
