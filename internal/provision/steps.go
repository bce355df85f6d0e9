// Package provision runs tenantctl's commands as ordered lists of named,
// idempotent steps: up, down, rotate and migrate. One loop runs every list:
// it reports progress as events, stops at the first failure and says what
// exists now and how to go on.
//
// Steps talk to Nomad, Vault and Consul through small interfaces declared
// here and implemented by the adapters in internal/nomad, internal/vault and
// internal/consul.
package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tenantctl/tenantctl/internal/exit"
)

// Step is one named stage of a command. Apply must be idempotent: running it
// on a converged system changes nothing and reports Changed false.
type Step struct {
	Name string
	// Apply converges the step and reports what it did.
	Apply func(ctx context.Context) (Outcome, error)
}

// Outcome is what one step did.
type Outcome struct {
	Changed bool
	// Detail is a short human summary ("created namespace acme--tenant").
	Detail string
}

// Phase is where a step is in its life.
type Phase string

// Step phases reported in events.
const (
	PhaseStart  Phase = "start"
	PhaseDone   Phase = "done"
	PhaseFailed Phase = "failed"
	PhaseInfo   Phase = "info"
)

// Event is one line of progress. The CLI prints it as a live step list on a
// terminal, as plain lines otherwise, or as one JSON object per line.
type Event struct {
	Time     time.Time     `json:"time"`
	Command  string        `json:"command"`
	Tenant   string        `json:"tenant"`
	Step     string        `json:"step"`
	Phase    Phase         `json:"phase"`
	Changed  bool          `json:"changed,omitempty"`
	Detail   string        `json:"detail,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Error    string        `json:"error,omitempty"`
}

// Sink receives events. It must be safe for concurrent use: tenants may be
// provisioned in parallel.
type Sink interface {
	Event(Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event)

// Event calls f.
func (f SinkFunc) Event(e Event) { f(e) }

// StepResult is what one step did, for the report.
type StepResult struct {
	Name     string        `json:"name"`
	Changed  bool          `json:"changed"`
	Detail   string        `json:"detail,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	Error    string        `json:"error,omitempty"`
}

// Report is the outcome of a list of steps.
type Report struct {
	Command  string        `json:"command"`
	Tenant   string        `json:"tenant"`
	Steps    []StepResult  `json:"steps"`
	Duration time.Duration `json:"duration_ns"`
}

// Changed reports whether any step changed anything.
func (r Report) Changed() bool {
	for _, s := range r.Steps {
		if s.Changed {
			return true
		}
	}
	return false
}

// StepError is a failed step: which one, what had been done, and the remedy.
type StepError struct {
	Step string
	// Applied lists the steps that completed before the failure; Changed
	// those of them that changed something in this run.
	Applied []string
	Changed []string
	Err     error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("step %s: %v", e.Step, e.Err)
}

// Unwrap returns the step's error.
func (e *StepError) Unwrap() error { return e.Err }

// runner runs steps in order and reports them to a sink.
type runner struct {
	command string
	tenant  string
	sink    Sink
	now     func() time.Time
	remedy  func(error) error // Env.Remedy; nil for none
}

// run executes steps in order, stopping at the first failure. The error it
// returns is a *StepError wrapped in an *exit.Error: the failed step's own
// code when it has one (unreachable, locked, usage), Partial when earlier
// steps had changed something, Failure otherwise.
func (r runner) run(ctx context.Context, steps []Step) (Report, error) {
	rep := Report{Command: r.command, Tenant: r.tenant}
	start := r.now()
	var applied, changed []string
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return rep, r.fail(ctx, s.Name, applied, changed, err)
		}
		t0 := r.now()
		r.emit(Event{Step: s.Name, Phase: PhaseStart})
		out, err := s.Apply(ctx)
		d := r.now().Sub(t0)
		res := StepResult{Name: s.Name, Changed: out.Changed, Detail: out.Detail, Duration: d}
		if lost := lockLost(ctx); err != nil && lost != nil {
			err = lost // the cancelled call's error would hide why
		}
		if err != nil {
			res.Error = err.Error()
			rep.Steps = append(rep.Steps, res)
			rep.Duration = r.now().Sub(start)
			r.emit(Event{Step: s.Name, Phase: PhaseFailed, Changed: out.Changed, Detail: out.Detail, Duration: d, Error: err.Error()})
			if out.Changed {
				changed = append(changed, s.Name)
			}
			return rep, r.fail(ctx, s.Name, applied, changed, err)
		}
		rep.Steps = append(rep.Steps, res)
		applied = append(applied, s.Name)
		if out.Changed {
			changed = append(changed, s.Name)
		}
		r.emit(Event{Step: s.Name, Phase: PhaseDone, Changed: out.Changed, Detail: out.Detail, Duration: d})
	}
	rep.Duration = r.now().Sub(start)
	return rep, nil
}

func (r runner) emit(e Event) {
	if r.sink == nil {
		return
	}
	e.Time = r.now()
	e.Command, e.Tenant = r.command, r.tenant
	r.sink.Event(e)
}

// info reports a detail within a step.
func (r runner) info(step, detail string) {
	r.emit(Event{Step: step, Phase: PhaseInfo, Detail: detail})
}

// lockLost returns the error that cancelled ctx when the tenant's lock was
// lost (tenantLock.guard), or nil.
func lockLost(ctx context.Context) error {
	var cause *exit.Error
	if ctx.Err() != nil && errors.As(context.Cause(ctx), &cause) && cause.Code == exit.Locked {
		return cause
	}
	return nil
}

func (r runner) fail(ctx context.Context, step string, applied, changed []string, err error) error {
	lost := lockLost(ctx)
	if lost != nil {
		// The tenant's lock was lost (tenantLock.guard): that, not the
		// cancelled call it caused, is what the operator must hear.
		err = lost
	}
	if r.remedy != nil {
		err = r.remedy(err)
	}
	se := &StepError{Step: step, Applied: applied, Changed: changed, Err: err}
	code := exit.CodeOf(err)
	hint := exit.HintOf(err)
	if lost == nil && errors.Is(ctx.Err(), context.Canceled) {
		// The operator interrupted the command: nothing needs fixing.
		code = exit.Interrupted
		hint = fmt.Sprintf("tenantctl was interrupted during step %s; run `tenantctl %s %s` again to finish: finished steps are skipped",
			step, r.command, r.tenant)
	}
	if code == exit.Failure && len(changed) > 0 {
		code = exit.Partial
	}
	if hint == "" {
		hint = fmt.Sprintf("fix the cause above, then run `tenantctl %s %s` again: finished steps are skipped", r.command, r.tenant)
	}
	if len(applied) > 0 {
		hint += fmt.Sprintf(" (done: %s)", strings.Join(applied, ", "))
	}
	return &exit.Error{Code: code, Hint: hint, Err: se}
}
