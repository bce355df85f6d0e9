package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/exit"
)

// result is what one tenantctl invocation did.
type result struct {
	code           exit.Code
	stdout, stderr string
	err            error
}

// runCLI runs tenantctl with args and an environment given as a map (nil
// for none): the one way the tests run the CLI.
func runCLI(tb testing.TB, env map[string]string, args ...string) result {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string { return env[k] }
	err := Run(context.Background(), append([]string{"tenantctl"}, args...),
		Streams{Stdout: &stdout, Stderr: &stderr, Getenv: getenv})
	return result{code: exit.CodeOf(err), stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// parts returns the exit code, stdout and stderr.
func (r result) parts() (exit.Code, string, string) { return r.code, r.stdout, r.stderr }

// hiding fails the test when stdout or stderr shows secret (when it is not
// empty), then returns the parts.
func (r result) hiding(tb testing.TB, secret string) (exit.Code, string, string) {
	tb.Helper()
	if secret != "" && (strings.Contains(r.stdout, secret) || strings.Contains(r.stderr, secret)) {
		tb.Errorf("tenantctl printed a secret:\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
	}
	return r.parts()
}

func TestHelpListsCommandsAndExitCodes(t *testing.T) {
	r := runCLI(t, nil, "--help")
	if r.code != exit.OK {
		t.Fatalf("exit code = %d; want 0 (stderr %q)", r.code, r.stderr)
	}
	for _, want := range []string{"version", "completion", "EXIT CODES", "--nomad-addr", "NOMAD_ADDR", "VAULT_TOKEN"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	for _, e := range exit.Table {
		if !strings.Contains(r.stdout, e.Meaning) {
			t.Errorf("help lacks exit code %d (%s)", e.Code, e.Meaning)
		}
	}
}

func TestVersionJSON(t *testing.T) {
	r := runCLI(t, nil, "version", "--json")
	if r.code != exit.OK {
		t.Fatalf("exit code = %d; want 0", r.code)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("version --json is not JSON: %v\n%s", err, r.stdout)
	}
	systems := map[string]string{}
	for _, s := range v.Supports {
		systems[s.System] = s.Minimum
	}
	if systems["nomad"] == "" || systems["consul"] == "" || systems["vault"] == "" {
		t.Fatalf("supports = %v; want nomad, consul and vault", systems)
	}
	// The global --json works too.
	if r := runCLI(t, nil, "--json", "version"); !json.Valid([]byte(r.stdout)) {
		t.Fatalf("tenantctl --json version printed %q; want JSON", r.stdout)
	}
}

func TestUsageErrorsExit2WithAHint(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantErr  string
		wantHint string
	}{
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`, "tenantctl --help"},
		{"unknown global flag", []string{"--frobnicate"}, "flag provided but not defined", "tenantctl --help"},
		{"unknown command flag", []string{"version", "--frobnicate"}, "flag provided but not defined", "tenantctl version --help"},
		{"completion without a shell", []string{"completion"}, "completion needs a shell", "tenantctl completion bash"},
		{"bad log level", []string{"--log-level", "loud", "version"}, `invalid --log-level "loud"`, "debug, info, warn, error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, nil, tt.args...)
			if r.code != exit.Usage {
				t.Fatalf("exit code = %d; want %d (stderr %q)", r.code, exit.Usage, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if len(lines) < 2 || !strings.HasPrefix(lines[len(lines)-2], "Error: ") || !strings.HasPrefix(lines[len(lines)-1], "Try: ") {
				t.Fatalf("stderr = %q; want it to end with an Error: line and a Try: line", r.stderr)
			}
			if !strings.Contains(r.stderr, tt.wantErr) || !strings.Contains(r.stderr, tt.wantHint) {
				t.Fatalf("stderr = %q; want %q and hint %q", r.stderr, tt.wantErr, tt.wantHint)
			}
			if r.stdout != "" && !strings.Contains(r.stdout, "USAGE") {
				t.Fatalf("stdout = %q; want nothing but usage on a usage error", r.stdout)
			}
		})
	}
}

func TestEnvironmentFillsGlobalFlags(t *testing.T) {
	var got globalOptions
	a := &app{Streams: Streams{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: func(k string) string {
		return map[string]string{"NOMAD_ADDR": "http://127.0.0.1:1", "VAULT_TOKEN": "from-env", "CONSUL_HTTP_ADDR": "127.0.0.1:2"}[k]
	}}}
	app := a.cliApp()
	app.Commands = append(app.Commands, probeCommand(&got, a))
	if err := app.RunContext(context.Background(), []string{"tenantctl", "--vault-token", "from-flag", "probe"}); err != nil {
		t.Fatalf("run: %v", err)
	}
	if got.NomadAddr != "http://127.0.0.1:1" || got.ConsulAddr != "127.0.0.1:2" {
		t.Errorf("addresses = %q, %q; want them from the environment", got.NomadAddr, got.ConsulAddr)
	}
	if got.VaultToken != "from-flag" {
		t.Errorf("vault token = %q; want the flag to win over the environment", got.VaultToken)
	}
}

func TestExitCodeOfErrors(t *testing.T) {
	tests := []struct {
		err  error
		want exit.Code
	}{
		{nil, exit.OK},
		{context.Canceled, exit.Failure},
		{exit.New(exit.Changes, "", "plan has changes"), exit.Changes},
		{exit.New(exit.Unreachable, "check NOMAD_ADDR", "nomad unreachable"), exit.Unreachable},
		{exit.Wrap(exit.New(exit.Locked, "wait", "locked"), exit.Partial, "re-run"), exit.Partial},
	}
	for _, tt := range tests {
		if got := exit.CodeOf(tt.err); got != tt.want {
			t.Errorf("CodeOf(%v) = %d; want %d", tt.err, got, tt.want)
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		r := runCLI(t, nil, "completion", shell)
		if r.code != exit.OK || !strings.Contains(r.stdout, "tenantctl") {
			t.Errorf("completion %s: code %d, output %q", shell, r.code, r.stdout)
		}
	}
}
