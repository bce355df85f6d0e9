package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/provisiontest"
	"github.com/tenantctl/tenantctl/internal/testenv"
)

// TestUpKeepsRecordedSpec: a tenant created with --host, --plan, --name and
// --profile keeps them when up and plan run without flags (real Vault and
// Consul, the Nomad double); a changed flag shows in plan and up; a profile
// switch, an invalid or different `down --profile` and a display name with
// "${" are refused with Error:/Try: and change nothing.
func TestUpKeepsRecordedSpec(t *testing.T) {
	h := provisiontest.New(t)
	h.AddTenant("keep")
	env := h.CLIEnv()
	type want struct {
		code           exit.Code
		stdout, stderr string // substrings; "" for any
	}
	run := func(w want, args ...string) string {
		t.Helper()
		code, stdout, stderr := runCLI(t, env, args...).parts()
		if code != w.code {
			t.Fatalf("tenantctl %s: got exit %d; want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, w.code, stdout, stderr)
		}
		if !strings.Contains(stdout, w.stdout) {
			t.Errorf("tenantctl %s: got stdout %q; want it to contain %q", strings.Join(args, " "), stdout, w.stdout)
		}
		if !strings.Contains(stderr, w.stderr) {
			t.Errorf("tenantctl %s: got stderr %q; want it to contain %q", strings.Join(args, " "), stderr, w.stderr)
		}
		if w.code == exit.Usage && (!strings.Contains(stderr, "Error: ") || !strings.Contains(stderr, "\nTry: ")) {
			t.Errorf("tenantctl %s: got stderr %q; want Error: and Try: lines", strings.Join(args, " "), stderr)
		}
		return stdout
	}

	run(want{code: exit.OK, stdout: "keep: up"}, "up", "keep", "--profile", "exec", "--host", "shop.keep-customer.test",
		"--plan", "medium", "--name", "Keep Co", "--timeout", "2m")
	h.WaitPassing("keep")
	waitAppInstances(t, "keep--app", 2) // plan medium: two app instances
	before := h.Snapshot("keep")

	// No flags: the recorded spec, not the defaults (docker, small, the id,
	// keep.<base_domain>).
	run(want{code: exit.OK}, "plan", "keep")
	run(want{code: exit.OK, stdout: "no changes"}, "up", "keep")
	run(want{code: exit.OK, stdout: "host shop.keep-customer.test  plan medium  profile exec"}, "status", "keep")
	if after := h.Snapshot("keep"); after != before {
		t.Fatalf("up without flags changed the tenant:\nbefore %s\nafter  %s", before, after)
	}

	// A changed flag is a visible change in plan.
	run(want{code: exit.Changes, stdout: `tenant keep: plan "medium" → "large"`}, "plan", "keep", "--plan", "large")
	run(want{code: exit.Changes, stdout: `tenant keep: host "shop.keep-customer.test" → "keep.tenants.localhost.test"`},
		"plan", "keep", "--host", "keep.tenants.localhost.test")

	// Refused, changing nothing.
	run(want{code: exit.Usage, stderr: "runs the exec profile, not docker"}, "up", "keep", "--profile", "docker")
	run(want{code: exit.Usage, stderr: "runs the exec profile, not docker"}, "plan", "keep", "--profile", "docker")
	run(want{code: exit.Usage, stderr: "profile"}, "down", "keep", "--yes", "--profile", "podman")
	run(want{code: exit.Usage, stderr: "runs the exec profile, not docker"}, "down", "keep", "--yes", "--profile", "docker", "--purge-data")
	run(want{code: exit.Usage, stderr: `"${"`}, "up", "keep", "--name", "Keep ${node.unique.name}")
	if after := h.Snapshot("keep"); after != before {
		t.Fatalf("a refused command changed the tenant:\nbefore %s\nafter  %s", before, after)
	}

	// A changed flag is a visible change in up, and the other fields stay.
	run(want{code: exit.OK, stdout: `changed name "Keep Co" → "Keep Corp"`}, "up", "keep", "--name", "Keep Corp", "--timeout", "2m")
	h.WaitPassing("keep")
	out := run(want{code: exit.OK}, "status", "keep", "--json")
	for _, s := range []string{`"name":"Keep Corp"`, `"host":"shop.keep-customer.test"`, `"plan":"medium"`, `"profile":"exec"`} {
		if !strings.Contains(out, s) {
			t.Errorf("status --json after up --name: got %s; want it to contain %s", out, s)
		}
	}
	run(want{code: exit.OK, stdout: "keep: removed"}, "down", "keep", "--yes")
	h.AssertGone("keep")
}

// waitAppInstances waits until service has n passing instances in Consul.
func waitAppInstances(t *testing.T, service string, n int) {
	t.Helper()
	c := testenv.SharedConsul(t).Client(t)
	deadline := time.Now().Add(60 * time.Second)
	for {
		es, _, err := c.Health().Service(service, "", true, nil)
		if err == nil && len(es) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("service %s: got %d passing instances (%v) within 60s; want %d", service, len(es), err, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
