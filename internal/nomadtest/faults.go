package nomadtest

import (
	"net/http"
	"path"
	"strings"
)

// FaultKind is what an injected fault does to a request.
type FaultKind int

const (
	// FaultError answers HTTP 500 with a Nomad-like RPC error text.
	FaultError FaultKind = iota
	// FaultHang never answers: the request is held until the client's
	// context ends (or the server closes).
	FaultHang
	// FaultUnavailable answers HTTP 503 "No cluster leader".
	FaultUnavailable
)

// fault is one injected fault.
type fault struct {
	pattern string
	nth     int
	kind    FaultKind
	seen    int
	done    bool
}

func (f *fault) status() int {
	if f.kind == FaultUnavailable {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (f *fault) message() string {
	if f.kind == FaultUnavailable {
		return "No cluster leader"
	}
	return "rpc error: injected fault (nomadtest)"
}

// Fault makes the nth (1-based) request matching pattern fail with kind; it
// fires once. pattern is matched against "METHOD /escaped/path" and the
// endpoint's template (e.g. "GET /v1/job/:id/allocations") with path.Match
// rules, and a pattern without a method matches any method. Examples:
// "PUT /v1/jobs", "/v1/job/*/deployment", "GET /v1/job/:id".
func (s *Server) Fault(pattern string, nth int, kind FaultKind) {
	if nth < 1 {
		nth = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{pattern: pattern, nth: nth, kind: kind})
}

// Calls returns how many requests matching pattern (as in Fault) the server
// has received.
func (s *Server) Calls(pattern string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for key, c := range s.calls {
		method, rest, _ := strings.Cut(key, " ")
		tmpl, p, _ := strings.Cut(rest, "\x00")
		if faultMatches(pattern, method, p, tmpl) {
			n += c
		}
	}
	return n
}

// nextFault counts the request and returns the fault to inject, if any.
func (s *Server) nextFault(rt *route, r *http.Request) *fault {
	p := r.URL.EscapedPath()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[r.Method+" "+rt.pattern+"\x00"+p]++
	for _, f := range s.faults {
		if f.done || !faultMatches(f.pattern, r.Method, p, rt.pattern) {
			continue
		}
		f.seen++
		if f.seen == f.nth {
			f.done = true
			return f
		}
	}
	return nil
}

func faultMatches(pattern, method, escapedPath, tmpl string) bool {
	want := pattern
	if m, rest, ok := strings.Cut(pattern, " "); ok {
		if m != method && !(m == http.MethodPut && method == http.MethodPost) {
			return false
		}
		want = rest
	}
	if want == tmpl || want == escapedPath {
		return true
	}
	ok, _ := path.Match(want, escapedPath)
	return ok
}
