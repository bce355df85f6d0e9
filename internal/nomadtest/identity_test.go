package nomadtest

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func TestIdentitySignerMintVerifiesAgainstJWKS(t *testing.T) {
	s, err := NewIdentitySigner()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.Mint(WorkloadClaims{Namespace: "t-acme", JobID: "acme-app", Group: "app", Task: "server", AllocID: "a1"})
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct{ Kid, Kty, Alg, N, E string }
	}
	if err := json.Unmarshal(s.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || set.Keys[0].Alg != "RS256" || set.Keys[0].Kty != "RSA" {
		t.Fatalf("got jwks %s; want one RS256 RSA key", s.JWKS())
	}
	n, _ := base64.RawURLEncoding.DecodeString(set.Keys[0].N)
	e, _ := base64.RawURLEncoding.DecodeString(set.Keys[0].E)
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	tok, err := jwt.Parse(raw, func(tok *jwt.Token) (any, error) {
		if tok.Header["kid"] != set.Keys[0].Kid {
			t.Errorf("got kid %v; want %s", tok.Header["kid"], set.Keys[0].Kid)
		}
		return pub, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience("vault.io"))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	claims := tok.Claims.(jwt.MapClaims)
	want := map[string]string{
		"nomad_namespace":     "t-acme",
		"nomad_job_id":        "acme-app",
		"nomad_task":          "server",
		"nomad_allocation_id": "a1",
		"sub":                 "global:t-acme:acme-app:app:server:default",
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s: got %v; want %s", k, claims[k], v)
		}
	}
	for _, k := range []string{"iat", "nbf", "exp"} {
		if _, ok := claims[k]; !ok {
			t.Errorf("claim %s: missing", k)
		}
	}
}
