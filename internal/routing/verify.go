// Package routing verifies that a tenant is routable: its app service has a
// passing instance in Consul and, when a router address is configured, the
// nginx router answers the tenant's host with the app's health endpoint.
//
// The router itself is configuration, not code: consul-templates/ renders one
// nginx server per tenant app service, nginx/ holds the base nginx.conf and
// jobspecs/router.nomad.hcl runs both on Nomad. See docs/routing.md.
package routing

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/exit"
)

// Defaults for VerifySpec's optional fields.
const (
	DefaultHealthPath = "/api/health"
	DefaultTimeout    = 2 * time.Minute
	// probeTimeout bounds one request to the router.
	probeTimeout = 5 * time.Second
	// Retry backoff: first pause, doubled after each attempt up to the cap.
	firstBackoff = 200 * time.Millisecond
	maxBackoff   = 2 * time.Second
)

// HealthReader reads a service's instances with their health: the Consul
// adapter's ServiceHealth. *consul.Client implements it.
type HealthReader interface {
	ServiceHealth(ctx context.Context, service string) ([]consul.Instance, error)
}

// HealthWatcher is a HealthReader that can also wait for a service's health
// to change: the Consul adapter's ServiceHealthSince, a blocking query.
// Verify uses it when health has it, so it learns that the app's check
// passes when Consul does rather than at its next poll.
type HealthWatcher interface {
	ServiceHealthSince(ctx context.Context, service string, index uint64, wait time.Duration) ([]consul.Instance, uint64, error)
}

var (
	_ HealthReader  = (*consul.Client)(nil)
	_ HealthWatcher = (*consul.Client)(nil)
)

// maxBlock bounds one blocking query of Verify (Consul's own limit is 10
// minutes).
const maxBlock = 5 * time.Minute

// VerifySpec says what Verify checks.
type VerifySpec struct {
	// Service is the tenant app's Consul service: tenant.NamesFor(id).ServiceApp.
	Service string
	// Host is the tenant's host name, sent as the Host header to the router.
	Host string
	// RouterAddr is the router as host:port or an http(s) URL. Empty skips the
	// router probe: only Consul health is verified.
	RouterAddr string
	// HealthPath is requested through the router; DefaultHealthPath when empty.
	HealthPath string
	// Timeout bounds the whole verification, retries included; DefaultTimeout
	// when zero. An earlier deadline on the context wins.
	Timeout time.Duration
	// HTTPClient sends the probe; when nil, a client without keep-alives (so
	// every attempt sees the router's current configuration).
	HTTPClient *http.Client
	// PathHost, when set with RouterAddr and Tenant, is the router's shared
	// path-routing host: GET <router>/<Tenant><HealthPath> with that Host
	// must reach the tenant too.
	PathHost string
	// Tenant, when set, is the tenant id the router must reach: the app's
	// health answer names its tenant ({"tenant": "<id>"}), and a 200 from
	// another tenant's app (a host served for someone else) is a failure.
	Tenant string
	// Logger receives one debug line per failed attempt; nil discards.
	Logger *slog.Logger
	// Observe, when set, receives after every failed attempt a one-line
	// account of what it saw ("no passing instance of acme--app: …",
	// "router answered 404 unknown host"), for progress reports of a long
	// wait. It is called from Verify's goroutine.
	Observe func(seen string)
}

// Verify waits until spec.Service has at least one passing instance in
// Consul and, when spec.RouterAddr is set, until GET <router><HealthPath> with
// Host: spec.Host answers 200. It retries with backoff until the timeout and
// then returns an *exit.Error that says which stage failed, what was seen
// last and what to try. It returns the context's error, wrapped, when ctx is
// cancelled.
func Verify(ctx context.Context, health HealthReader, spec VerifySpec) error {
	if spec.Service == "" {
		return errors.New("routing: verify: no service name")
	}
	if spec.RouterAddr != "" && spec.Host == "" {
		return fmt.Errorf("routing: verify %s: a router address needs a host", spec.Service)
	}
	if spec.HealthPath == "" {
		spec.HealthPath = DefaultHealthPath
	}
	if spec.Timeout <= 0 {
		spec.Timeout = DefaultTimeout
	}
	log := spec.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	if spec.PathHost != "" && (spec.RouterAddr == "" || spec.Tenant == "") {
		return fmt.Errorf("routing: verify %s: a path host needs a router address and a tenant", spec.Service)
	}
	v := &verifier{health: health, spec: spec, log: log}
	v.watch, _ = health.(HealthWatcher)
	if spec.RouterAddr != "" {
		u, err := routerURL(spec.RouterAddr, spec.HealthPath)
		if err != nil {
			return exit.UsageError("set the router address as host:port or http://host:port",
				"routing: router address %q: %v", spec.RouterAddr, err)
		}
		v.probeURL = u
		if spec.PathHost != "" {
			// The tenant id is validated ([a-z0-9-]), so it is a safe path segment.
			v.pathURL, _ = routerURL(spec.RouterAddr, "/"+spec.Tenant+"/"+strings.TrimPrefix(spec.HealthPath, "/"))
		}
		v.client = spec.HTTPClient
		if v.client == nil {
			v.client = defaultClient(u, spec.Host)
		}
	}

	ctx, cancel := context.WithTimeout(ctx, spec.Timeout)
	defer cancel()
	return v.run(ctx)
}

// verifier holds one verification's state: the stage reached and what the
// last attempt saw, for the error at the deadline.
type verifier struct {
	health   HealthReader
	watch    HealthWatcher // nil: poll health with backoff
	index    uint64        // Consul index of the last health read, for watch
	spec     VerifySpec
	log      *slog.Logger
	probeURL *url.URL
	pathURL  *url.URL // the path-routing probe; nil when not configured
	client   *http.Client

	consulErr error             // last error talking to Consul
	instances []consul.Instance // every instance last seen
	passing   int               // passing instances last seen
	probe     *probeOutcome     // last router probe; nil before the first
	start     time.Time         // for the elapsed time in errors
}

// probeOutcome is what one request to the router saw.
type probeOutcome struct {
	status int    // 0 when the request failed
	body   string // start of the body, for the error
	err    error
	tenant string // the tenant a 200 answer names; "" when none
	url    *url.URL
	host   string // the Host header sent
}

func (v *verifier) run(ctx context.Context) error {
	v.start = time.Now()
	backoff := firstBackoff
	for {
		if v.attempt(ctx) {
			return nil
		}
		if v.spec.Observe != nil && ctx.Err() == nil {
			v.spec.Observe(v.seen())
		}
		if v.watch != nil && v.consulErr == nil && v.passing == 0 && ctx.Err() == nil {
			// The next attempt's blocking query is the wait: it answers
			// when the service's health changes.
			continue
		}
		select {
		case <-ctx.Done():
			return v.failure(ctx)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// attempt checks Consul and then the router once; it reports success.
func (v *verifier) attempt(ctx context.Context) bool {
	instances, err := v.readHealth(ctx)
	if err != nil {
		if ctx.Err() == nil {
			v.consulErr = err
			v.log.Debug("routing: consul health query failed", "service", v.spec.Service, "error", err)
		}
		return false
	}
	v.consulErr = nil
	v.instances = instances
	v.passing = len(consul.Passing(instances))
	if v.passing == 0 {
		v.log.Debug("routing: no passing instance yet", "service", v.spec.Service)
		return false
	}
	if v.probeURL == nil {
		return true
	}
	p := v.probeOnce(ctx, v.probeURL, v.spec.Host)
	if p.status == http.StatusOK && (v.spec.Tenant == "" || p.tenant == v.spec.Tenant) {
		if v.pathURL == nil {
			return true
		}
		p = v.probeOnce(ctx, v.pathURL, v.spec.PathHost)
		if p.status == http.StatusOK && p.tenant == v.spec.Tenant {
			return true
		}
	}
	if ctx.Err() == nil || v.probe == nil {
		// A probe cut short by the deadline says less than the one before.
		v.probe = p
	}
	v.log.Debug("routing: router probe not ok yet", "host", v.spec.Host, "status", p.status, "error", p.err)
	return false
}

// readHealth reads the service's instances: with a watcher, as a blocking
// query that waits for a change while none passes (bounded by ctx's
// deadline); otherwise at once.
func (v *verifier) readHealth(ctx context.Context) ([]consul.Instance, error) {
	if v.watch == nil {
		return v.health.ServiceHealth(ctx, v.spec.Service)
	}
	index := v.index
	if v.passing > 0 || v.consulErr != nil {
		index = 0 // waiting on the router, or after an error: read at once
	}
	wait := maxBlock
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, max(time.Until(dl), time.Millisecond))
	}
	is, next, err := v.watch.ServiceHealthSince(ctx, v.spec.Service, index, wait)
	if err == nil {
		v.index = next
	}
	return is, err
}

func (v *verifier) probeOnce(ctx context.Context, u *url.URL, host string) *probeOutcome {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return &probeOutcome{err: err, url: u, host: host}
	}
	req.Host = host
	req.Header.Set("User-Agent", "tenantctl-routing-verify")
	resp, err := v.client.Do(req)
	if err != nil {
		return &probeOutcome{err: err, url: u, host: host}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	out := &probeOutcome{status: resp.StatusCode, body: strings.TrimSpace(string(body)), url: u, host: host}
	if resp.StatusCode == http.StatusOK {
		var health struct {
			Tenant string `json:"tenant"`
		}
		if json.Unmarshal(body, &health) == nil {
			out.tenant = health.Tenant
		}
	}
	return out
}

// seen says in one line what the last attempt saw.
func (v *verifier) seen() string {
	svc := v.spec.Service
	switch {
	case v.consulErr != nil:
		return fmt.Sprintf("consul health of %s: %v", svc, v.consulErr)
	case len(v.instances) == 0:
		return fmt.Sprintf("service %s is not registered in Consul yet", svc)
	case v.passing == 0:
		return fmt.Sprintf("service %s: %d instance(s), none passing yet", svc, len(v.instances))
	case v.probe == nil:
		return fmt.Sprintf("service %s passing; router not probed yet", svc)
	case v.probe.err != nil:
		return fmt.Sprintf("router %s unreachable: %v", v.probeURL.Host, v.probe.err)
	case v.probe.status == http.StatusOK:
		return fmt.Sprintf("router answered %s (Host %s) for tenant %q; want %q", v.probe.url.Path, v.probe.host, v.probe.tenant, v.spec.Tenant)
	default:
		return fmt.Sprintf("router answered %d for %s (Host %s): %s", v.probe.status, v.probe.url.Path, v.probe.host, firstLine(v.probe.body))
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// failure builds the error for a verification that ran out of time: the
// caller's cancellation is returned as is, wrapped; a deadline (ours or the
// caller's) is explained from what the last attempts saw.
func (v *verifier) failure(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("routing: verify %s: %w", v.spec.Service, ctx.Err())
	}
	waited := time.Since(v.start).Round(100 * time.Millisecond)
	svc := v.spec.Service

	switch {
	case v.consulErr != nil:
		return exit.New(exit.Unreachable,
			"check that Consul is reachable (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN) and run the command again",
			"routing: consul: health of service %q after %s: %w", svc, waited, v.consulErr)
	case v.passing == 0:
		return v.noPassingError(waited)
	}

	p := v.probe
	target := fmt.Sprintf("router %s (Host: %s)", v.probeURL.Host, v.spec.Host)
	if p != nil && p.url != nil {
		target = fmt.Sprintf("router %s (Host: %s, path %s)", p.url.Host, p.host, p.url.Path)
	}
	routerHint := "check the router job (nomad job status router; its allocation logs show consul-template and nginx errors) " +
		"and that the app service carries the tags tenantctl, tenantctl.tenant=<id> and tenantctl.host=" + v.spec.Host
	switch {
	case p == nil:
		return exit.New(exit.Partial, routerHint, "routing: %s not probed within %s", target, waited)
	case p.err != nil:
		return exit.New(exit.Partial,
			"check the router address (it must reach the router's HTTP listener) and that the router job is running",
			"routing: %s unreachable after %s: %w", target, waited, p.err)
	case p.status == http.StatusOK:
		return exit.New(exit.Partial,
			"another tenant serves host "+v.spec.Host+": check `tenantctl list` for the tenant holding it and the app's TENANT_ID",
			"routing: %s reached tenant %q after %s; want tenant %q", target, p.tenant, waited, v.spec.Tenant)
	case p.status == http.StatusNotFound && strings.Contains(p.body, "unknown host"):
		return exit.New(exit.Partial, routerHint,
			"routing: %s has no server for the host after %s (404 unknown host)", target, waited)
	case p.status == http.StatusServiceUnavailable || p.status == http.StatusBadGateway:
		return exit.New(exit.Partial,
			"the router has not picked up a healthy instance yet, or cannot reach it: check the router's logs and "+
				"that the router's nodes can connect to the app's address and port; then run the command again",
			"routing: %s answered %d after %s: %s", target, p.status, waited, p.body)
	default:
		return exit.New(exit.Partial,
			"check the app's "+v.spec.HealthPath+" handler and the router's logs; then run the command again",
			"routing: %s answered %d for %s after %s; want 200: %s", target, p.status, v.spec.HealthPath, waited, p.body)
	}
}

// noPassingError explains a service with no passing instance, from the
// instances last seen: not registered at all, or registered with failing
// checks (whose output it quotes).
func (v *verifier) noPassingError(waited time.Duration) error {
	svc := v.spec.Service
	all := v.instances
	if len(all) == 0 {
		return exit.New(exit.Partial,
			"check that the app job is running and registers its service (nomad job status; nomad alloc status), then run the command again",
			"routing: service %q is not registered in Consul after %s", svc, waited)
	}
	var checks []string
	for _, in := range all {
		for _, c := range in.Checks {
			if c.Status == consulapi.HealthPassing {
				continue
			}
			out := strings.TrimSpace(c.Output)
			if len(out) > 200 {
				out = out[:200] + "…"
			}
			checks = append(checks, fmt.Sprintf("%s on %s %s: %s", c.Name, in.Node, c.Status, out))
		}
	}
	return exit.New(exit.Partial,
		"check the app's logs and its health endpoint (nomad alloc logs), then run the command again",
		"routing: service %q has %d instance(s) and none passing after %s: %s",
		svc, len(all), waited, strings.Join(checks, "; "))
}

// routerURL turns host:port or an http(s) URL into the probe URL.
func routerURL(addr, path string) (*url.URL, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("no host")
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + strings.TrimPrefix(path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// defaultClient sends each probe on a new connection; for https it presents
// the tenant's host in SNI, so the router picks the tenant's certificate.
func defaultClient(u *url.URL, host string) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	if u.Scheme == "https" {
		tr.TLSClientConfig = tr.TLSClientConfig.Clone()
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = new(tls.Config)
		}
		tr.TLSClientConfig.ServerName = host
	}
	return &http.Client{
		Transport: tr,
		Timeout:   probeTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
