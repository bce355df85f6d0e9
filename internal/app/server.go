package app

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// Log attribute names.
const (
	attrMethod     = "method"
	attrPath       = "path"
	attrRoute      = "route"
	attrStatus     = "status"
	attrDurationMS = "duration_ms"
	attrBytes      = "bytes"
	attrOrg        = "org"
	attrError      = "error"
	attrBackends   = "connections"
	attrDrainMS    = "drain_ms"
	attrAddr       = "addr"
	attrJob        = "job"
	attrJobType    = "job_type"
	attrMessage    = "message_id"
	attrOutcome    = "outcome"
)

// requestTimeout bounds the database work of one request.
const requestTimeout = 10 * time.Second

// Server is the HTTP API of the tenant app: health, readiness, contacts,
// deals and job submission. Its handler is safe for concurrent use.
type Server struct {
	// Tenant is the tenant id this app serves (TENANT_ID); /api/health names
	// it, so a router check can tell that it reached the right tenant.
	Tenant   string
	pools    *Pools
	log      *slog.Logger
	stream   string
	draining atomic.Bool
}

// NewServer returns a Server over pools. Jobs posted to /api/jobs go to the
// Redis stream named stream. A nil logger discards request logs.
func NewServer(pools *Pools, stream string, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{pools: pools, log: logger, stream: stream}
}

// Drain makes /api/ready answer 503 from now on, so the service is taken out
// of routing while in-flight requests finish.
func (s *Server) Drain() { s.draining.Store(true) }

// Handler returns the routes, wrapped in the request log.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", s.health)
	mux.HandleFunc("GET /api/ready", s.ready)
	mux.HandleFunc("GET /api/contacts", s.withOrg(true, listContacts))
	mux.HandleFunc("POST /api/contacts", s.withOrg(false, createContact))
	mux.HandleFunc("GET /api/contacts/{id}", s.withOrg(true, getContact))
	mux.HandleFunc("PUT /api/contacts/{id}", s.withOrg(false, updateContact))
	mux.HandleFunc("DELETE /api/contacts/{id}", s.withOrg(false, deleteContact))
	mux.HandleFunc("GET /api/deals", s.withOrg(true, listDeals))
	mux.HandleFunc("POST /api/deals", s.withOrg(false, createDeal))
	mux.HandleFunc("GET /api/deals/{id}", s.withOrg(true, getDeal))
	mux.HandleFunc("PUT /api/deals/{id}", s.withOrg(false, updateDeal))
	mux.HandleFunc("DELETE /api/deals/{id}", s.withOrg(false, deleteDeal))
	mux.HandleFunc("POST /api/jobs", s.submitJob)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, errorf(http.StatusNotFound, "no_route", "no such endpoint"))
	})
	return requestLog(s.log, mux)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	body := map[string]string{"status": "ok"}
	if s.Tenant != "" {
		body["tenant"] = s.Tenant
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.pools.Check(ctx); err != nil {
		noteError(r, err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// withOrg wraps h: it reads the organization, the body (for writes), runs h
// in inOrg on the current pools, and answers JSON.
func (s *Server) withOrg(readOnly bool, h func(ctx context.Context, tx querier, req *request) (int, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		org, err := orgOf(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		noteOrg(r, org)
		req := &request{r: r, w: w, org: org}
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		b, release := s.pools.acquire()
		defer release()
		var status int
		var out any
		err = inOrg(ctx, b, org, readOnly, func(tx querier) error {
			var err error
			status, out, err = h(ctx, tx, req)
			return err
		})
		if err != nil {
			writeError(w, r, err)
			return
		}
		if out == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, out)
	}
}

// request is what an organization handler sees of its request.
type request struct {
	r   *http.Request
	w   http.ResponseWriter
	org string
}

// decode decodes the JSON body into v.
func (q *request) decode(v any) error { return decodeBody(q.w, q.r, v) }

// id returns the {id} path value.
func (q *request) id() (string, error) { return pathID(q.r) }
