package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/testenv"
)

func TestClusterInit(t *testing.T) {
	v := testenv.StartVault(t)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	t.Cleanup(jwks.Close)
	env := map[string]string{"VAULT_ADDR": v.Addr, "VAULT_TOKEN": v.Token, "NOMAD_ADDR": jwks.URL}

	r := runCLI(t, env, "cluster", "init", "--dry-run")
	if r.code != exit.OK || !strings.Contains(r.stdout, "would enable sys/auth/jwt-nomad") || !strings.Contains(r.stdout, "4 changes not made") {
		t.Fatalf("dry run: got code %d, stdout %q, stderr %q; want 4 planned changes", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, env, "cluster", "init", "--dry-run", "--json")
	var res clusterInitResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || !res.DryRun || len(res.Changes) != 4 {
		t.Fatalf("dry run --json: got %q (%v); want 4 changes", r.stdout, err)
	}

	r = runCLI(t, env, "cluster", "init")
	if r.code != exit.OK || strings.Count(r.stdout, "\n") != 4 || !strings.Contains(r.stdout, "configure auth/jwt-nomad/config: jwks_url="+jwks.URL+"/.well-known/jwks.json") {
		t.Fatalf("init: got code %d, stdout %q, stderr %q; want 4 changes", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, env, "cluster", "init")
	if r.code != exit.OK || r.stdout != "Vault: no changes\n" {
		t.Fatalf("second init: got code %d, stdout %q; want no changes", r.code, r.stdout)
	}
	if strings.Contains(r.stdout+r.stderr, v.Token) {
		t.Errorf("the Vault token appears in tenantctl's output")
	}
}

func TestClusterInitErrors(t *testing.T) {
	r := runCLI(t, map[string]string{"VAULT_ADDR": "http://127.0.0.1:1"}, "cluster", "init")
	if r.code != exit.Usage || !strings.Contains(r.stderr, "Try: set VAULT_TOKEN") {
		t.Errorf("without a token: got code %d, stderr %q; want 2 with a hint", r.code, r.stderr)
	}
	r = runCLI(t, map[string]string{"VAULT_ADDR": "http://127.0.0.1:1", "VAULT_TOKEN": "x"}, "cluster", "init", "--nomad-jwks-url", "http://127.0.0.1:1/jwks")
	if r.code != exit.Unreachable || !strings.Contains(r.stderr, "Try: check that Vault answers at http://127.0.0.1:1") {
		t.Errorf("unreachable Vault: got code %d, stderr %q; want 4 with a hint", r.code, r.stderr)
	}
	r = runCLI(t, map[string]string{"VAULT_TOKEN": "x"}, "cluster", "init", "--nomad-jwks-url", "ftp://x")
	if r.code != exit.Usage {
		t.Errorf("bad JWKS URL: got code %d, stderr %q; want 2", r.code, r.stderr)
	}
}
