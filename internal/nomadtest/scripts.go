package nomadtest

import (
	"time"

	"github.com/hashicorp/nomad/api"
)

// Outcome scripts what the simulated scheduler and client do with a job's
// task. The zero Outcome is the default: placed, started, healthy (service
// jobs) or complete with exit code 0 (batch jobs).
type Outcome struct {
	// Fail makes the task exit with ExitCode after RunTime; the allocation
	// fails and, for service jobs, so does the deployment.
	Fail bool
	// ExitCode is the exit code of a failing task (default 1).
	ExitCode int
	// Events are appended to the task's events after it starts, before it
	// terminates (for example a "Restarting" or "Template" event).
	Events []*api.TaskEvent
	// NeverHealthy keeps a service allocation running but never healthy, so
	// its deployment stays running.
	NeverHealthy bool
	// PlacementFailure makes the evaluation report the task's group in
	// FailedTGAllocs (memory exhausted) and create a blocked evaluation; no
	// allocation is placed.
	PlacementFailure bool
	// StartDelay is added before the allocation starts.
	StartDelay time.Duration
	// HealthyDelay is added before a service allocation turns healthy.
	HealthyDelay time.Duration
	// RunTime is how long a batch task (or a failing task) runs before it
	// exits.
	RunTime time.Duration
	// Stdout and Stderr are the task's log text served by
	// /v1/client/fs/logs.
	Stdout, Stderr string
}

// Script sets the outcome of a task of a job in a namespace. An empty task
// applies to every task of the job. A script for a parameterized job applies
// to the jobs dispatched from it. Later scripts replace earlier ones.
func (s *Server) Script(ns, job, task string, o Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts[taskKey{ns, job, task}] = &o
}

// outcomeFor returns the scripted outcome of a task; callers hold s.mu.
func (s *Server) outcomeFor(j *api.Job, task string) Outcome {
	ns := deref(j.Namespace)
	for _, id := range []string{deref(j.ID), deref(j.ParentID)} {
		if id == "" {
			continue
		}
		if o := s.scripts[taskKey{ns, id, task}]; o != nil {
			return *o
		}
		if o := s.scripts[taskKey{ns, id, ""}]; o != nil {
			return *o
		}
	}
	return Outcome{}
}

// groupOutcomes returns the outcomes of every task of a group.
func (s *Server) groupOutcomes(j *api.Job, tg *api.TaskGroup) map[string]Outcome {
	out := map[string]Outcome{}
	for _, t := range tg.Tasks {
		out[t.Name] = s.outcomeFor(j, t.Name)
	}
	return out
}
