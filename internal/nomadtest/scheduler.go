package nomadtest

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"
)

// nodeID is the ID of the double's single simulated client node.
const nodeID = "00000000-0000-4000-8000-00000000d0b1"

// allocEntry is an allocation with the bookkeeping of its simulated run.
type allocEntry struct {
	alloc  *api.Allocation
	ctx    context.Context
	cancel context.CancelFunc
	dir    string

	// Guarded by Server.mu.
	ports    map[string]int
	runs     map[string]*TaskRun
	services []string
	released bool

	logMu sync.Mutex
	logs  map[string]map[string][]byte // task → "stdout"/"stderr" → text

	releaseOnce sync.Once
}

// logWriter appends to one of a task's log streams.
type logWriter struct {
	a          *allocEntry
	task, kind string
}

func (w logWriter) Write(p []byte) (int, error) {
	w.a.appendLog(w.task, w.kind, p)
	return len(p), nil
}

func (a *allocEntry) appendLog(task, kind string, p []byte) {
	a.logMu.Lock()
	defer a.logMu.Unlock()
	if a.logs[task] == nil {
		a.logs[task] = map[string][]byte{}
	}
	a.logs[task][kind] = append(a.logs[task][kind], p...)
}

func (a *allocEntry) log(task, kind string) []byte {
	a.logMu.Lock()
	defer a.logMu.Unlock()
	return append([]byte(nil), a.logs[task][kind]...)
}

// sleep waits d or until ctx ends; it reports whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// goRun runs f on a goroutine tracked by the server.
func (s *Server) goRun(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// startEval processes an evaluation of job on a goroutine; callers hold
// s.mu. The evaluation works on its own copy of job, which its allocations
// share and nobody modifies.
func (s *Server) startEval(ev *api.Evaluation, job *api.Job) {
	job = copyJob(job)
	s.goRun(func() { s.runEval(ev.ID, job) })
}

// liveAllocs returns the job's allocations still meant to run; callers hold
// s.mu.
func (s *Server) liveAllocs(ns, id, group string) []*allocEntry {
	var out []*allocEntry
	for _, a := range s.st.jobAllocs(ns, id) {
		if a.alloc.TaskGroup != group || a.alloc.DesiredStatus != api.AllocDesiredStatusRun {
			continue
		}
		out = append(out, a)
	}
	return out
}

// runEval plays the scheduler for one evaluation: it stops, updates in
// place or places allocations so the job's groups match job, and manages the
// job's deployment.
func (s *Server) runEval(evalID string, job *api.Job) {
	if !sleep(s.ctx, s.delay) {
		return
	}
	s.mu.Lock()
	ev := s.st.evals[evalID]
	ns, id := deref(job.Namespace), deref(job.ID)
	var toStart, toStop []*allocEntry
	now := time.Now().UnixNano()

	if deref(job.Stop) {
		for _, a := range s.st.jobAllocs(ns, id) {
			if a.alloc.DesiredStatus == api.AllocDesiredStatusRun {
				s.stopAllocLocked(a, "alloc not needed since job is stopped")
				toStop = append(toStop, a)
			}
		}
		if d := s.st.latestDeployment(ns, id); d != nil && d.Status == api.DeploymentStatusRunning {
			s.setDeploymentStatus(d, api.DeploymentStatusCancelled, "Cancelled because job is stopped")
		}
		s.completeEval(ev, nil, "")
		s.refreshJobStatus(ns, id)
		s.st.bump(tblEvals, tblAllocs, tblDeployments, tblJobs, tblSummaries)
		s.mu.Unlock()
		for _, a := range toStop {
			s.releaseAlloc(a)
		}
		return
	}

	dep := s.deploymentFor(job)
	if dep != nil && ev != nil {
		ev.DeploymentID = dep.ID
	}
	failed := map[string]*api.AllocationMetric{}
	for _, tg := range job.TaskGroups {
		group := deref(tg.Name)
		outcomes := s.groupOutcomes(job, tg)
		placementFails := false
		for _, o := range outcomes {
			placementFails = placementFails || o.PlacementFailure
		}
		var keep []*allocEntry
		for _, a := range s.liveAllocs(ns, id, group) {
			switch {
			case a.alloc.ClientStatus == api.AllocClientStatusFailed:
				// Failed allocations are not rescheduled by the double.
			case deref(a.alloc.Job.Version) == deref(job.Version):
				keep = append(keep, a)
			case updateKind(a.alloc.Job, groupOf(a.alloc.Job, group), job, tg) == updateDestructive:
				s.stopAllocLocked(a, "alloc is being updated due to job update")
				toStop = append(toStop, a)
			default:
				a.alloc.Job = job
				a.alloc.ModifyIndex = s.st.index + 1
				if dep != nil {
					a.alloc.DeploymentID = dep.ID
					a.alloc.DeploymentStatus = &api.AllocDeploymentStatus{Healthy: ptr(true), Timestamp: time.Now(), ModifyIndex: s.st.index + 1}
					st := dep.TaskGroups[group]
					st.PlacedAllocs++
					st.HealthyAllocs++
				}
				keep = append(keep, a)
			}
		}
		if deref(job.Type) == "batch" || deref(job.Type) == "sysbatch" {
			for _, a := range s.st.jobAllocs(ns, id) {
				if a.alloc.TaskGroup == group && a.alloc.ClientStatus == api.AllocClientStatusComplete &&
					deref(a.alloc.Job.Version) == deref(job.Version) {
					keep = append(keep, a)
				}
			}
		}
		count := deref(tg.Count)
		// Nomad stops the allocations with the highest name indices.
		byNameIndex(keep)
		for len(keep) > count {
			a := keep[len(keep)-1]
			keep = keep[:len(keep)-1]
			if a.alloc.DesiredStatus == api.AllocDesiredStatusRun {
				s.stopAllocLocked(a, "alloc not needed due to job update")
				toStop = append(toStop, a)
			}
		}
		missing := count - len(keep)
		if missing <= 0 {
			continue
		}
		if placementFails {
			failed[group] = &api.AllocationMetric{
				NodesEvaluated:     1,
				NodesInPool:        1,
				NodePool:           deref(job.NodePool),
				NodesAvailable:     map[string]int{s.dc: 1},
				NodesExhausted:     1,
				DimensionExhausted: map[string]int{"memory": 1},
				CoalescedFailures:  missing - 1,
			}
			continue
		}
		used := map[string]bool{}
		for _, a := range keep {
			used[a.alloc.Name] = true
		}
		for i := 0; missing > 0; i++ {
			name := fmt.Sprintf("%s.%s[%d]", id, group, i)
			if used[name] {
				continue
			}
			missing--
			a := s.newAllocLocked(job, tg, name, ev, dep, now)
			if old := s.st.replacing[ev.ID]; old != nil && old.alloc.TaskGroup == group {
				// Nomad links an allocation an operator stopped with its
				// replacement, both ways.
				old.alloc.NextAllocation = a.alloc.ID
				a.alloc.PreviousAllocation = old.alloc.ID
				delete(s.st.replacing, ev.ID)
			}
			toStart = append(toStart, a)
		}
	}
	blocked := ""
	if len(failed) > 0 {
		b := s.newEval(job, "queued-allocs")
		b.Status = api.EvalStatusBlocked
		b.StatusDescription = "created to place remaining allocations"
		b.PreviousEval = ev.ID
		blocked = b.ID
	}
	s.completeEval(ev, failed, blocked)
	if dep != nil {
		s.checkDeployment(dep)
	}
	s.refreshJobStatus(ns, id)
	s.st.bump(tblEvals, tblAllocs, tblDeployments, tblJobs, tblSummaries)
	s.mu.Unlock()

	for _, a := range toStop {
		s.releaseAlloc(a)
	}
	for _, a := range toStart {
		a := a
		s.goRun(func() { s.runAlloc(a) })
	}
}

func (s *Server) completeEval(ev *api.Evaluation, failed map[string]*api.AllocationMetric, blocked string) {
	if ev == nil {
		return
	}
	ev.Status = api.EvalStatusComplete
	ev.ModifyIndex = s.st.index + 1
	ev.ModifyTime = time.Now().UnixNano()
	if len(failed) > 0 {
		ev.FailedTGAllocs = failed
		ev.BlockedEval = blocked
		ev.QueuedAllocations = map[string]int{}
		for g, m := range failed {
			ev.QueuedAllocations[g] = m.CoalescedFailures + 1
		}
	}
}

// groupOf returns a job's group by name.
func groupOf(j *api.Job, name string) *api.TaskGroup {
	for _, tg := range j.TaskGroups {
		if deref(tg.Name) == name {
			return tg
		}
	}
	return nil
}

// newAllocLocked creates a pending allocation; callers hold s.mu.
func (s *Server) newAllocLocked(job *api.Job, tg *api.TaskGroup, name string, ev *api.Evaluation, dep *api.Deployment, now int64) *allocEntry {
	idx := s.st.index + 1
	alloc := &api.Allocation{
		ID:               newUUID(),
		Namespace:        deref(job.Namespace),
		EvalID:           ev.ID,
		Name:             name,
		NodeID:           nodeID,
		NodeName:         "nomadtest",
		JobID:            deref(job.ID),
		Job:              job,
		TaskGroup:        deref(tg.Name),
		DesiredStatus:    api.AllocDesiredStatusRun,
		ClientStatus:     api.AllocClientStatusPending,
		TaskStates:       map[string]*api.TaskState{},
		Metrics:          &api.AllocationMetric{NodesEvaluated: 1, NodesInPool: 1, NodePool: deref(job.NodePool)},
		CreateIndex:      idx,
		ModifyIndex:      idx,
		AllocModifyIndex: idx,
		CreateTime:       now,
		ModifyTime:       now,
	}
	if dep != nil {
		alloc.DeploymentID = dep.ID
		dep.TaskGroups[deref(tg.Name)].PlacedAllocs++
	}
	ctx, cancel := context.WithCancel(s.ctx)
	a := &allocEntry{alloc: alloc, ctx: ctx, cancel: cancel, runs: map[string]*TaskRun{}, logs: map[string]map[string][]byte{}}
	for _, t := range tg.Tasks {
		o := s.outcomeFor(job, t.Name)
		if o.Stdout != "" {
			a.appendLog(t.Name, "stdout", []byte(o.Stdout))
		}
		if o.Stderr != "" {
			a.appendLog(t.Name, "stderr", []byte(o.Stderr))
		}
	}
	s.st.allocs[alloc.ID] = a
	k := nsKey{alloc.Namespace, alloc.JobID}
	s.st.allocsByJob[k] = append(s.st.allocsByJob[k], a)
	return a
}

// stopAllocLocked marks an allocation as stopped; releaseAlloc must follow
// once s.mu is released. Callers hold s.mu.
func (s *Server) stopAllocLocked(a *allocEntry, why string) {
	al := a.alloc
	al.DesiredStatus = api.AllocDesiredStatusStop
	al.DesiredDescription = why
	if al.ClientStatus == api.AllocClientStatusPending || al.ClientStatus == api.AllocClientStatusRunning {
		al.ClientStatus = api.AllocClientStatusComplete
		now := time.Now()
		for _, ts := range al.TaskStates {
			if ts.State == "dead" {
				continue
			}
			ts.Events = append(ts.Events,
				event("Killing", "Sent interrupt. Waiting 5s before force killing", now),
				event(api.TaskTerminated, "Exit Code: 0", now),
				event("Killed", "Task successfully killed", now))
			ts.State = "dead"
			ts.FinishedAt = now
		}
	}
	al.ModifyIndex = s.st.index + 1
	al.ModifyTime = time.Now().UnixNano()
}

// releaseAlloc ends an allocation's simulated processes: its context, its
// hooks' Stop functions, its Consul services and its directories. It must be
// called without s.mu held.
func (s *Server) releaseAlloc(a *allocEntry) {
	a.releaseOnce.Do(func() {
		a.cancel()
		s.mu.Lock()
		a.released = true
		runs := make([]*TaskRun, 0, len(a.runs))
		for _, r := range a.runs {
			runs = append(runs, r)
		}
		services := a.services
		a.services = nil
		dir := a.dir
		s.mu.Unlock()
		s.deregisterServices(services)
		for _, r := range runs {
			if r != nil && r.Stop != nil {
				r.Stop()
			}
		}
		if dir != "" {
			os.RemoveAll(dir)
		}
	})
}

func event(typ, msg string, at time.Time) *api.TaskEvent {
	return &api.TaskEvent{Type: typ, Time: at.UnixNano(), DisplayMessage: msg, Details: map[string]string{}}
}

// refreshJobStatus derives a job's status from its allocations as Nomad
// does; callers hold s.mu.
func (s *Server) refreshJobStatus(ns, id string) {
	e := s.st.jobs[nsKey{ns, id}]
	if e == nil {
		return
	}
	j := e.current()
	status := "pending"
	switch {
	case j.ParameterizedJob != nil || j.Periodic != nil:
		status = "running"
		if deref(j.Stop) {
			status = "dead"
		}
	default:
		allocs := s.st.jobAllocs(ns, id)
		running, pending, terminal := 0, 0, 0
		for _, a := range allocs {
			switch a.alloc.ClientStatus {
			case api.AllocClientStatusRunning:
				running++
			case api.AllocClientStatusPending:
				pending++
			default:
				terminal++
			}
		}
		switch {
		case running > 0:
			status = "running"
		case pending > 0:
			status = "pending"
		case deref(j.Stop):
			status = "dead"
		case terminal > 0 && (deref(j.Type) == "batch" || deref(j.Type) == "sysbatch"):
			status = "dead"
		case terminal > 0:
			status = "pending"
		}
	}
	if deref(j.Status) != status {
		j.Status = ptr(status)
		j.ModifyIndex = ptr(s.st.index + 1)
	}
}

// sortedTasks orders a group's tasks as a client runs them: prestart tasks
// first, then main tasks, then poststart tasks.
func sortedTasks(tg *api.TaskGroup) []*api.Task {
	rank := func(t *api.Task) int {
		if t.Lifecycle == nil {
			return 1
		}
		switch t.Lifecycle.Hook {
		case "prestart":
			return 0
		case "poststart":
			return 2
		default:
			return 3
		}
	}
	out := append([]*api.Task(nil), tg.Tasks...)
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

// ephemeral reports whether a task is a prestart/poststart task that runs to
// completion instead of alongside the main tasks.
func ephemeral(t *api.Task) bool {
	return t.Lifecycle != nil && !t.Lifecycle.Sidecar && t.Lifecycle.Hook != ""
}
