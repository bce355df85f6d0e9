package nomadtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// trackedVersions is how many versions of a job Nomad keeps by default.
const trackedVersions = 6

func (s *Server) listJobs(q *request) error {
	ns := q.namespace()
	prefix := q.query.Get("prefix")
	withMeta := q.query.Get("meta") == "true"
	return s.query(q, []string{tblJobs, tblSummaries}, func(st *state) (any, error) {
		out := []*api.JobListStub{}
		for k, e := range st.jobs {
			if (ns != "*" && k.ns != ns) || !strings.HasPrefix(k.id, prefix) {
				continue
			}
			stub := jobStub(st, e.current())
			if withMeta {
				stub.Meta = copyMap(e.current().Meta)
			}
			out = append(out, stub)
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].Namespace != out[j].Namespace {
				return out[i].Namespace < out[j].Namespace
			}
			return out[i].ID < out[j].ID
		})
		return out, nil
	})
}

func jobStub(st *state, j *api.Job) *api.JobListStub {
	return &api.JobListStub{
		ID:                deref(j.ID),
		ParentID:          deref(j.ParentID),
		Name:              deref(j.Name),
		Namespace:         deref(j.Namespace),
		Datacenters:       j.Datacenters,
		Type:              deref(j.Type),
		Priority:          deref(j.Priority),
		Periodic:          j.Periodic != nil,
		ParameterizedJob:  j.ParameterizedJob != nil,
		Stop:              deref(j.Stop),
		Status:            deref(j.Status),
		StatusDescription: deref(j.StatusDescription),
		JobSummary:        summarize(st, j),
		CreateIndex:       deref(j.CreateIndex),
		ModifyIndex:       deref(j.ModifyIndex),
		JobModifyIndex:    deref(j.JobModifyIndex),
		SubmitTime:        deref(j.SubmitTime),
	}
}

// lookupJob returns the job or Nomad's 404.
func lookupJob(st *state, ns, id string) (*jobEntry, error) {
	e := st.jobs[nsKey{ns, id}]
	if e == nil {
		return nil, errCode(http.StatusNotFound, "job not found")
	}
	return e, nil
}

func (s *Server) getJob(q *request) error {
	ns, id := q.namespace(), q.param("id")
	return s.query(q, []string{tblJobs}, func(st *state) (any, error) {
		e, err := lookupJob(st, ns, id)
		if err != nil {
			return nil, err
		}
		return e.current(), nil
	})
}

func (s *Server) getJobVersions(q *request) error {
	ns, id := q.namespace(), q.param("id")
	diffs := q.query.Get("diffs") == "true"
	return s.query(q, []string{tblJobs}, func(st *state) (any, error) {
		e, err := lookupJob(st, ns, id)
		if err != nil {
			return nil, err
		}
		resp := api.JobVersionsResponse{}
		for i := len(e.versions) - 1; i >= 0; i-- {
			resp.Versions = append(resp.Versions, e.versions[i])
			if diffs && i > 0 {
				d, _ := diffJobs(e.versions[i-1], e.versions[i], nil)
				resp.Diffs = append(resp.Diffs, d)
			}
		}
		return resp, nil
	})
}

func (s *Server) getJobSubmission(q *request) error {
	ns, id := q.namespace(), q.param("id")
	v, err := strconv.ParseUint(q.query.Get("version"), 10, 64)
	if err != nil {
		return errCode(http.StatusBadRequest, "Unable to parse job version: %v", err)
	}
	return s.query(q, []string{tblJobs}, func(st *state) (any, error) {
		e, err := lookupJob(st, ns, id)
		if err != nil {
			return nil, err
		}
		sub := e.submissions[v]
		if sub == nil {
			return nil, errCode(http.StatusNotFound, "job source not found")
		}
		c := *sub
		c.VariableFlags = copyMap(sub.VariableFlags)
		return &c, nil
	})
}

func (s *Server) getJobSummary(q *request) error {
	ns, id := q.namespace(), q.param("id")
	return s.query(q, []string{tblSummaries, tblJobs}, func(st *state) (any, error) {
		e, err := lookupJob(st, ns, id)
		if err != nil {
			return nil, err
		}
		return summarize(st, e.current()), nil
	})
}

// summarize builds a job summary from the allocations the double holds.
func summarize(st *state, j *api.Job) *api.JobSummary {
	ns, id := deref(j.Namespace), deref(j.ID)
	sum := &api.JobSummary{
		JobID:       id,
		Namespace:   ns,
		Summary:     map[string]api.TaskGroupSummary{},
		CreateIndex: deref(j.CreateIndex),
		ModifyIndex: deref(j.ModifyIndex),
	}
	for _, tg := range j.TaskGroups {
		sum.Summary[deref(tg.Name)] = api.TaskGroupSummary{}
	}
	for _, a := range st.jobAllocs(ns, id) {
		g := sum.Summary[a.alloc.TaskGroup]
		switch a.alloc.ClientStatus {
		case api.AllocClientStatusPending:
			g.Starting++
		case api.AllocClientStatusRunning:
			g.Running++
		case api.AllocClientStatusComplete:
			g.Complete++
		case api.AllocClientStatusFailed:
			g.Failed++
		case api.AllocClientStatusLost:
			g.Lost++
		}
		sum.Summary[a.alloc.TaskGroup] = g
	}
	if j.ParameterizedJob != nil || j.Periodic != nil {
		sum.Children = &api.JobChildrenSummary{}
		for k, e := range st.jobs {
			c := e.current()
			if k.ns != ns || deref(c.ParentID) != id {
				continue
			}
			switch deref(c.Status) {
			case "pending":
				sum.Children.Pending++
			case "running":
				sum.Children.Running++
			default:
				sum.Children.Dead++
			}
		}
	}
	return sum
}

func (s *Server) getJobAllocations(q *request) error {
	ns, id := q.namespace(), q.param("id")
	return s.query(q, []string{tblAllocs}, func(st *state) (any, error) {
		out := []*api.AllocationListStub{}
		for _, a := range st.jobAllocs(ns, id) {
			out = append(out, allocStub(a.alloc))
		}
		return out, nil
	})
}

func (s *Server) getJobEvaluations(q *request) error {
	ns, id := q.namespace(), q.param("id")
	return s.query(q, []string{tblEvals}, func(st *state) (any, error) {
		out := []*api.Evaluation{}
		for _, ev := range st.evals {
			if ev.Namespace == ns && ev.JobID == id {
				c := *ev
				out = append(out, &c)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].CreateIndex > out[j].CreateIndex })
		return out, nil
	})
}

// registerJob answers PUT /v1/jobs and PUT /v1/job/:id.
func (s *Server) registerJob(q *request) error {
	var req api.JobRegisterRequest
	if err := q.decode(&req); err != nil {
		return err
	}
	if req.Job == nil {
		return errCode(http.StatusBadRequest, "Job must be specified")
	}
	if id := q.param("id"); id != "" && deref(req.Job.ID) != id {
		return errCode(http.StatusBadRequest, "Job ID does not match name")
	}
	job := req.Job
	if deref(job.Namespace) == "" {
		ns := q.namespace()
		job.Namespace = &ns
	}
	job.Canonicalize()
	if err := validateJob(job); err != nil {
		return err
	}
	warnings := jobWarnings(job)

	s.mu.Lock()
	defer s.mu.Unlock()
	ns, id := deref(job.Namespace), deref(job.ID)
	if !s.namespaceExists(ns) {
		return errCode(http.StatusInternalServerError, "job %q is in nonexistent namespace %q", id, ns)
	}
	e := s.st.jobs[nsKey{ns, id}]
	if req.EnforceIndex {
		switch {
		case req.JobModifyIndex == 0 && e != nil:
			return errCode(http.StatusInternalServerError, "Enforcing job modify index 0: job already exists")
		case req.JobModifyIndex != 0 && e == nil:
			return errCode(http.StatusInternalServerError, "Enforcing job modify index %d: job does not exist", req.JobModifyIndex)
		case e != nil && req.JobModifyIndex != deref(e.current().JobModifyIndex):
			return errCode(http.StatusInternalServerError, "Enforcing job modify index %d: job exists with conflicting job modify index: %d",
				req.JobModifyIndex, deref(e.current().JobModifyIndex))
		}
	}
	if e != nil && specEqual(e.current(), job) {
		// Nomad writes nothing for an unchanged spec (no new version, no new
		// submission) and answers with the job's ModifyIndex, which has
		// moved past its JobModifyIndex once the job's status changed; it
		// still creates an evaluation for jobs that are neither periodic
		// nor parameterized, as `nomad job eval` would.
		cur := e.current()
		resp := api.JobRegisterResponse{JobModifyIndex: deref(cur.ModifyIndex), Warnings: warnings}
		index := deref(cur.ModifyIndex)
		if job.ParameterizedJob == nil && job.Periodic == nil {
			ev := s.newEval(cur, "job-register")
			resp.EvalID, resp.EvalCreateIndex = ev.ID, ev.CreateIndex
			index = ev.CreateIndex
			s.startEval(ev, cur)
		}
		return q.reply(index, resp)
	}
	resp := s.upsertJob(e, job, req.Submission, "job-register")
	resp.Warnings = warnings
	return q.reply(resp.JobModifyIndex, resp)
}

// upsertJob stores job as a new version (or, when its spec is unchanged,
// refreshes the current one), creates the evaluation and starts the
// simulated scheduler. Callers hold s.mu.
func (s *Server) upsertJob(e *jobEntry, job *api.Job, sub *api.JobSubmission, trigger string) api.JobRegisterResponse {
	return s.upsertJobVersion(e, job, sub, trigger, false)
}

// upsertJobVersion is upsertJob; with newVersion, an unchanged spec still
// becomes a new version (as a stop does).
func (s *Server) upsertJobVersion(e *jobEntry, job *api.Job, sub *api.JobSubmission, trigger string, newVersion bool) api.JobRegisterResponse {
	ns, id := deref(job.Namespace), deref(job.ID)
	now := time.Now().UnixNano()
	idx := s.st.bump(tblJobs, tblSummaries)
	var prev *api.Job
	if e == nil {
		e = &jobEntry{submissions: map[uint64]*api.JobSubmission{}, dispatched: map[string]string{}, createTime: now}
		s.st.jobs[nsKey{ns, id}] = e
		job.Version = ptr(uint64(0))
		job.CreateIndex = ptr(idx)
		job.JobModifyIndex = ptr(idx)
		job.SubmitTime = ptr(now)
		job.Stable = ptr(false)
	} else {
		prev = e.current()
		job.CreateIndex = prev.CreateIndex
		if specEqual(prev, job) && !newVersion {
			job.Version = prev.Version
			job.JobModifyIndex = prev.JobModifyIndex
			job.SubmitTime = prev.SubmitTime
			job.Stable = prev.Stable
		} else {
			job.Version = ptr(deref(prev.Version) + 1)
			job.JobModifyIndex = ptr(idx)
			job.SubmitTime = ptr(now)
			job.Stable = ptr(false)
		}
	}
	job.ModifyIndex = ptr(idx)
	job.Status = ptr(initialStatus(job, prev))
	job.StatusDescription = ptr("")
	if prev != nil && deref(prev.Version) == deref(job.Version) {
		e.versions[len(e.versions)-1] = job
	} else {
		e.versions = append(e.versions, job)
		if len(e.versions) > trackedVersions {
			drop := e.versions[0]
			delete(e.submissions, deref(drop.Version))
			e.versions = e.versions[1:]
		}
	}
	if sub != nil {
		c := *sub
		if c.Format == "" {
			c.Format = "hcl2"
		}
		e.submissions[deref(job.Version)] = &c
	}
	resp := api.JobRegisterResponse{JobModifyIndex: deref(job.JobModifyIndex)}
	if job.ParameterizedJob != nil || job.Periodic != nil {
		// Nomad creates no evaluation for parameterized or periodic parents.
		return resp
	}
	ev := s.newEval(job, trigger)
	resp.EvalID = ev.ID
	resp.EvalCreateIndex = ev.CreateIndex
	s.startEval(ev, job)
	return resp
}

func initialStatus(job, prev *api.Job) string {
	switch {
	case deref(job.Stop):
		return "dead"
	case job.ParameterizedJob != nil || job.Periodic != nil:
		return "running"
	case prev != nil && deref(prev.Status) == "running" && !deref(prev.Stop):
		return "running"
	}
	return "pending"
}

// validateJob applies the subset of Nomad's job validation tenantctl can
// trip over.
func validateJob(job *api.Job) error {
	var errs []string
	if deref(job.ID) == "" {
		errs = append(errs, "Missing job ID")
	} else if strings.Contains(deref(job.ID), " ") {
		errs = append(errs, "Job ID contains a space")
	}
	switch deref(job.Type) {
	case "service", "batch", "system", "sysbatch":
	default:
		errs = append(errs, fmt.Sprintf("Invalid job type: %q", deref(job.Type)))
	}
	if len(job.TaskGroups) == 0 {
		errs = append(errs, "Missing job task groups")
	}
	seen := map[string]bool{}
	for i, tg := range job.TaskGroups {
		name := deref(tg.Name)
		if name == "" {
			errs = append(errs, fmt.Sprintf("Job task group %d missing name", i+1))
		} else if seen[name] {
			errs = append(errs, fmt.Sprintf("Job task group %d redefines '%s' from group %d", i+1, name, i))
		}
		seen[name] = true
		if len(tg.Tasks) == 0 {
			errs = append(errs, fmt.Sprintf("Task group %s validation failed: Missing tasks for task group", name))
		}
		for _, t := range tg.Tasks {
			if t.Driver == "" {
				errs = append(errs, fmt.Sprintf("Task group %s validation failed: Task %s validation failed: Missing task driver", name, t.Name))
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d error occurred:\n", len(errs))
	if len(errs) > 1 {
		b.Reset()
		fmt.Fprintf(&b, "%d errors occurred:\n", len(errs))
	}
	for _, e := range errs {
		fmt.Fprintf(&b, "\t* %s\n", e)
	}
	b.WriteString("\n")
	return errCode(http.StatusInternalServerError, "%s", b.String())
}

// jobWarnings returns the Warnings Nomad 2 gives a registration: services
// without a shutdown_delay.
func jobWarnings(job *api.Job) string {
	var ws []string
	for _, tg := range job.TaskGroups {
		anyTaskDelay := false
		for _, t := range tg.Tasks {
			if len(t.Services) == 0 {
				continue
			}
			if t.ShutdownDelay > 0 {
				anyTaskDelay = true
				continue
			}
			ws = append(ws, fmt.Sprintf("task %q in group %q defines services, but has no shutdown_delay set", t.Name, deref(tg.Name)))
		}
		groupDelay := tg.ShutdownDelay != nil && *tg.ShutdownDelay > 0
		unscoped := false
		for _, svc := range tg.Services {
			if svc.TaskName == "" {
				unscoped = true
			}
		}
		if unscoped && !groupDelay && !anyTaskDelay {
			ws = append(ws, fmt.Sprintf("group %q defines services, but neither the group nor any of its tasks have shutdown_delay set", deref(tg.Name)))
		}
	}
	if len(ws) == 0 {
		return ""
	}
	head := "1 warning:"
	if len(ws) > 1 {
		head = fmt.Sprintf("%d warnings:", len(ws))
	}
	return head + "\n\n* " + strings.Join(ws, "\n* ") + "\n"
}

// deregisterJob answers DELETE /v1/job/:id: a stop (a new version with Stop
// set, the job kept as dead) or, with purge=true, removal.
func (s *Server) deregisterJob(q *request) error {
	ns, id := q.namespace(), q.param("id")
	purge := q.query.Get("purge") == "true"
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.st.jobs[nsKey{ns, id}]
	if e == nil {
		// Nomad answers a deregistration of a job that does not exist
		// (stop or purge, in any namespace) with success and no evaluation.
		return q.reply(s.st.index, api.JobDeregisterResponse{})
	}
	cur := e.current()
	resp := api.JobDeregisterResponse{}
	if purge {
		// The job, its allocations and deployments leave the job's
		// listings at once (allocations stay readable by ID); its
		// allocations stop right away.
		key := nsKey{ns, id}
		var toStop []*allocEntry
		for _, a := range s.st.jobAllocs(ns, id) {
			if a.alloc.DesiredStatus == api.AllocDesiredStatusRun {
				s.stopAllocLocked(a, "alloc not needed since job is stopped")
				toStop = append(toStop, a)
			}
		}
		if d := s.st.latestDeployment(ns, id); d != nil && d.Status == api.DeploymentStatusRunning {
			s.setDeploymentStatus(d, api.DeploymentStatusCancelled, "Cancelled because job is stopped")
		}
		delete(s.st.jobs, key)
		delete(s.st.allocsByJob, key)
		delete(s.st.deploymentsByJob, key)
		idx := s.st.bump(tblJobs, tblSummaries, tblAllocs, tblDeployments)
		resp.JobModifyIndex = idx
		stopped := copyJob(cur)
		stopped.Stop = ptr(true)
		ev := s.newEval(stopped, "job-deregister")
		resp.EvalID, resp.EvalCreateIndex = ev.ID, ev.CreateIndex
		s.startEval(ev, stopped)
		s.goRun(func() {
			for _, a := range toStop {
				s.releaseAlloc(a)
			}
		})
		return q.reply(ev.CreateIndex, resp)
	}
	// A stop writes a new version of the job with Stop set, even when the
	// job is stopped already, and the new version keeps the submission of
	// the one it stops.
	stopped := copyJob(cur)
	stopped.Stop = ptr(true)
	var sub *api.JobSubmission
	if prev := e.submissions[deref(cur.Version)]; prev != nil {
		c := *prev
		sub = &c
	}
	r := s.upsertJobVersion(e, stopped, sub, "job-deregister", true)
	resp.EvalID, resp.EvalCreateIndex, resp.JobModifyIndex = r.EvalID, r.EvalCreateIndex, r.JobModifyIndex
	return q.reply(s.st.index, resp)
}

// specEqual reports whether two versions of a job differ only in fields the
// server sets.
func specEqual(a, b *api.Job) bool {
	return bytes.Equal(specBytes(a), specBytes(b))
}

// specBytes encodes the job without server-set fields (json.Marshal sorts
// map keys, so equal specs encode equally).
func specBytes(j *api.Job) []byte {
	c := *j
	c.Status, c.StatusDescription, c.Stable, c.Version = nil, nil, nil, nil
	c.SubmitTime, c.CreateIndex, c.ModifyIndex, c.JobModifyIndex = nil, nil, nil, nil
	c.VersionTag = nil
	b, err := json.Marshal(&c)
	if err != nil {
		panic(fmt.Sprintf("nomadtest: encode job: %v", err))
	}
	return b
}

// specOf returns the job as a generic JSON value without server-set fields.
func specOf(j *api.Job) any {
	var out any
	if err := json.Unmarshal(specBytes(j), &out); err != nil {
		panic(fmt.Sprintf("nomadtest: decode job: %v", err))
	}
	return out
}

func toGeneric(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("nomadtest: encode: %v", err))
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("nomadtest: decode: %v", err))
	}
	return out
}

// copyJob deep-copies a job through JSON, the way it crosses the wire.
func copyJob(j *api.Job) *api.Job {
	b, err := json.Marshal(j)
	if err != nil {
		panic(fmt.Sprintf("nomadtest: encode job: %v", err))
	}
	var c api.Job
	if err := json.Unmarshal(b, &c); err != nil {
		panic(fmt.Sprintf("nomadtest: decode job: %v", err))
	}
	return &c
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func ptr[T any](v T) *T { return &v }
