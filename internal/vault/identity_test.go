package vault_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// signer mints workload identities shaped like Nomad's (the claims of
// internal/nomadtest's IdentitySigner). It is local to these tests so they do
// not depend on the whole Nomad double.
type signer struct {
	key *rsa.PrivateKey
}

// workload is the task an identity is minted for.
type workload struct {
	Namespace, JobID, Task string
	Audience               []string
}

func newSigner(t testing.TB) *signer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &signer{key: key}
}

// JWKS returns the key set Nomad serves at /.well-known/jwks.json.
func (s *signer) JWKS() []byte {
	b64 := base64.RawURLEncoding
	b, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "test",
		"n": b64.EncodeToString(s.key.PublicKey.N.Bytes()),
		"e": b64.EncodeToString(big.NewInt(int64(s.key.PublicKey.E)).Bytes()),
	}}})
	return b
}

// Mint returns a signed workload identity.
func (s *signer) Mint(w workload) (string, error) {
	aud := w.Audience
	if len(aud) == 0 {
		aud = []string{"vault.io"}
	}
	now := time.Now().Truncate(time.Second)
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"nomad_namespace":     w.Namespace,
		"nomad_job_id":        w.JobID,
		"nomad_task":          w.Task,
		"nomad_allocation_id": "5a2b6a4e-0000-4000-8000-000000000001",
		"sub":                 strings.Join([]string{"global", w.Namespace, w.JobID, w.Task, w.Task, "vault_default"}, ":"),
		"aud":                 aud,
		"iat":                 now.Unix(),
		"nbf":                 now.Unix(),
		"exp":                 now.Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = "test"
	return tok.SignedString(s.key)
}
