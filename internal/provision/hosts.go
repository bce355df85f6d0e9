package provision

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// hostView is what the host check reads: every tenant's record and, by tag,
// the tenants whose services carry it in Consul's catalog.
type hostView struct {
	records []tenant.Record
	byTag   map[string][]string
}

func (e Env) readHosts(ctx context.Context) (hostView, error) {
	recs, err := e.Consul.ListRecords(ctx)
	if err != nil {
		return hostView{}, err
	}
	byTag, err := e.Consul.TenantsByTag(ctx)
	if err != nil {
		return hostView{}, err
	}
	return hostView{records: recs, byTag: byTag}, nil
}

// hostFree refuses a host that another tenant holds: in its record, or in
// the tags of its services in Consul (a tenant whose up has not finished
// yet). Routing would otherwise hand one tenant's traffic to another. With
// shared (a fleet apply), the listings come from it; they are never older
// than this call.
func (e Env) hostFree(ctx context.Context, d desired, shared *HostListing) error {
	var v hostView
	var err error
	if shared != nil {
		v, err = shared.read(ctx)
	} else {
		v, err = e.readHosts(ctx)
	}
	if err != nil {
		return err
	}
	host := d.spec.Host.String()
	var holders []string
	for _, r := range v.records {
		if r.Host == host && r.Tenant != d.spec.ID.String() {
			holders = append(holders, r.Tenant)
		}
	}
	for _, id := range v.byTag["tenantctl.host="+host] {
		if id != d.spec.ID.String() && !slices.Contains(holders, id) {
			holders = append(holders, id)
		}
	}
	if len(holders) == 0 {
		return nil
	}
	return exit.UsageError("choose another --host for "+d.spec.ID.String()+", or first move "+holders[0]+" off it",
		"host %s is held by tenant %s", host, strings.Join(holders, ", "))
}

// HostListing shares the host check's listings (every record, the catalog's
// services) among the tenants of a fleet apply, which would otherwise each
// read all of them: quadratic in the fleet's size. It stays as correct as a
// listing per tenant under concurrency: every caller gets a listing whose
// read began after its call did, so a host that another tenant took before
// the check is seen and refused. Callers that arrive while a read is under
// way share the next one, which starts when it ends. Safe for concurrent
// use.
type HostListing struct {
	env Env
	mu  sync.Mutex
	// running is the read under way; next the one that starts after it,
	// which new callers join.
	running, next *hostRead
	reads         int
}

// hostRead is one listing read and its result.
type hostRead struct {
	done chan struct{}
	view hostView
	err  error
}

// hostReadTimeout bounds one shared read, which no single caller's context
// governs.
const hostReadTimeout = time.Minute

// NewHostListing returns a HostListing over env's Consul.
func NewHostListing(env Env) *HostListing { return &HostListing{env: env} }

// Reads returns how many listings were read so far.
func (l *HostListing) Reads() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reads
}

// read returns a listing read entirely after the call began.
func (l *HostListing) read(ctx context.Context) (hostView, error) {
	l.mu.Lock()
	var r *hostRead
	switch {
	case l.running == nil:
		r = &hostRead{done: make(chan struct{})}
		l.start(r)
	case l.next != nil:
		r = l.next
	default:
		r = &hostRead{done: make(chan struct{})}
		l.next = r
	}
	l.mu.Unlock()
	select {
	case <-r.done:
		return r.view, r.err
	case <-ctx.Done():
		return hostView{}, ctx.Err()
	}
}

// start runs r; l.mu is held.
func (l *HostListing) start(r *hostRead) {
	l.running = r
	l.reads++
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), hostReadTimeout)
		r.view, r.err = l.env.readHosts(ctx)
		cancel()
		l.mu.Lock()
		l.running = nil
		if n := l.next; n != nil {
			l.next = nil
			l.start(n)
		}
		l.mu.Unlock()
		close(r.done)
	}()
}
