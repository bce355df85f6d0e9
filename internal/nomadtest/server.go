package nomadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/hashicorp/nomad/api"
)

// DefaultVersion is the Nomad version the double reports from /v1/agent/self.
const DefaultVersion = "2.0.5"

// Server is a running Nomad API double. Create it with New; it is closed by
// the test's cleanup.
type Server struct {
	tb     testing.TB
	hs     *httptest.Server
	routes []route

	delay time.Duration
	// checkFloor is the shortest interval the double registers a Consul
	// check with (WithCheckIntervalFloor); zero: the jobspec's own.
	checkFloor time.Duration
	token      string
	region     string
	dc         string
	version    string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	signerOnce sync.Once
	signer     *IdentitySigner
	signerErr  error

	writes atomic.Int64

	mu      sync.Mutex
	st      *state
	scripts map[taskKey]*Outcome
	hooks   map[taskKey]TaskHook
	faults  []*fault
	calls   map[string]int
	consul  *consulapi.Client
}

// Option configures a Server.
type Option func(*Server)

// WithDelay makes every simulated scheduler step (placement, start, health,
// completion) wait d. The default is zero: steps happen as fast as goroutines
// run. Tests must wait on state, never on time.
func WithDelay(d time.Duration) Option { return func(s *Server) { s.delay = d } }

// WithCheckIntervalFloor makes the double register every Consul check
// with an interval of at least d. Only for scale benchmarks: a real cluster
// spreads a hundred tenants' checks over its client nodes, while a
// benchmark runs them all, and the workloads they probe, on one machine,
// where 1 s checks of every service starve the processes they check. It
// changes how often and how soon a check runs, never what passes.
func WithCheckIntervalFloor(d time.Duration) Option { return func(s *Server) { s.checkFloor = d } }

// WithToken makes the server enforce an ACL token: every request except
// /.well-known/jwks.json must carry it in X-Nomad-Token (or as a Bearer token),
// otherwise it is answered 403 "Permission denied".
func WithToken(token string) Option { return func(s *Server) { s.token = token } }

// WithVersion sets the Nomad version reported by /v1/agent/self.
func WithVersion(v string) Option { return func(s *Server) { s.version = v } }

// WithRegion sets the region name (default "global").
func WithRegion(r string) Option { return func(s *Server) { s.region = r } }

// New starts a Nomad API double on a loopback port. It is closed, and every
// simulated allocation stopped, by tb.Cleanup.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := &Server{
		tb:      tb,
		region:  "global",
		dc:      "dc1",
		version: DefaultVersion,
		st:      newState(),
		scripts: map[taskKey]*Outcome{},
		hooks:   map[taskKey]TaskHook{},
		calls:   map[string]int{},
	}
	for _, o := range opts {
		o(s)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.routes = s.buildRoutes()
	s.hs = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	tb.Cleanup(s.Close)
	return s
}

// Close stops every simulated allocation (running their hooks' stop
// functions and deregistering Consul services) and shuts the server down. It
// is safe to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	allocs := make([]*allocEntry, 0, len(s.st.allocs))
	for _, a := range s.st.allocs {
		allocs = append(allocs, a)
	}
	s.mu.Unlock()
	for _, a := range allocs {
		s.releaseAlloc(a)
	}
	s.cancel()
	s.wg.Wait()
	s.hs.Close()
}

// Addr returns the server's base URL, e.g. "http://127.0.0.1:4646".
func (s *Server) Addr() string { return s.hs.URL }

// Client returns a Nomad API client pointed at the server (with the enforced
// token, if any).
func (s *Server) Client() *api.Client {
	cfg := api.DefaultConfig()
	cfg.Address = s.hs.URL
	cfg.SecretID = s.token
	cfg.Namespace = ""
	cfg.Region = ""
	c, err := api.NewClient(cfg)
	if err != nil {
		s.tb.Fatalf("nomadtest: client: %v", err)
	}
	return c
}

// Writes returns how many mutating requests (PUT, POST, DELETE, excluding
// /v1/jobs/parse and job plans, which change nothing) the server has answered
// successfully.
func (s *Server) Writes() int64 { return s.writes.Load() }

// Index returns the current Raft-like index.
func (s *Server) Index() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.index
}

// Signer returns the server's workload-identity signer, creating its key on
// first use.
func (s *Server) Signer() (*IdentitySigner, error) {
	s.signerOnce.Do(func() { s.signer, s.signerErr = NewIdentitySigner() })
	return s.signer, s.signerErr
}

// JWKSURL returns the URL of the server's /.well-known/jwks.json, the
// jwks_url Vault's jwt auth method is configured with.
func (s *Server) JWKSURL() string { return s.hs.URL + "/.well-known/jwks.json" }

// MintIdentity returns a workload-identity JWT for a task, signed by the key
// published at JWKSURL.
func (s *Server) MintIdentity(c WorkloadClaims) (string, error) {
	signer, err := s.Signer()
	if err != nil {
		return "", err
	}
	return signer.Mint(c)
}

// httpError is an error answered with a status code and Nomad's plain-text
// body.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errCode(code int, format string, args ...any) error {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// route is one endpoint: a method and a path template whose ":name" segments
// capture one escaped path segment.
type route struct {
	method  string
	pattern string
	segs    []string
	write   bool
	handle  func(*request) error
}

// request is what a handler sees.
type request struct {
	w      http.ResponseWriter
	r      *http.Request
	params map[string]string
	query  url.Values
	route  *route
}

func (q *request) param(name string) string { return q.params[name] }

// namespace returns the request's namespace: the "namespace" query parameter,
// else the X-Nomad-Namespace header, else "default".
func (q *request) namespace() string {
	if ns := q.query.Get("namespace"); ns != "" {
		return ns
	}
	if ns := q.r.Header.Get("X-Nomad-Namespace"); ns != "" {
		return ns
	}
	return api.DefaultNamespace
}

func (q *request) decode(v any) error {
	dec := json.NewDecoder(q.r.Body)
	if err := dec.Decode(v); err != nil {
		return errCode(http.StatusBadRequest, "Request decode failed: %v", err)
	}
	return nil
}

func (s *Server) handle(method, pattern string, write bool, h func(*request) error) route {
	return route{method: method, pattern: pattern, segs: strings.Split(strings.Trim(pattern, "/"), "/"), write: write, handle: h}
}

func (s *Server) match(method, escapedPath string) (*route, map[string]string, bool) {
	segs := strings.Split(strings.Trim(escapedPath, "/"), "/")
	pathFound := false
	for i := range s.routes {
		rt := &s.routes[i]
		if len(rt.segs) != len(segs) {
			continue
		}
		params := map[string]string{}
		ok := true
		for j, p := range rt.segs {
			if strings.HasPrefix(p, ":") {
				v, err := url.PathUnescape(segs[j])
				if err != nil || v == "" {
					ok = false
					break
				}
				params[p[1:]] = v
				continue
			}
			if p != segs[j] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		pathFound = true
		if rt.method == method || (rt.method == http.MethodPut && method == http.MethodPost) {
			return rt, params, true
		}
	}
	return nil, nil, pathFound
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rt, params, pathFound := s.match(r.Method, r.URL.EscapedPath())
	if rt == nil {
		if pathFound {
			writeError(w, http.StatusMethodNotAllowed, "Invalid method")
			return
		}
		writeError(w, http.StatusNotFound, "Invalid URL: "+r.URL.Path)
		return
	}
	if s.token != "" && rt.pattern != "/.well-known/jwks.json" && requestToken(r) != s.token {
		writeError(w, http.StatusForbidden, "Permission denied")
		return
	}
	if f := s.nextFault(rt, r); f != nil {
		switch f.kind {
		case FaultHang:
			select {
			case <-r.Context().Done():
			case <-s.ctx.Done():
			}
			return
		default:
			writeError(w, f.status(), f.message())
			return
		}
	}
	req := &request{w: w, r: r, params: params, query: r.URL.Query(), route: rt}
	if err := rt.handle(req); err != nil {
		var he *httpError
		if errors.As(err, &he) {
			writeError(w, he.code, he.msg)
			return
		}
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if rt.write {
		s.writes.Add(1)
	}
}

// writeError answers an error the way Nomad does: a status code and the
// error text as a plain body.
func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg))
}

func requestToken(r *http.Request) string {
	if t := r.Header.Get("X-Nomad-Token"); t != "" {
		return t
	}
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		return strings.TrimPrefix(h, "Bearer ")
	}
	return r.URL.Query().Get("token")
}

// reply writes v as JSON with Nomad's query meta headers.
func (q *request) reply(index uint64, v any) error {
	if index == 0 {
		index = 1
	}
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("nomadtest: encode %s: %w", q.route.pattern, err)
	}
	return q.replyRaw(index, body)
}

// replyRaw writes an encoded JSON body with Nomad's query meta headers.
func (q *request) replyRaw(index uint64, body []byte) error {
	if index == 0 {
		index = 1
	}
	h := q.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Nomad-Index", fmt.Sprint(index))
	h.Set("X-Nomad-KnownLeader", "true")
	h.Set("X-Nomad-LastContact", "0")
	_, err := q.w.Write(body)
	return err
}

// buildRoutes lists every endpoint the double answers.
func (s *Server) buildRoutes() []route {
	return []route{
		s.handle("GET", "/.well-known/jwks.json", false, s.getJWKS),
		s.handle("GET", "/v1/status/leader", false, s.getLeader),
		s.handle("GET", "/v1/status/peers", false, s.getPeers),
		s.handle("GET", "/v1/agent/self", false, s.getAgentSelf),
		s.handle("GET", "/v1/regions", false, s.getRegions),
		s.handle("GET", "/v1/nodes", false, s.listNodes),
		s.handle("GET", "/v1/node/:id", false, s.getNode),

		s.handle("GET", "/v1/namespaces", false, s.listNamespaces),
		s.handle("GET", "/v1/namespace/:name", false, s.getNamespace),
		s.handle("PUT", "/v1/namespace", true, s.applyNamespace),
		s.handle("PUT", "/v1/namespace/:name", true, s.applyNamespace),
		s.handle("DELETE", "/v1/namespace/:name", true, s.deleteNamespace),

		s.handle("PUT", "/v1/jobs/parse", false, s.parseJob),
		s.handle("GET", "/v1/jobs", false, s.listJobs),
		s.handle("PUT", "/v1/jobs", true, s.registerJob),
		s.handle("GET", "/v1/job/:id", false, s.getJob),
		s.handle("PUT", "/v1/job/:id", true, s.registerJob),
		s.handle("DELETE", "/v1/job/:id", true, s.deregisterJob),
		s.handle("GET", "/v1/job/:id/versions", false, s.getJobVersions),
		s.handle("GET", "/v1/job/:id/submission", false, s.getJobSubmission),
		s.handle("GET", "/v1/job/:id/summary", false, s.getJobSummary),
		s.handle("GET", "/v1/job/:id/allocations", false, s.getJobAllocations),
		s.handle("GET", "/v1/job/:id/evaluations", false, s.getJobEvaluations),
		s.handle("GET", "/v1/job/:id/deployment", false, s.getJobLatestDeployment),
		s.handle("GET", "/v1/job/:id/deployments", false, s.getJobDeployments),
		s.handle("PUT", "/v1/job/:id/plan", false, s.planJob),
		s.handle("PUT", "/v1/job/:id/dispatch", true, s.dispatchJob),
		s.handle("PUT", "/v1/job/:id/periodic/force", true, s.periodicForce),
		s.handle("POST", "/v1/job/:id/periodic/force", true, s.periodicForce),
		s.handle("PUT", "/v1/job/:id/scale", true, s.scaleJob),
		s.handle("POST", "/v1/job/:id/scale", true, s.scaleJob),

		s.handle("GET", "/v1/evaluations", false, s.listEvaluations),
		s.handle("GET", "/v1/evaluation/:id", false, s.getEvaluation),
		s.handle("GET", "/v1/allocations", false, s.listAllocations),
		s.handle("GET", "/v1/allocation/:id", false, s.getAllocation),
		s.handle("PUT", "/v1/allocation/:id/stop", true, s.stopAllocation),
		s.handle("POST", "/v1/allocation/:id/stop", true, s.stopAllocation),
		s.handle("GET", "/v1/deployments", false, s.listDeployments),
		s.handle("GET", "/v1/deployment/:id", false, s.getDeployment),
		s.handle("GET", "/v1/client/fs/logs/:alloc", false, s.getLogs),

		s.handle("GET", "/v1/volumes", false, s.listVolumes),
		s.handle("PUT", "/v1/volume/host/create", true, s.createHostVolume),
		s.handle("PUT", "/v1/volume/host/register", true, s.createHostVolume),
		s.handle("GET", "/v1/volume/host/:id", false, s.getHostVolume),
		s.handle("DELETE", "/v1/volume/host/:id", true, s.deleteHostVolume),
	}
}
