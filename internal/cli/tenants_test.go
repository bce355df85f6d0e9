package cli

import (
	"net"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/exit"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestTenantCommandsRefuseBadInputWithExit2(t *testing.T) {
	env := map[string]string{"VAULT_TOKEN": "not-used"}
	tests := []struct {
		name     string
		args     []string
		wantErr  string
		wantHint string
	}{
		{"up without a tenant", []string{"up"}, "needs exactly one tenant id", "tenantctl up acme-corp"},
		{"up with two tenants", []string{"up", "acme", "globex"}, "got 2 arguments", "tenantctl up acme-corp"},
		{"up with a bad id", []string{"up", "Acme!"}, `invalid tenant id "Acme!"`, "acme-corp"},
		{"up with a reserved id", []string{"up", "admin"}, "reserved", "acme-corp"},
		{"up with a hostile name", []string{"up", "acme", "--name", "x\ny"}, "display name", "such as"},
		{"up with a bad plan", []string{"up", "acme", "--plan", "huge"}, "plan", "small"},
		{"plan with a bad host", []string{"plan", "acme", "--host", "a;b"}, "host", "such as"},
		{"down off a terminal without --yes", []string{"down", "acme"}, "needs confirmation", "tenantctl down acme --yes"},
		{"rotate with an unknown flag", []string{"rotate", "acme", "--frobnicate"}, "unknown flag", "tenantctl rotate --help"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, env, tt.args...)
			if r.code != exit.Usage {
				t.Fatalf("exit code = %d; want %d (stderr %q)", r.code, exit.Usage, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.wantErr) || !strings.Contains(r.stderr, "Try: ") || !strings.Contains(r.stderr, tt.wantHint) {
				t.Fatalf("stderr = %q; want %q and a Try: line with %q", r.stderr, tt.wantErr, tt.wantHint)
			}
		})
	}
}

func TestUpWithoutVaultTokenSaysHow(t *testing.T) {
	r := runCLI(t, map[string]string{}, "up", "acme")
	if r.code != exit.Usage || !strings.Contains(r.stderr, "Try: set VAULT_TOKEN") {
		t.Fatalf("code %d, stderr %q; want exit 2 with a VAULT_TOKEN hint", r.code, r.stderr)
	}
}

func TestUpAgainstUnreachableClusterExits4(t *testing.T) {
	env := map[string]string{
		"NOMAD_ADDR":       "http://" + closedAddr(t),
		"CONSUL_HTTP_ADDR": closedAddr(t),
		"VAULT_ADDR":       "http://" + closedAddr(t),
		"VAULT_TOKEN":      "not-a-real-token",
	}
	for _, args := range [][]string{{"up", "acme"}, {"status", "acme"}, {"rotate", "acme"}, {"down", "acme", "--yes"}} {
		r := runCLI(t, env, args...)
		if r.code != exit.Unreachable {
			t.Errorf("%v: exit code = %d; want %d (stderr %q)", args, r.code, exit.Unreachable, r.stderr)
			continue
		}
		if !strings.Contains(r.stderr, "Try: ") {
			t.Errorf("%v: stderr = %q; want a Try: line", args, r.stderr)
		}
		if strings.Contains(r.stderr+r.stdout, "not-a-real-token") {
			t.Errorf("%v: the Vault token was printed", args)
		}
	}
}
