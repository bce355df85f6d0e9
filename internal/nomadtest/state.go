package nomadtest

import (
	"github.com/hashicorp/nomad/api"
)

// Table names used for per-table indexes, so a blocking query on allocations
// is not woken by a namespace write (Nomad keeps one index per table too).
const (
	tblNamespaces  = "namespaces"
	tblJobs        = "jobs"
	tblSummaries   = "job_summary"
	tblEvals       = "evals"
	tblAllocs      = "allocs"
	tblDeployments = "deployment"
	tblVolumes     = "host_volumes"
)

// nsKey identifies a namespaced object.
type nsKey struct{ ns, id string }

// taskKey identifies a task of a job in a namespace.
type taskKey struct{ ns, job, task string }

// state is the double's in-memory store. Every mutation goes through bump,
// which raises the index and wakes blocked queries. Guarded by Server.mu.
type state struct {
	index  uint64
	tables map[string]uint64
	notify chan struct{}

	namespaces  map[string]*api.Namespace
	jobs        map[nsKey]*jobEntry
	evals       map[string]*api.Evaluation
	allocs      map[string]*allocEntry
	deployments map[string]*api.Deployment
	volumes     map[string]*api.HostVolume

	// replacing maps an evaluation created by an allocation stop to the
	// stopped allocation, which the evaluation's placement replaces.
	replacing map[string]*allocEntry

	// Per-job indexes, so lookups stay cheap in long benchmarks.
	allocsByJob      map[nsKey][]*allocEntry
	deploymentsByJob map[nsKey][]*api.Deployment
}

// jobEntry is a job with its version history.
type jobEntry struct {
	versions    []*api.Job
	submissions map[uint64]*api.JobSubmission
	// dispatched maps an idempotency token to the child job it dispatched.
	dispatched map[string]string
	createTime int64
}

func (e *jobEntry) current() *api.Job { return e.versions[len(e.versions)-1] }

func newState() *state {
	st := &state{
		index:       1,
		tables:      map[string]uint64{},
		notify:      make(chan struct{}),
		namespaces:  map[string]*api.Namespace{},
		jobs:        map[nsKey]*jobEntry{},
		evals:       map[string]*api.Evaluation{},
		allocs:      map[string]*allocEntry{},
		deployments: map[string]*api.Deployment{},
		volumes:     map[string]*api.HostVolume{},
		replacing:   map[string]*allocEntry{},

		allocsByJob:      map[nsKey][]*allocEntry{},
		deploymentsByJob: map[nsKey][]*api.Deployment{},
	}
	st.namespaces[api.DefaultNamespace] = &api.Namespace{
		Name:        api.DefaultNamespace,
		Description: "Default shared namespace",
		Meta:        map[string]string{},
		CreateIndex: 1,
		ModifyIndex: 1,
	}
	return st
}

// bump raises the index, records it for the named tables and wakes every
// blocked query. It returns the new index.
func (st *state) bump(tables ...string) uint64 {
	st.index++
	for _, t := range tables {
		st.tables[t] = st.index
	}
	close(st.notify)
	st.notify = make(chan struct{})
	return st.index
}

// tableIndex is the highest index of the named tables (at least 1).
func (st *state) tableIndex(tables ...string) uint64 {
	var max uint64 = 1
	for _, t := range tables {
		if st.tables[t] > max {
			max = st.tables[t]
		}
	}
	return max
}

func (st *state) job(ns, id string) *api.Job {
	e := st.jobs[nsKey{ns, id}]
	if e == nil {
		return nil
	}
	return e.current()
}

// jobAllocs returns the allocations of a job, oldest first.
func (st *state) jobAllocs(ns, id string) []*allocEntry {
	return append([]*allocEntry(nil), st.allocsByJob[nsKey{ns, id}]...)
}

// latestDeployment returns the job's newest deployment, or nil.
func (st *state) latestDeployment(ns, id string) *api.Deployment {
	var best *api.Deployment
	for _, d := range st.deploymentsByJob[nsKey{ns, id}] {
		if best == nil || d.CreateIndex > best.CreateIndex {
			best = d
		}
	}
	return best
}

// liveJobs counts the jobs of a namespace that are not dead, the ones Nomad
// refuses to delete a namespace under.
func (st *state) liveJobs(ns string) int {
	n := 0
	for k, e := range st.jobs {
		if k.ns == ns && deref(e.current().Status) != "dead" {
			n++
		}
	}
	return n
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
