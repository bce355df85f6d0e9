package vault

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

func TestNewPassword(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		p, err := newPassword()
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != passwordLen || strings.Trim(p, passwordAlphabet) != "" {
			t.Fatalf("got %d chars outside [A-Za-z0-9]; want %d URL-safe characters", len(p), passwordLen)
		}
		if seen[p] {
			t.Fatalf("got a repeated password")
		}
		seen[p] = true
	}
}

func TestDiff(t *testing.T) {
	have := map[string]any{
		"ttl":      json.Number("3600"),
		"policies": []any{"b", "a"},
		"claims":   map[string]any{"nomad_namespace": "acme--tenant"},
		"stmts":    []any{"x", "y"},
		"flag":     false,
	}
	same := []field{
		{key: "ttl", value: int64(3600)},
		{key: "policies", value: []string{"a", "b", "a"}, set: true},
		{key: "claims", value: map[string]any{"nomad_namespace": "acme--tenant"}},
		{key: "stmts", value: []string{"x", "y"}},
		{key: "flag", value: false},
		{key: "absent", value: ""},
	}
	if got := diff(have, same); len(got) != 0 {
		t.Errorf("diff of equal values: got %v; want none", got)
	}
	differ := []field{
		{key: "ttl", value: 60},
		{key: "stmts", value: []string{"y", "x"}}, // order matters for statements
		{key: "claims", value: map[string]any{"nomad_namespace": "acme-corp--tenant"}},
		{key: "absent", value: "x"},
	}
	if got := diff(have, differ); len(got) != 4 {
		t.Errorf("diff of different values: got %v; want 4 keys", got)
	}
}

func TestAPIErrorRedactsSecrets(t *testing.T) {
	const secret = "s3cretPASSWORDvalue0123456789abcdefghij"
	re := &vaultapi.ResponseError{HTTPMethod: "PUT", URL: "http://v/v1/database/config/x", StatusCode: 400,
		Errors: []string{"error creating database object: bad password \"" + secret + "\"\n  for user"}}
	err := apiErr("create connection", "database/config/x", re, secret)
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error text %q contains the secret", err.Error())
	}
	if !strings.Contains(err.Error(), "HTTP 400") || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("error text: got %q; want status and a redaction mark", err.Error())
	}
	var ae *APIError
	if !errors.As(err, &ae) || errors.Unwrap(err) != nil {
		t.Errorf("the client's error must not be wrapped: got %#v", err)
	}
	if !IsPermissionDenied(apiErr("x", "y", &vaultapi.ResponseError{StatusCode: 403})) {
		t.Errorf("IsPermissionDenied(403) = false; want true")
	}
}

// TestPolicyIsExactAndComponentScoped checks each component's policy: exact
// paths of its own tenant, read only, and only what the component reads (the
// app never the migrate credentials or the bootstrap secret).
func TestPolicyIsExactAndComponentScoped(t *testing.T) {
	c := New(nil, Mounts{}, nil)
	n := tenant.NamesFor("acme")
	want := map[string][]string{
		"postgres":         {"tenantctl/data/tenants/acme/bootstrap"},
		"redis":            {"tenantctl/data/tenants/acme/bootstrap"},
		"migrate":          {"database/creds/acme--migrate"},
		"app":              {"database/creds/acme--app", "database/creds/acme--redis-app"},
		"worker":           {"database/creds/acme--worker", "database/creds/acme--redis-worker"},
		"backup":           {"database/creds/acme--backup", "database/creds/acme--redis-backup"},
		"restore":          {"database/creds/acme--restore", "database/creds/acme--redis-restore"},
		"scheduled-backup": {"database/creds/acme--scheduled-backup", "database/creds/acme--redis-scheduled-backup"},
	}
	for _, comp := range tenant.Components() {
		text := c.PolicyText(n, comp)
		if strings.Contains(text, "*") || strings.Contains(text, "list") || strings.Contains(text, "acme-corp") {
			t.Errorf("policy of acme's %s has globs, list or another tenant:\n%s", comp.Name, text)
		}
		paths, ok := want[comp.Name]
		if !ok {
			t.Errorf("component %s: no expected policy in this test; add one", comp.Name)
			continue
		}
		if got := strings.Count(text, `capabilities = ["read"]`); got != len(paths) {
			t.Errorf("policy of acme's %s: got %d read paths; want %d:\n%s", comp.Name, got, len(paths), text)
		}
		for _, p := range paths {
			if !strings.Contains(text, `path "`+p+`"`) {
				t.Errorf("policy of acme's %s lacks %s:\n%s", comp.Name, p, text)
			}
		}
	}
}
