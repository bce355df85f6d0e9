package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/provisiontest"
)

// TestCLIExitCodes drives `tenantctl up`, `plan`, `status` and `down` end to
// end against the provisioning harness (real Vault and Consul, the Nomad
// double) and checks their exit codes and what they say.
func TestCLIExitCodes(t *testing.T) {
	h := provisiontest.New(t)
	h.AddTenant("cli")
	steps := []struct {
		args       []string
		code       exit.Code
		stdout     string // substring of stdout
		stderr     string // substring of stderr
		afterwards func()
	}{
		{args: []string{"plan", "cli", "--profile", "exec"}, code: exit.Changes, stdout: "cli--app"},
		{args: []string{"up", "cli", "--profile", "exec", "--timeout", "2m"}, code: exit.OK, stdout: "cli: up", stderr: "cli: record",
			afterwards: func() { h.WaitPassing("cli") }},
		{args: []string{"plan", "cli", "--profile", "exec"}, code: exit.OK, stdout: "cli--worker"},
		{args: []string{"up", "cli", "--profile", "exec"}, code: exit.OK, stdout: "no changes"},
		{args: []string{"status", "cli"}, code: exit.OK, stdout: "status ready"},
		{args: []string{"down", "cli"}, code: exit.Usage, stderr: "--yes"},
		{args: []string{"down", "cli", "--yes"}, code: exit.OK, stdout: "cli: removed"},
		{args: []string{"status", "cli"}, code: exit.Usage, stderr: "does not exist"},
		{args: []string{"down", "cli", "--yes"}, code: exit.OK, stdout: "nothing to remove"},
	}
	for _, s := range steps {
		code, stdout, stderr := runCLI(t, h.CLIEnv(), s.args...).parts()
		if code != s.code {
			t.Fatalf("tenantctl %s: got exit %d; want %d\nstdout: %s\nstderr: %s", strings.Join(s.args, " "), code, s.code, stdout, stderr)
		}
		if !strings.Contains(stdout, s.stdout) {
			t.Errorf("tenantctl %s: got stdout %q; want it to contain %q", strings.Join(s.args, " "), stdout, s.stdout)
		}
		if !strings.Contains(stderr, s.stderr) {
			t.Errorf("tenantctl %s: got stderr %q; want it to contain %q", strings.Join(s.args, " "), stderr, s.stderr)
		}
		if s.afterwards != nil {
			s.afterwards()
		}
	}
	h.AssertGone("cli")
}

// TestJSONFlagAfterTenantID: `up <tenant> --json`, the documented form,
// streams JSON events on stdout (not human progress on stderr), then the
// result; every stdout line is one JSON object.
func TestJSONFlagAfterTenantID(t *testing.T) {
	h := provisiontest.New(t)
	h.AddTenant("jsonflag")
	code, stdout, stderr := runCLI(t, h.CLIEnv(), "up", "jsonflag", "--profile", "exec", "--json", "--timeout", "2m").parts()
	if code != exit.OK {
		t.Fatalf("up --json: got exit %d; want 0\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	events := 0
	for _, l := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("up --json: stdout line %q is not JSON: %v", l, err)
		}
		if obj["step"] != nil && obj["phase"] != nil {
			events++
		}
	}
	if events < 5 {
		t.Errorf("up --json: got %d step events on stdout; want one per step phase", events)
	}
	if strings.Contains(stderr, "jsonflag: record") {
		t.Errorf("up --json: human progress went to stderr: %q", stderr)
	}
	h.WaitPassing("jsonflag")
	if code, _, stderr := runCLI(t, h.CLIEnv(), "down", "jsonflag", "--yes", "--profile", "exec").parts(); code != exit.OK {
		t.Fatalf("down: got exit %d; stderr %s", code, stderr)
	}
}
