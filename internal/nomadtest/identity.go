package nomadtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// IdentitySigner mints the workload-identity JWTs a Nomad agent hands to tasks
// and publishes the matching public key set, so tests can log in to a real
// Vault's jwt auth method with a token shaped like Nomad's.
type IdentitySigner struct {
	key  *rsa.PrivateKey
	kid  string
	jwks []byte
	now  func() time.Time
}

// WorkloadClaims describes the task a workload identity is minted for.
type WorkloadClaims struct {
	// Namespace is the Nomad namespace of the job; empty means "default".
	Namespace string
	// JobID is the job's ID.
	JobID string
	// Group is the task group name.
	Group string
	// Task is the task name.
	Task string
	// AllocID is the allocation ID; a random one is used when empty.
	AllocID string
	// Audience is the "aud" claim; empty means ["vault.io"].
	Audience []string
	// TTL is the token lifetime; zero means one hour.
	TTL time.Duration
	// Identity is the identity name used as the last segment of "sub"; empty
	// means "default".
	Identity string
}

// NewIdentitySigner returns a signer with a fresh 2048-bit RSA key.
func NewIdentitySigner() (*IdentitySigner, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("nomadtest: generate identity key: %w", err)
	}
	sum := sha256.Sum256(key.PublicKey.N.Bytes())
	s := &IdentitySigner{key: key, kid: hex.EncodeToString(sum[:8]), now: time.Now}
	b64 := base64.RawURLEncoding
	set := map[string]any{"keys": []map[string]string{{
		"kty": "RSA",
		"use": "sig",
		"alg": "RS256",
		"kid": s.kid,
		"n":   b64.EncodeToString(key.PublicKey.N.Bytes()),
		"e":   b64.EncodeToString(big.NewInt(int64(key.PublicKey.E)).Bytes()),
	}}}
	s.jwks, err = json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("nomadtest: encode jwks: %w", err)
	}
	return s, nil
}

// JWKS returns the JSON Web Key Set served at /.well-known/jwks.json.
func (s *IdentitySigner) JWKS() []byte {
	out := make([]byte, len(s.jwks))
	copy(out, s.jwks)
	return out
}

// KeyID returns the "kid" of the signing key.
func (s *IdentitySigner) KeyID() string { return s.kid }

// PublicKey returns the public half of the signing key.
func (s *IdentitySigner) PublicKey() *rsa.PublicKey { return &s.key.PublicKey }

// Mint returns an RS256-signed JWT carrying the claims Nomad puts in a task's
// workload identity: nomad_namespace, nomad_job_id, nomad_task,
// nomad_allocation_id, sub, aud, iat, nbf and exp, with the key id in the
// "kid" header.
func (s *IdentitySigner) Mint(c WorkloadClaims) (string, error) {
	if c.JobID == "" || c.Task == "" {
		return "", fmt.Errorf("nomadtest: mint identity: job id and task are required")
	}
	ns := c.Namespace
	if ns == "" {
		ns = "default"
	}
	group := c.Group
	if group == "" {
		group = c.Task
	}
	aud := c.Audience
	if len(aud) == 0 {
		aud = []string{"vault.io"}
	}
	ttl := c.TTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	alloc := c.AllocID
	if alloc == "" {
		alloc = newUUID()
	}
	ident := c.Identity
	if ident == "" {
		ident = "default"
	}
	now := s.now().Truncate(time.Second)
	claims := jwt.MapClaims{
		"nomad_namespace":     ns,
		"nomad_job_id":        c.JobID,
		"nomad_task":          c.Task,
		"nomad_allocation_id": alloc,
		"sub":                 strings.Join([]string{"global", ns, c.JobID, group, c.Task, ident}, ":"),
		"aud":                 aud,
		"iat":                 now.Unix(),
		"nbf":                 now.Unix(),
		"exp":                 now.Add(ttl).Unix(),
		"jti":                 newUUID(),
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = s.kid
	signed, err := tok.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("nomadtest: sign identity: %w", err)
	}
	return signed, nil
}

// newUUID returns a random RFC 4122 version 4 UUID string, the form Nomad
// uses for evaluation, allocation and deployment IDs.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("nomadtest: read random: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
