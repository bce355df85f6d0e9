package nomadtest

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/hashicorp/nomad/api"
)

// readyPoll is how often a hook's Ready function is polled.
const readyPoll = 10 * time.Millisecond

// runAlloc plays the client for one allocation: pending → running → healthy
// (service), complete or failed, running task hooks on the way.
func (s *Server) runAlloc(a *allocEntry) {
	s.mu.Lock()
	job := a.alloc.Job
	tg := groupOf(job, a.alloc.TaskGroup)
	tasks := sortedTasks(tg)
	outcomes := s.groupOutcomes(job, tg)
	hooks := map[string]TaskHook{}
	for _, t := range tasks {
		hooks[t.Name] = s.hookFor(job, t.Name)
	}
	s.mu.Unlock()

	var startDelay, healthyDelay, runTime time.Duration
	neverHealthy := false
	for _, o := range outcomes {
		startDelay = max(startDelay, o.StartDelay)
		healthyDelay = max(healthyDelay, o.HealthyDelay)
		runTime = max(runTime, o.RunTime)
		neverHealthy = neverHealthy || o.NeverHealthy
	}
	if !sleep(a.ctx, s.delay+startDelay) {
		return
	}

	s.mu.Lock()
	ports, err := s.groupPorts(a, tg)
	s.mu.Unlock()
	if err != nil {
		s.finishAlloc(a, tasks[0].Name, -1, driverFailure(err))
		return
	}
	dir, err := os.MkdirTemp("", "nomadtest-alloc-")
	if err == nil {
		err = allocDirs(dir, tasks)
	}
	if err != nil {
		s.finishAlloc(a, tasks[0].Name, -1, driverFailure(err))
		return
	}

	s.mu.Lock()
	if a.released || a.alloc.DesiredStatus != api.AllocDesiredStatusRun {
		s.mu.Unlock()
		os.RemoveAll(dir)
		return
	}
	a.dir = dir
	now := time.Now()
	shared := api.AllocatedSharedResources{}
	labels := make([]string, 0, len(ports))
	for l := range ports {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	for _, l := range labels {
		shared.Ports = append(shared.Ports, api.PortMapping{Label: l, Value: ports[l], HostIP: "127.0.0.1"})
	}
	a.alloc.AllocatedResources = &api.AllocatedResources{Tasks: map[string]*api.AllocatedTaskResources{}, Shared: shared}
	for _, t := range tasks {
		a.alloc.TaskStates[t.Name] = &api.TaskState{State: "pending", Events: []*api.TaskEvent{
			event(api.TaskReceived, "Task received by client", now),
			event(api.TaskSetup, "Building Task Directory", now),
		}}
	}
	s.touchAlloc(a)
	s.mu.Unlock()

	var mains []*api.Task
	for _, t := range tasks {
		run, err := s.startTask(a, tg, t, hooks[t.Name])
		if err != nil {
			s.finishAlloc(a, t.Name, -1, driverFailure(err))
			return
		}
		if !ephemeral(t) {
			mains = append(mains, t)
			continue
		}
		code := 0
		if run != nil && run.Wait != nil {
			code = run.Wait(a.ctx)
		}
		if a.ctx.Err() != nil {
			return
		}
		if code != 0 {
			s.finishAlloc(a, t.Name, code, nil)
			return
		}
		s.mu.Lock()
		ts := a.alloc.TaskStates[t.Name]
		done := time.Now()
		ts.State, ts.FinishedAt = "dead", done
		ts.Events = append(ts.Events, exitEvent(0, done))
		delete(a.runs, t.Name)
		s.touchAlloc(a)
		s.mu.Unlock()
		if run != nil && run.Stop != nil {
			run.Stop()
		}
	}

	s.mu.Lock()
	if a.released || a.alloc.DesiredStatus != api.AllocDesiredStatusRun {
		s.mu.Unlock()
		return
	}
	a.alloc.ClientStatus = api.AllocClientStatusRunning
	a.alloc.ClientDescription = "Tasks are running"
	for _, t := range mains {
		ts := a.alloc.TaskStates[t.Name]
		ts.Events = append(ts.Events, outcomes[t.Name].Events...)
	}
	s.refreshJobStatus(a.alloc.Namespace, a.alloc.JobID)
	s.touchAlloc(a, tblJobs, tblSummaries)
	runs := map[string]*TaskRun{}
	for k, v := range a.runs {
		runs[k] = v
	}
	s.mu.Unlock()
	s.registerServices(a)

	for _, t := range mains {
		if o := outcomes[t.Name]; o.Fail {
			if !sleep(a.ctx, o.RunTime) {
				return
			}
			code := o.ExitCode
			if code == 0 {
				code = 1
			}
			s.finishAlloc(a, t.Name, code, nil)
			return
		}
	}

	batch := deref(job.Type) == "batch" || deref(job.Type) == "sysbatch"
	if batch {
		for _, t := range mains {
			if r := runs[t.Name]; r != nil && r.Wait != nil {
				if code := r.Wait(a.ctx); code != 0 && a.ctx.Err() == nil {
					s.finishAlloc(a, t.Name, code, nil)
					return
				}
			}
		}
		if !sleep(a.ctx, runTime) {
			return
		}
		s.finishAlloc(a, "", 0, nil)
		return
	}

	for _, t := range mains {
		r := runs[t.Name]
		if r == nil || r.Wait == nil {
			continue
		}
		name := t.Name
		s.goRun(func() {
			code := r.Wait(a.ctx)
			if a.ctx.Err() == nil {
				s.finishAlloc(a, name, code, nil)
			}
		})
	}
	// Health has to arrive before the group's progress deadline, or the
	// deployment fails as Nomad's does.
	hctx, cancel := context.WithCancel(a.ctx)
	defer cancel()
	if d := s.progressDeadline(a); d > 0 {
		s.goRun(func() {
			if sleep(hctx, d) {
				s.missedDeadline(a)
			}
		})
	}
	if neverHealthy {
		<-hctx.Done()
		return
	}
	for _, t := range mains {
		if r := runs[t.Name]; r != nil && r.Ready != nil {
			if !pollReady(hctx, r.Ready) {
				return
			}
		}
	}
	if !sleep(hctx, s.delay+healthyDelay) {
		return
	}
	s.markHealthy(a)
}

// progressDeadline is the progress deadline of the allocation's group in its
// running deployment, or zero.
func (s *Server) progressDeadline(a *allocEntry) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	dep := s.st.deployments[a.alloc.DeploymentID]
	if dep == nil || dep.Status != api.DeploymentStatusRunning {
		return 0
	}
	if st := dep.TaskGroups[a.alloc.TaskGroup]; st != nil {
		return st.ProgressDeadline
	}
	return 0
}

// missedDeadline fails the allocation's deployment when the allocation is
// still not healthy at its progress deadline.
func (s *Server) missedDeadline(a *allocEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	al := a.alloc
	if al.DeploymentStatus != nil && al.DeploymentStatus.Healthy != nil {
		return
	}
	dep := s.st.deployments[al.DeploymentID]
	if dep == nil || dep.Status != api.DeploymentStatusRunning {
		return
	}
	al.DeploymentStatus = &api.AllocDeploymentStatus{Healthy: ptr(false), Timestamp: time.Now(), ModifyIndex: s.st.index + 1}
	if st := dep.TaskGroups[al.TaskGroup]; st != nil {
		st.UnhealthyAllocs++
	}
	s.failDeployment(dep, "Failed due to progress deadline")
	s.touchAlloc(a, tblDeployments)
}

// startTask runs a task's hook (if any) and marks the task running.
func (s *Server) startTask(a *allocEntry, tg *api.TaskGroup, t *api.Task, hook TaskHook) (*TaskRun, error) {
	var run *TaskRun
	if hook != nil {
		s.mu.Lock()
		alloc := copyAlloc(a.alloc)
		ports := map[string]int{}
		for k, v := range a.ports {
			ports[k] = v
		}
		dir := a.dir
		s.mu.Unlock()
		env := s.taskEnv(alloc, tg, t, ports, dir)
		start := TaskStart{
			Alloc:      alloc,
			Task:       t,
			Env:        env,
			Ports:      ports,
			SecretsDir: env["NOMAD_SECRETS_DIR"],
			Stdout:     logWriter{a, t.Name, "stdout"},
			Stderr:     logWriter{a, t.Name, "stderr"},
		}
		if t.Vault != nil {
			tok, err := s.MintIdentity(WorkloadClaims{
				Namespace: alloc.Namespace, JobID: alloc.JobID, Group: alloc.TaskGroup,
				Task: t.Name, AllocID: alloc.ID, Identity: "vault_default",
			})
			if err != nil {
				return nil, err
			}
			start.Identity = tok
		}
		var err error
		run, err = hook(a.ctx, start)
		if err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.released {
		if run != nil && run.Stop != nil {
			go run.Stop()
		}
		return run, nil
	}
	a.runs[t.Name] = run
	ts := a.alloc.TaskStates[t.Name]
	now := time.Now()
	ts.State, ts.StartedAt = "running", now
	ts.Events = append(ts.Events, event(api.TaskStarted, "Task started by client", now))
	s.touchAlloc(a)
	return run, nil
}

func pollReady(ctx context.Context, ready func(context.Context) error) bool {
	for {
		if ready(ctx) == nil {
			return true
		}
		if !sleep(ctx, readyPoll) {
			return false
		}
	}
}

func driverFailure(err error) []*api.TaskEvent {
	now := time.Now()
	ev := event(api.TaskDriverFailure, err.Error(), now)
	ev.DriverError = err.Error()
	ev.FailsTask = true
	ev.Details["driver_error"] = err.Error()
	ev.Details["fails_task"] = "true"
	nr := event("Not Restarting", "Error was unrecoverable", now)
	nr.Details["fails_task"] = "true"
	return []*api.TaskEvent{ev, nr}
}

func exitEvent(code int, at time.Time) *api.TaskEvent {
	ev := event(api.TaskTerminated, fmt.Sprintf("Exit Code: %d", code), at)
	ev.ExitCode = code
	ev.Details["exit_code"] = strconv.Itoa(code)
	ev.Details["signal"] = "0"
	return ev
}

// finishAlloc ends an allocation. With code 0 every task exits cleanly and
// the allocation completes. Otherwise task failed exits with code (or with
// the given events, e.g. a driver failure), its siblings are killed, the
// allocation fails and so does its deployment.
func (s *Server) finishAlloc(a *allocEntry, failed string, code int, events []*api.TaskEvent) {
	s.mu.Lock()
	al := a.alloc
	if al.ClientStatus != api.AllocClientStatusPending && al.ClientStatus != api.AllocClientStatusRunning {
		s.mu.Unlock()
		return
	}
	now := time.Now()
	for name, ts := range al.TaskStates {
		if ts.State == "dead" {
			continue
		}
		ts.State, ts.FinishedAt = "dead", now
		switch {
		case name == failed && events != nil:
			ts.Failed = true
			ts.Events = append(ts.Events, events...)
		case name == failed:
			ts.Failed = code != 0
			ts.Events = append(ts.Events, exitEvent(code, now))
			if code != 0 {
				nr := event("Not Restarting", "Exceeded allowed attempts 0 in interval 0s and mode is \"fail\"", now)
				nr.Details["fails_task"] = "true"
				ts.Events = append(ts.Events, nr)
			}
		case failed != "" && (code != 0 || events != nil):
			sib := event("Sibling Task Failed", fmt.Sprintf("Task's sibling %q failed", failed), now)
			sib.FailedSibling = failed
			ts.Events = append(ts.Events, sib, event("Killed", "Task successfully killed", now))
		default:
			ts.Events = append(ts.Events, exitEvent(0, now))
		}
	}
	ok := code == 0 && events == nil
	if ok {
		al.ClientStatus = api.AllocClientStatusComplete
		al.ClientDescription = "All tasks have completed"
	} else {
		al.ClientStatus = api.AllocClientStatusFailed
		al.ClientDescription = "Failed tasks"
		if dep := s.st.deployments[al.DeploymentID]; dep != nil && (al.DeploymentStatus == nil || al.DeploymentStatus.Healthy == nil) {
			al.DeploymentStatus = &api.AllocDeploymentStatus{Healthy: ptr(false), Timestamp: now, ModifyIndex: s.st.index + 1}
			if st := dep.TaskGroups[al.TaskGroup]; st != nil {
				st.UnhealthyAllocs++
			}
			if dep.Status == api.DeploymentStatusRunning {
				s.failDeployment(dep, "Failed due to unhealthy allocations")
			}
		}
	}
	s.refreshJobStatus(al.Namespace, al.JobID)
	s.touchAlloc(a, tblJobs, tblSummaries, tblDeployments)
	s.mu.Unlock()
	s.releaseAlloc(a)
}

// markHealthy records a running allocation as healthy and advances its
// deployment.
func (s *Server) markHealthy(a *allocEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	al := a.alloc
	if al.ClientStatus != api.AllocClientStatusRunning || al.DesiredStatus != api.AllocDesiredStatusRun {
		return
	}
	al.DeploymentStatus = &api.AllocDeploymentStatus{Healthy: ptr(true), Timestamp: time.Now(), ModifyIndex: s.st.index + 1}
	if dep := s.st.deployments[al.DeploymentID]; dep != nil && dep.Status == api.DeploymentStatusRunning {
		if st := dep.TaskGroups[al.TaskGroup]; st != nil {
			st.HealthyAllocs++
		}
		s.checkDeployment(dep)
	}
	s.touchAlloc(a, tblDeployments, tblJobs)
}

// touchAlloc records a change to an allocation; callers hold s.mu.
func (s *Server) touchAlloc(a *allocEntry, tables ...string) {
	a.alloc.ModifyIndex = s.st.index + 1
	a.alloc.ModifyTime = time.Now().UnixNano()
	s.st.bump(append(tables, tblAllocs)...)
}
