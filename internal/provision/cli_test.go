package provision_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/cli"
	"github.com/tenantctl/tenantctl/internal/exit"
)

// tenantctl runs the CLI against the harness with the ecosystem's
// environment variables and returns its exit code and output.
func (h *harness) tenantctl(args ...string) (exit.Code, string, string) {
	env := map[string]string{
		"NOMAD_ADDR":       h.nomad.Addr(),
		"CONSUL_HTTP_ADDR": h.consulProxy.URL(),
		"VAULT_ADDR":       h.vaultProxy.URL(),
		"VAULT_TOKEN":      h.vault.Token,
	}
	var stdout, stderr bytes.Buffer
	err := cli.Run(context.Background(), append([]string{"tenantctl"}, args...), cli.Streams{
		Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] },
	})
	code := exit.OK
	if err != nil {
		code = exit.CodeOf(err)
	}
	return code, stdout.String(), stderr.String()
}

// TestCLIExitCodes drives `tenantctl up`, `plan` and `down` end to end and
// checks their exit codes and what they say.
func TestCLIExitCodes(t *testing.T) {
	h := newHarness(t)
	h.hooksFor("cli")
	steps := []struct {
		args       []string
		code       exit.Code
		stdout     string // substring of stdout
		stderr     string // substring of stderr
		afterwards func()
	}{
		{args: []string{"plan", "cli", "--profile", "exec"}, code: exit.Changes, stdout: "cli--app"},
		{args: []string{"up", "cli", "--profile", "exec", "--timeout", "2m"}, code: exit.OK, stdout: "cli: up", stderr: "cli: record",
			afterwards: func() { h.waitPassing("cli") }},
		{args: []string{"plan", "cli", "--profile", "exec"}, code: exit.OK, stdout: "cli--worker"},
		{args: []string{"up", "cli", "--profile", "exec"}, code: exit.OK, stdout: "no changes"},
		{args: []string{"status", "cli"}, code: exit.OK, stdout: "status ready"},
		{args: []string{"down", "cli"}, code: exit.Usage, stderr: "--yes"},
		{args: []string{"down", "cli", "--yes"}, code: exit.OK, stdout: "cli: removed"},
		{args: []string{"status", "cli"}, code: exit.Usage, stderr: "does not exist"},
		{args: []string{"down", "cli", "--yes"}, code: exit.OK, stdout: "nothing to remove"},
	}
	for _, s := range steps {
		code, stdout, stderr := h.tenantctl(s.args...)
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
	h.assertGone("cli")
}
