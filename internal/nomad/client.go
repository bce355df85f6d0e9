package nomad

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/compat"
	"github.com/tenantctl/tenantctl/internal/exit"
)

// Log attribute names.
const (
	attrNamespace = "namespace"
	attrJob       = "job"
	attrEval      = "eval"
	attrVersion   = "version"
	attrIndex     = "index"
)

// Causes of Nomad errors whose remedy is the front end's to word (how the
// user gives tenantctl Nomad's address and token): see exit.Cause.
const (
	// CauseUnreachable: Nomad did not answer at its address.
	CauseUnreachable exit.Cause = "nomad-unreachable"
	// CauseForbidden: Nomad refused the token.
	CauseForbidden exit.Cause = "nomad-forbidden"
)

// Config configures a Client. Nothing is read from the environment here: the
// CLI resolves flags, environment and config file and passes the result.
type Config struct {
	// Address is Nomad's HTTP address, such as http://127.0.0.1:4646.
	Address string
	// Token is the ACL token (NOMAD_TOKEN); empty without ACLs.
	Token string
	// Region is the region to address; empty for the agent's own.
	Region string
	// Logger receives debug and progress logs; nil discards them.
	Logger *slog.Logger
	// TLS holds the CA and client certificate settings (NOMAD_CACERT,
	// NOMAD_CLIENT_CERT, …) for an https address; nil for none.
	TLS *api.TLSConfig
	// HTTPClient overrides the HTTP client (tests); nil uses the api
	// package's default transport configured with TLS.
	HTTPClient *http.Client
}

// Client talks to one Nomad cluster. It is safe for concurrent use.
type Client struct {
	api    *api.Client
	addr   string
	region string
	log    *slog.Logger

	versionMu sync.Mutex
	version   string // the agent's, once read (Preflight, Version)
}

// New returns a client for cfg. It does not contact Nomad; call Preflight
// for that.
func New(cfg Config) (*Client, error) {
	if cfg.Address == "" {
		return nil, exit.UsageError("give Nomad's HTTP address, like http://127.0.0.1:4646", "nomad: no address configured")
	}
	u, err := url.Parse(cfg.Address)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, exit.UsageError("give an address like http://127.0.0.1:4646", "nomad: invalid address %q", cfg.Address)
	}
	// api.DefaultConfig reads NOMAD_* variables; the CLI has already
	// resolved them, so the config is built from cfg alone.
	ac := &api.Config{
		Address:    strings.TrimRight(cfg.Address, "/"),
		SecretID:   cfg.Token,
		Region:     cfg.Region,
		HttpClient: cfg.HTTPClient,
		TLSConfig:  &api.TLSConfig{},
	}
	if cfg.TLS != nil {
		ac.TLSConfig = cfg.TLS
	}
	if ac.HttpClient == nil {
		hc, err := pooledClient(ac.TLSConfig)
		if err != nil {
			return nil, fmt.Errorf("nomad: client: %w", err)
		}
		ac.HttpClient = hc
	}
	c, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("nomad: client: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{api: c, addr: ac.Address, region: cfg.Region, log: log}, nil
}

// MaxIdleConns is how many idle connections to Nomad a client keeps for
// reuse. The api package's default keeps GOMAXPROCS+1, which a fleet apply
// at --parallel 16 (each tenant with its own blocking deployment and
// allocation queries) overflows, opening a new connection for most requests.
const MaxIdleConns = 64

// pooledClient is the api package's default HTTP client (HTTP/1.1, TLS 1.2
// at least) with an idle pool of MaxIdleConns.
func pooledClient(tlsCfg *api.TLSConfig) (*http.Client, error) {
	hc := cleanhttp.DefaultPooledClient()
	tr := hc.Transport.(*http.Transport)
	tr.MaxIdleConnsPerHost = MaxIdleConns
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	tr.ForceAttemptHTTP2 = false // as the api package: alloc exec needs HTTP/1
	if err := api.ConfigureTLS(hc, tlsCfg); err != nil {
		return nil, err
	}
	return hc, nil
}

// JobURL returns the Nomad UI link of a job: <addr>/ui/jobs/<job>@<ns>.
func (c *Client) JobURL(ns, jobID string) string {
	return c.addr + "/ui/jobs/" + url.PathEscape(jobID) + "@" + url.PathEscape(ns)
}

// Preflight checks that Nomad has a leader and that the agent's version is
// supported. Its errors are *exit.Error with code exit.Unreachable and a
// remedy or a cause (CauseUnreachable, CauseForbidden).
func (c *Client) Preflight(ctx context.Context) (version string, err error) {
	var leader string
	if _, err := c.api.Raw().Query("/v1/status/leader", &leader, c.q(ctx, "")); err != nil {
		return "", c.unreachable("nomad: reach %s: %w", c.addr, err)
	}
	if leader == "" {
		return "", exit.New(exit.Unreachable, "wait for the Nomad servers to elect a leader, then retry",
			"nomad: %s has no cluster leader", c.addr)
	}
	var self api.AgentSelf
	if _, err := c.api.Raw().Query("/v1/agent/self", &self, c.q(ctx, "")); err != nil {
		return "", c.unreachable("nomad: read agent version: %w", err)
	}
	version = agentVersion(&self)
	c.versionMu.Lock()
	c.version = version
	c.versionMu.Unlock()
	if err := compat.Check("nomad", version); err != nil {
		return version, exit.New(exit.Unreachable, "upgrade Nomad to 1.10 or later", "nomad: %w", err)
	}
	c.log.DebugContext(ctx, "nomad preflight", "addr", c.addr, "leader", leader, attrVersion, version)
	return version, nil
}

// Version returns the version of the Nomad agent at the client's address:
// the one Preflight read, or read now once. A fleet apply asks for it per
// tenant; the agent is read once.
func (c *Client) Version(ctx context.Context) (string, error) {
	c.versionMu.Lock()
	defer c.versionMu.Unlock()
	if c.version != "" {
		return c.version, nil
	}
	var self api.AgentSelf
	if _, err := c.api.Raw().Query("/v1/agent/self", &self, c.q(ctx, "")); err != nil {
		return "", fmt.Errorf("nomad: read agent version: %w", err)
	}
	c.version = agentVersion(&self)
	return c.version, nil
}

// unreachable wraps err as an Unreachable exit error with its cause, or its
// remedy when the remedy names no setting of the front end.
func (c *Client) unreachable(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	switch code := statusCode(err); {
	case code == http.StatusForbidden:
		return exit.Because(err, exit.Unreachable, CauseForbidden)
	case code == http.StatusServiceUnavailable || code == http.StatusInternalServerError:
		return exit.Wrap(err, exit.Unreachable, "check that the Nomad servers have a leader (nomad server members), then retry")
	}
	return exit.Because(err, exit.Unreachable, CauseUnreachable)
}

// agentVersion reads the version from /v1/agent/self: Config.Version.Version
// (Nomad ≥ 0.9), else the member's "build" tag.
func agentVersion(self *api.AgentSelf) string {
	if v, ok := self.Config["Version"].(map[string]any); ok {
		if s, ok := v["Version"].(string); ok && s != "" {
			if pre, _ := v["VersionPrerelease"].(string); pre != "" {
				s += "-" + pre
			}
			return s
		}
	}
	return self.Member.Tags["build"]
}

// q returns query options for ns bound to ctx.
func (c *Client) q(ctx context.Context, ns string) *api.QueryOptions {
	return (&api.QueryOptions{Namespace: ns, Region: c.region}).WithContext(ctx)
}

// w returns write options for ns bound to ctx.
func (c *Client) w(ctx context.Context, ns string) *api.WriteOptions {
	return (&api.WriteOptions{Namespace: ns, Region: c.region}).WithContext(ctx)
}

// statusCode returns the HTTP status of an api error, or 0.
func statusCode(err error) int {
	var ue api.UnexpectedResponseError
	if errors.As(err, &ue) {
		return ue.StatusCode()
	}
	return 0
}

// responseBody returns the body of an api error (Nomad's plain-text error),
// or the error text.
func responseBody(err error) string {
	var ue api.UnexpectedResponseError
	if errors.As(err, &ue) && ue.HasBody() {
		return strings.TrimSpace(ue.Body())
	}
	return err.Error()
}

// isNotFound reports whether err is Nomad's 404.
func isNotFound(err error) bool { return statusCode(err) == http.StatusNotFound }

// transient reports whether a failed read is worth retrying inside a wait:
// a server error, no leader, or a connection problem, but not a 4xx.
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if code := statusCode(err); code != 0 {
		return code >= 500 || code == http.StatusTooManyRequests
	}
	// A connection refused or reset, or a cut-off answer (an agent
	// restarting); anything else (a body that does not decode) is a bug to
	// report, not to retry.
	var ue *url.Error
	return errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// blockWait is the longest single blocking query; the context bounds the
// whole wait.
const blockWait = 5 * time.Minute

// watch runs poll as a sequence of blocking queries until it reports done,
// it fails, or ctx ends. poll receives the index to wait past and returns
// the index of its answer. Transient errors are retried with backoff.
func (c *Client) watch(ctx context.Context, poll func(q *api.QueryOptions) (done bool, index uint64, err error)) error {
	var idx uint64
	backoff := 50 * time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		wait := blockWait
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, max(time.Until(dl), time.Millisecond))
		}
		q := (&api.QueryOptions{WaitIndex: idx, WaitTime: wait, Region: c.region}).WithContext(ctx)
		done, next, err := poll(q)
		switch {
		case err != nil && transient(ctx, err):
			c.log.DebugContext(ctx, "nomad wait: retrying", "err", err)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		case done:
			return nil
		}
		backoff = 50 * time.Millisecond
		// An index that went backwards (a restored snapshot) restarts the
		// wait; 0 is never a valid wait index.
		if next < idx || next == 0 {
			next = 1
		}
		idx = next
	}
}

// digestContext returns a context for reads that explain a failure after
// the caller's context has ended.
func digestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}
