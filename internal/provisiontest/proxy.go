package provisiontest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-cleanhttp"
)

// Proxy forwards to a server, counts the requests that may change state and
// can answer chosen requests with HTTP 500.
type Proxy struct {
	srv    *httptest.Server
	writes atomic.Int64
	plans  atomic.Int64 // Nomad parse and plan requests
	mu     sync.Mutex
	faults []*proxyFault
	log    []string
	record bool
}

type proxyFault struct {
	owner string
	match func(*http.Request) bool
	left  int           // requests still to fail (or to delay)
	delay time.Duration // not 0: hold the request this long, then forward it
}

func newProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	// Keep as many idle connections to the server as tenantctl's own
	// clients keep to the proxy (64): with cleanhttp's default (GOMAXPROCS+1),
	// every burst of concurrent reads a fleet apply makes opened new
	// connections to Vault and Consul, and dialing took a sixth of the
	// process's CPU in BenchmarkConvergedChecks100.
	tr := cleanhttp.DefaultPooledTransport()
	tr.MaxIdleConnsPerHost = 64
	rp.Transport = tr
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if errors.Is(err, context.Canceled) {
			return // the client gave up (a blocking query cancelled): nothing to answer, nothing to log
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "{\"errors\":[%q]}\n", "test proxy: "+err.Error())
	}
	p := &Proxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := bufferBody(r); err != nil {
			http.Error(w, `{"errors":["test proxy: read request body: `+err.Error()+`"]}`, http.StatusBadRequest)
			return
		}
		fail, delay := p.inject(r)
		if fail {
			http.Error(w, `{"errors":["injected fault: internal error"]}`, http.StatusInternalServerError)
			return
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if isParseOrPlan(r) {
			p.plans.Add(1)
		}
		if IsWrite(r) {
			p.writes.Add(1)
			p.mu.Lock()
			if p.record {
				p.log = append(p.log, r.Method+" "+r.URL.Path)
			}
			p.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// bufferBody reads r's body whole before the request is forwarded. Go's
// HTTP/1 server consumes and closes what is left of a request's body once
// the handler starts writing its response (golang/go#40747), and the
// reverse proxy's transport may still be reading that body (its last check
// for bytes beyond Content-Length) while the upstream's answer is already
// being copied back. When the server wins, the transport's body read fails,
// it closes the upstream connection, and the client gets a response cut
// mid-body: "unexpected EOF" on a Vault sys/capabilities-self answer, now
// and then, on a loaded machine. With the body in memory the transport
// never reads from the server's.
func bufferBody(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxProxiedBody+1))
	r.Body.Close()
	if err != nil {
		return err
	}
	if len(b) > maxProxiedBody {
		return fmt.Errorf("larger than %d bytes", maxProxiedBody)
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength, r.TransferEncoding = int64(len(b)), nil
	return nil
}

// maxProxiedBody bounds a request body the proxy holds in memory; the
// largest tenantctl sends (job submissions) are a few hundred KiB.
const maxProxiedBody = 16 << 20

// IsWrite reports whether r may change state: every method but GET, HEAD
// and LIST, except requests that only read although the client sends them
// as PUT or POST: Vault's sys/capabilities-self (preflight asks it what the
// token may do), and Nomad's /v1/jobs/parse and /v1/job/:id/plan (a plan
// changes nothing on a real agent).
func IsWrite(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, "LIST":
		return false
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		return true
	}
	return !strings.HasSuffix(r.URL.Path, "/sys/capabilities-self") && !isParseOrPlan(r)
}

// isParseOrPlan reports whether r is a Nomad /v1/jobs/parse or
// /v1/job/:id/plan request: what a converged check spends on Nomad per job it
// cannot skip.
func isParseOrPlan(r *http.Request) bool {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		return false
	}
	path := r.URL.Path
	return path == "/v1/jobs/parse" || strings.HasPrefix(path, "/v1/job/") && strings.HasSuffix(path, "/plan")
}

// ParsesAndPlans returns how many Nomad parse and plan requests the proxy
// has forwarded.
func (p *Proxy) ParsesAndPlans() int64 { return p.plans.Load() }

// URL is the proxy's address.
func (p *Proxy) URL() string { return p.srv.URL }

// Writes returns the state-changing requests forwarded so far.
func (p *Proxy) Writes() int64 { return p.writes.Load() }

// RecordWrites starts keeping the method and path of every write.
func (p *Proxy) RecordWrites() {
	p.mu.Lock()
	p.record, p.log = true, nil
	p.mu.Unlock()
}

// WriteLog returns the writes kept since RecordWrites.
func (p *Proxy) WriteLog() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log...)
}

// Fail answers the next n requests matching match with HTTP 500; owner
// names the test case, for ClearFaults.
func (p *Proxy) Fail(owner string, n int, match func(*http.Request) bool) {
	p.mu.Lock()
	p.faults = append(p.faults, &proxyFault{owner: owner, match: match, left: n})
	p.mu.Unlock()
}

// ClearFaults disarms owner's faults that have not fired yet.
func (p *Proxy) ClearFaults(owner string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.faults {
		if f.owner == owner {
			f.left = 0
		}
	}
}

// Delay holds the next n requests matching match for d before it forwards
// them, as a loaded server would answer; owner names the test case, for
// ClearFaults.
func (p *Proxy) Delay(owner string, n int, d time.Duration, match func(*http.Request) bool) {
	p.mu.Lock()
	p.faults = append(p.faults, &proxyFault{owner: owner, match: match, left: n, delay: d})
	p.mu.Unlock()
}

// inject reports whether r is to fail, or how long to hold it.
func (p *Proxy) inject(r *http.Request) (fail bool, delay time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.faults {
		if f.left > 0 && f.match(r) {
			f.left--
			if f.delay > 0 {
				return false, f.delay
			}
			return true, 0
		}
	}
	return false, 0
}

// PathContains matches requests with method (any when empty) whose path
// contains s.
func PathContains(method, s string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return (method == "" || r.Method == method) && strings.Contains(r.URL.Path, s)
	}
}
