// Package vault is tenantctl's adapter over github.com/hashicorp/vault/api.
//
// It owns every Vault object of a tenant: the bootstrap admin passwords in KV
// v2, one ACL policy and one role in the Nomad workload-identity jwt auth
// mount per component (tenant.Components), and the database secrets engine
// connections and roles for the tenant's Postgres and Redis. It also configures the cluster-wide mounts
// (`tenantctl cluster init`).
//
// Methods that create things are idempotent Ensure… methods: they read first,
// write only on a difference and report whether they changed anything, so a
// converged tenant costs reads only. Secret values (passwords, tokens) never
// reach logs or error text: errors from Vault are rebuilt from their status
// and messages with every secret involved in the request redacted.
package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/tenantctl/tenantctl/internal/exit"
)

// Causes of Vault errors whose remedy is the front end's to word (how the
// user gives tenantctl Vault's address and token): see exit.Cause.
const (
	// CauseUnreachable: Vault did not answer at its address.
	CauseUnreachable exit.Cause = "vault-unreachable"
	// CauseForbidden: Vault refused the token, or the token may not list
	// what preflight checks.
	CauseForbidden exit.Cause = "vault-forbidden"
)

// Mounts are the paths of the mounts tenantctl uses, without slashes.
type Mounts struct {
	// JWT is the jwt auth mount for Nomad workload identities.
	JWT string
	// KV is the KV version 2 mount holding bootstrap secrets.
	KV string
	// Database is the database secrets engine mount.
	Database string
}

// DefaultMounts returns the default mount paths: jwt-nomad, tenantctl and
// database.
func DefaultMounts() Mounts {
	return Mounts{JWT: "jwt-nomad", KV: "tenantctl", Database: "database"}
}

// withDefaults fills empty paths with the defaults and trims slashes.
func (m Mounts) withDefaults() Mounts {
	d := DefaultMounts()
	pick := func(v, def string) string {
		v = strings.Trim(v, "/")
		if v == "" {
			return def
		}
		return v
	}
	return Mounts{JWT: pick(m.JWT, d.JWT), KV: pick(m.KV, d.KV), Database: pick(m.Database, d.Database)}
}

// TTLs are the lifetimes of what Vault issues to a tenant's workloads.
type TTLs struct {
	// CredsDefault and CredsMax bound dynamic Postgres and Redis credentials.
	CredsDefault time.Duration
	CredsMax     time.Duration
	// TokenPeriod is the period of the renewable tokens the JWT role issues.
	TokenPeriod time.Duration
}

// DefaultTTLs returns one hour and 24 hours for credentials and a 30 minute
// token period.
func DefaultTTLs() TTLs {
	return TTLs{CredsDefault: time.Hour, CredsMax: 24 * time.Hour, TokenPeriod: 30 * time.Minute}
}

// Client manages tenants' Vault objects. It is safe for concurrent use by
// different tenants.
type Client struct {
	api    *vaultapi.Client
	mounts Mounts
	ttls   TTLs
	log    *slog.Logger
	// markerMu serialises writes of the bootstrap secret's metadata; copies
	// made by With… share it.
	markerMu *sync.Mutex
	// readOnly refuses every write with ErrWouldWrite (see ReadOnly).
	readOnly bool
}

// ErrWouldWrite is wrapped by the error of every method of a read-only
// Client (see ReadOnly) that would have to change Vault, or a tenant's
// database, to do its work.
var ErrWouldWrite = errors.New("read-only: a write would be needed")

// ReadOnly returns a copy of c that only reads. Its Ensure… methods compare
// as usual and, where they would write, return an error wrapping
// ErrWouldWrite instead, before anything is sent: no Vault write, no database
// bootstrap. On a converged tenant they succeed and report no change. The
// converged check of `up` runs the very same Ensure… methods over it, so "what
// should exist" has one implementation and two modes. Reads Vault serves over
// POST (sys/capabilities-self) still work.
func (c *Client) ReadOnly() *Client {
	cp := *c
	cp.readOnly = true
	return &cp
}

// refuseWrite returns the ErrWouldWrite error of op on path when c is
// read-only, else nil.
func (c *Client) refuseWrite(op, path string) error {
	if !c.readOnly {
		return nil
	}
	return fmt.Errorf("vault: %s %s: %w", op, path, ErrWouldWrite)
}

// MaxIdleConns is how many idle connections to Vault a client built from
// DefaultConfig keeps for reuse. The api package keeps GOMAXPROCS+1, which a
// fleet apply at --parallel 16 overflows, opening a new connection for most
// requests.
const MaxIdleConns = 64

// DefaultConfig is vaultapi.DefaultConfig (which reads the VAULT_*
// variables) with an idle pool of MaxIdleConns connections.
func DefaultConfig() *vaultapi.Config {
	cfg := vaultapi.DefaultConfig()
	if cfg.HttpClient != nil {
		if tr, ok := cfg.HttpClient.Transport.(*http.Transport); ok {
			tr.MaxIdleConnsPerHost = MaxIdleConns
		}
	}
	return cfg
}

// New returns a Client over api using the given mounts (empty fields take
// the defaults) and default TTLs. A nil logger discards logs.
func New(api *vaultapi.Client, mounts Mounts, logger *slog.Logger) *Client {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Client{api: api, mounts: mounts.withDefaults(), ttls: DefaultTTLs(), log: logger, markerMu: &sync.Mutex{}}
}

// WithTTLs returns a copy of c that issues credentials and tokens with ttls;
// zero fields keep their defaults.
func (c *Client) WithTTLs(ttls TTLs) *Client {
	d := DefaultTTLs()
	if ttls.CredsDefault <= 0 {
		ttls.CredsDefault = d.CredsDefault
	}
	if ttls.CredsMax <= 0 {
		ttls.CredsMax = d.CredsMax
	}
	if ttls.TokenPeriod <= 0 {
		ttls.TokenPeriod = d.TokenPeriod
	}
	cp := *c
	cp.ttls = ttls
	return &cp
}

// Log attribute names.
const (
	attrPath   = "path"
	attrTenant = "tenant"
	attrAction = "action"
	attrCount  = "count"
	attrFields = "fields"
)

// APIError is an error answered by Vault, with secret values redacted. It
// deliberately does not wrap the client's error, whose text includes the
// request URL and may echo request data.
type APIError struct {
	// Op is what tenantctl was doing, such as "write role".
	Op string
	// Path is the Vault API path, without /v1/.
	Path string
	// StatusCode is the HTTP status; 0 when Vault was not reached.
	StatusCode int
	// Messages are Vault's error messages.
	Messages []string
	// cause is kept for errors.Is on context errors only.
	cause error
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "vault: %s %s", e.Op, e.Path)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	if len(e.Messages) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(e.Messages, "; "))
	}
	return b.String()
}

// Unwrap returns the context error that ended the request, if any.
func (e *APIError) Unwrap() error { return e.cause }

// IsPermissionDenied reports whether err is Vault's 403 answer.
func IsPermissionDenied(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.StatusCode == 403
}

// IsUnreachable reports whether err means Vault could not be reached or did
// not answer.
func IsUnreachable(err error) bool {
	var e *APIError
	return errors.As(err, &e) && (e.StatusCode == 0 || e.StatusCode == 503)
}

// redacted replaces every secret in s; empty secrets are ignored.
func redacted(s string, secrets []string) string {
	for _, v := range secrets {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// apiErr rebuilds err from a Vault call as an *APIError, redacting secrets.
func apiErr(op, path string, err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	e := &APIError{Op: op, Path: path}
	var re *vaultapi.ResponseError
	switch {
	case errors.As(err, &re):
		e.StatusCode = re.StatusCode
		for _, m := range re.Errors {
			m = strings.Join(strings.Fields(m), " ")
			e.Messages = append(e.Messages, redacted(m, secrets))
		}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e.Messages = []string{err.Error()}
		if errors.Is(err, context.Canceled) {
			e.cause = context.Canceled
		} else {
			e.cause = context.DeadlineExceeded
		}
	default:
		// Transport errors carry the URL, never the body.
		e.Messages = []string{redacted(err.Error(), secrets)}
	}
	return e
}

// read reads path; a missing object is (nil, nil).
func (c *Client) read(ctx context.Context, op, path string) (map[string]any, error) {
	s, err := c.api.Logical().ReadWithContext(ctx, path)
	if err != nil {
		var re *vaultapi.ResponseError
		if errors.As(err, &re) && re.StatusCode == 404 {
			return nil, nil
		}
		return nil, apiErr(op, path, err)
	}
	if s == nil {
		return nil, nil
	}
	if s.Data == nil {
		return map[string]any{}, nil
	}
	return s.Data, nil
}

// write writes data to path; secrets are redacted from any error. A
// read-only client refuses it.
func (c *Client) write(ctx context.Context, op, path string, data map[string]any, secrets ...string) (*vaultapi.Secret, error) {
	if err := c.refuseWrite(op, path); err != nil {
		return nil, err
	}
	return c.query(ctx, op, path, data, secrets...)
}

// query sends data to path with a write request that only reads, such as
// sys/capabilities-self; read-only clients send it too.
func (c *Client) query(ctx context.Context, op, path string, data map[string]any, secrets ...string) (*vaultapi.Secret, error) {
	s, err := c.api.Logical().WriteWithContext(ctx, path, data)
	if err != nil {
		return nil, apiErr(op, path, err, secrets...)
	}
	return s, nil
}

// del deletes path. A read-only client refuses it.
func (c *Client) del(ctx context.Context, op, path string) error {
	if err := c.refuseWrite(op, path); err != nil {
		return err
	}
	_, err := c.api.Logical().DeleteWithContext(ctx, path)
	if err != nil {
		var re *vaultapi.ResponseError
		if errors.As(err, &re) && re.StatusCode == 404 {
			return nil
		}
		return apiErr(op, path, err)
	}
	return nil
}

// list lists the keys under path; a missing path lists nothing.
func (c *Client) list(ctx context.Context, op, path string) ([]string, error) {
	s, err := c.api.Logical().ListWithContext(ctx, path)
	if err != nil {
		var re *vaultapi.ResponseError
		if errors.As(err, &re) && re.StatusCode == 404 {
			return nil, nil
		}
		return nil, apiErr(op, path, err)
	}
	if s == nil || s.Data == nil {
		return nil, nil
	}
	raw, _ := s.Data["keys"].([]any)
	out := make([]string, 0, len(raw))
	for _, k := range raw {
		if ks, ok := k.(string); ok {
			out = append(out, ks)
		}
	}
	return out, nil
}
