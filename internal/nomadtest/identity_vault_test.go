package nomadtest_test

import (
	"testing"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
	"github.com/tenantctl/tenantctl/internal/testenv"
)

// TestMintedIdentityLogsInToRealVault configures a real Vault's jwt auth
// with the double's jwks_url, as `tenantctl cluster init` does for Nomad, and
// logs in with a minted task identity.
func TestMintedIdentityLogsInToRealVault(t *testing.T) {
	v := testenv.SharedVault(t)
	vc := v.Client(t)
	srv := nomadtest.New(t)
	mount := "jwt-nomadtest"
	if err := vc.Sys().EnableAuthWithOptions(mount, &vaultapi.EnableAuthOptions{Type: "jwt"}); err != nil {
		t.Fatalf("enable jwt auth: %v", err)
	}
	t.Cleanup(func() { vc.Sys().DisableAuth(mount) })
	if _, err := vc.Logical().Write("auth/"+mount+"/config", map[string]any{
		"jwks_url":           srv.JWKSURL(),
		"jwt_supported_algs": []string{"RS256"},
		"default_role":       "t-acme",
	}); err != nil {
		t.Fatalf("configure jwt auth: %v", err)
	}
	if _, err := vc.Logical().Write("auth/"+mount+"/role/t-acme", map[string]any{
		"role_type":               "jwt",
		"bound_audiences":         []string{"vault.io"},
		"user_claim":              "/nomad_job_id",
		"user_claim_json_pointer": true,
		"bound_claims":            map[string]any{"nomad_namespace": "t-acme"},
		"claim_mappings":          map[string]any{"nomad_namespace": "nomad_namespace", "nomad_job_id": "nomad_job_id", "nomad_task": "nomad_task"},
		"token_type":              "service",
		"token_policies":          []string{"default"},
		"token_period":            "30m",
	}); err != nil {
		t.Fatalf("write role: %v", err)
	}
	jwt, err := srv.MintIdentity(nomadtest.WorkloadClaims{Namespace: "t-acme", JobID: "acme-app", Group: "app", Task: "server", Identity: "vault_default"})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := vc.Logical().Write("auth/"+mount+"/login", map[string]any{"role": "t-acme", "jwt": jwt})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if secret.Auth == nil || secret.Auth.ClientToken == "" || secret.Auth.Metadata["nomad_task"] != "server" {
		t.Errorf("got auth %+v; want a token with nomad_task=server metadata", secret.Auth)
	}

	other, err := srv.MintIdentity(nomadtest.WorkloadClaims{Namespace: "t-other", JobID: "x", Task: "server"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vc.Logical().Write("auth/"+mount+"/login", map[string]any{"role": "t-acme", "jwt": other}); err == nil {
		t.Errorf("got a login for another namespace's identity; want it refused by bound_claims")
	}
}
