package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// State is where one tenant of a fleet apply is.
type State string

// The states of a tenant in a fleet apply.
const (
	// StatePending: not started yet.
	StatePending State = "pending"
	// StateRunning: its up is running.
	StateRunning State = "running"
	// StateSoaking: a converged canary, watched for --canary-soak.
	StateSoaking State = "soaking"
	// StateConverged: up changed something and the tenant is healthy.
	StateConverged State = "converged"
	// StateUnchanged: the tenant was already converged; nothing was written.
	StateUnchanged State = "unchanged"
	// StateFailed: its up failed (or, a canary, it turned unhealthy during
	// the soak).
	StateFailed State = "failed"
	// StateNotStarted: the rollout halted before this tenant started; it
	// was not touched.
	StateNotStarted State = "not-started"
	// StateOrphaned: the tenant exists on the cluster but not in the file.
	StateOrphaned State = "orphaned"
	// StatePruned: an orphan removed with --prune.
	StatePruned State = "pruned"
)

// The waves of a rollout.
const (
	WaveCanary = "canary"
	WaveRest   = "rest"
	WavePrune  = "prune"
)

// Options control Apply.
type Options struct {
	// Canary tenants (the first in file order) converge first; all must
	// converge and stay healthy for CanarySoak before any other starts.
	Canary     int
	CanarySoak time.Duration
	// Parallel bounds how many tenants converge at once (at least 1).
	Parallel int
	// MaxFailures is how many tenants of the rest may fail before the
	// rollout halts; tenants not yet started then stay untouched.
	MaxFailures int
	// Timeout and LockTimeout are up's, per tenant.
	Timeout     time.Duration
	LockTimeout time.Duration
	// Holder names this process in each tenant's lock.
	Holder func(tenant.ID) consul.Holder
	// Prune removes orphaned tenants (on the cluster, not in the file) once
	// every tenant of the file converged, after Confirm accepts them.
	Prune   bool
	Confirm func(orphans []string) error
	// Observe receives every change of a tenant's state (the CLI's fleet
	// view); it must be safe for concurrent use.
	Observe func(Update)
	// SoakEvery is how often the soak checks the canaries' health; 2 s when
	// zero.
	SoakEvery time.Duration
}

// Update is one change of a tenant's state in a fleet apply.
type Update struct {
	Time   time.Time `json:"time"`
	Tenant string    `json:"tenant"`
	Wave   string    `json:"wave"`
	State  State     `json:"state"`
	Detail string    `json:"detail,omitempty"`
	Error  string    `json:"error,omitempty"`
}

// TenantResult is how one tenant ended.
type TenantResult struct {
	Tenant     string        `json:"tenant"`
	Wave       string        `json:"wave"`
	State      State         `json:"state"`
	AppVersion string        `json:"app_version,omitempty"`
	Step       string        `json:"step,omitempty"`
	Error      string        `json:"error,omitempty"`
	Duration   time.Duration `json:"duration_ns"`
}

// Result is what a fleet apply did.
type Result struct {
	File    string         `json:"file"`
	Tenants []TenantResult `json:"tenants"`
	// Orphaned are tenants on the cluster that the file does not declare;
	// Pruned those of them removed.
	Orphaned []string `json:"orphaned"`
	Pruned   []string `json:"pruned"`
	// PruneSkipped says why --prune removed nothing although there were
	// orphans (a tenant of the file failed or was not started).
	PruneSkipped string `json:"prune_skipped,omitempty"`
	// Halted says the rollout stopped before every tenant started, why,
	// and which tenants it left untouched.
	Halted     bool          `json:"halted"`
	HaltReason string        `json:"halt_reason,omitempty"`
	NotStarted []string      `json:"not_started"`
	Counts     map[State]int `json:"counts"`
	Duration   time.Duration `json:"duration_ns"`
}

// Failed returns the ids of the tenants that failed.
func (r Result) Failed() []string {
	var out []string
	for _, t := range r.Tenants {
		if t.State == StateFailed {
			out = append(out, t.Tenant)
		}
	}
	return out
}

// Apply converges every tenant of f with up's steps, in waves: the canaries,
// then the rest, at most opt.Parallel at a time, halting when a canary fails
// or more than opt.MaxFailures of the rest fail. It returns an error with
// exit code Partial when any tenant failed or was left unstarted, Unreachable
// when the fleet's preflight fails (nothing started), Interrupted when ctx
// was cancelled.
func Apply(ctx context.Context, env provision.Env, f *File, opt Options) (Result, error) {
	start := time.Now()
	if opt.Parallel < 1 {
		opt.Parallel = 1
	}
	if opt.SoakEvery <= 0 {
		opt.SoakEvery = 2 * time.Second
	}
	canary := min(max(opt.Canary, 0), len(f.Tenants))
	a := &applier{env: env, opt: opt, hosts: provision.NewHostListing(env), res: Result{File: f.Path, Orphaned: []string{}, Pruned: []string{}, NotStarted: []string{}}}
	for i, s := range f.Tenants {
		wave := WaveRest
		if i < canary {
			wave = WaveCanary
		}
		a.res.Tenants = append(a.res.Tenants, TenantResult{Tenant: s.ID.String(), Wave: wave, State: StatePending, AppVersion: s.App.Version})
	}
	finish := func(err error) (Result, error) {
		a.res.Duration = time.Since(start)
		a.res.Counts = map[State]int{}
		for _, t := range a.res.Tenants {
			a.res.Counts[t.State]++
		}
		return a.res, err
	}

	names := make([]tenant.Names, len(f.Tenants))
	for i, s := range f.Tenants {
		names[i] = s.Names()
	}
	if err := provision.Preflight(ctx, env, names...); err != nil {
		a.haltAll("preflight failed: " + firstLine(err.Error()))
		return finish(err)
	}
	recs, err := provision.List(ctx, env)
	if err != nil {
		a.haltAll("listing the tenants failed")
		return finish(exit.Because(err, exit.Unreachable, consul.CauseUnreachable))
	}
	var orphans []tenant.Record
	for _, r := range recs {
		if !f.Has(r.Tenant) {
			orphans = append(orphans, r)
			a.res.Orphaned = append(a.res.Orphaned, r.Tenant)
			a.observe(Update{Tenant: r.Tenant, Wave: WavePrune, State: StateOrphaned, Detail: "on the cluster, not in " + f.Path})
		}
	}

	// Canaries: all must converge, then stay healthy through the soak.
	a.wave(ctx, f.Tenants[:canary], 0, func() bool { return a.failures() > 0 })
	if n := a.failures(); n > 0 {
		a.haltAll(fmt.Sprintf("canary %s failed", strings.Join(a.res.Failed(), ", ")))
	} else if canary > 0 && opt.CanarySoak > 0 && ctx.Err() == nil {
		if why := a.soak(ctx, f.Tenants[:canary]); why != "" {
			a.haltAll(why)
		}
	}
	if !a.res.Halted && ctx.Err() == nil {
		a.wave(ctx, f.Tenants[canary:], canary, func() bool { return a.failures() > opt.MaxFailures })
		if a.failures() > opt.MaxFailures {
			a.haltAll(fmt.Sprintf("%d tenants failed, more than --max-failures %d", a.failures(), opt.MaxFailures))
		}
	}
	if ctx.Err() != nil {
		a.haltAll("interrupted")
		return finish(exit.Wrap(ctx.Err(), exit.Interrupted, ""))
	}
	if opt.Prune && len(orphans) > 0 && (a.res.Halted || a.failures() > 0) {
		a.res.PruneSkipped = "not every tenant of the file converged; orphans are removed only after a clean apply"
	}
	if opt.Prune && len(orphans) > 0 && !a.res.Halted && a.failures() == 0 {
		if opt.Confirm == nil {
			return finish(exit.New(exit.Usage, "", "pruning %d orphaned tenants needs confirmation", len(orphans)))
		}
		if err := opt.Confirm(a.res.Orphaned); err != nil {
			return finish(err)
		}
		a.prune(ctx, orphans)
	}
	if err := a.outcome(); err != nil {
		return finish(err)
	}
	return finish(nil)
}

// applier is one fleet apply in progress.
type applier struct {
	env provision.Env
	opt Options
	// hosts shares the host check's listings among the tenants.
	hosts *provision.HostListing
	mu    sync.Mutex
	res   Result
	// pruneFailed counts orphans whose removal failed.
	pruneFailed int
}

func (a *applier) observe(u Update) {
	if u.Time.IsZero() {
		u.Time = time.Now()
	}
	if a.opt.Observe != nil {
		a.opt.Observe(u)
	}
}

// set records tenant i's state and tells the observer.
func (a *applier) set(i int, st State, detail string, err error) {
	a.mu.Lock()
	t := &a.res.Tenants[i]
	t.State = st
	u := Update{Tenant: t.Tenant, Wave: t.Wave, State: st, Detail: detail}
	if err != nil {
		t.Error = firstLine(err.Error())
		u.Error = t.Error
		var se *provision.StepError
		if errors.As(err, &se) {
			t.Step = se.Step
		}
	}
	a.mu.Unlock()
	a.observe(u)
}

func (a *applier) failures() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.res.Failed())
}

// wave converges specs (tenants offset… of the file) at most Parallel at a
// time, in order, starting no new tenant once halt reports true or ctx ends.
// Tenants already running finish.
func (a *applier) wave(ctx context.Context, specs []tenant.Spec, offset int, halt func() bool) {
	sem := make(chan struct{}, a.opt.Parallel)
	var wg sync.WaitGroup
	for k, spec := range specs {
		sem <- struct{}{}
		if halt() || ctx.Err() != nil {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			a.up(ctx, offset+k, spec)
		}()
	}
	wg.Wait()
}

func (a *applier) up(ctx context.Context, i int, spec tenant.Spec) {
	a.set(i, StateRunning, spec.App.Version, nil)
	started := time.Now()
	var h consul.Holder
	if a.opt.Holder != nil {
		h = a.opt.Holder(spec.ID)
	}
	res, err := provision.Up(ctx, a.env, provision.UpOptions{Spec: spec, Timeout: a.opt.Timeout, LockTimeout: a.opt.LockTimeout, Holder: h,
		Preflighted: true, Hosts: a.hosts})
	a.mu.Lock()
	a.res.Tenants[i].Duration = time.Since(started)
	a.mu.Unlock()
	switch {
	case err != nil:
		a.set(i, StateFailed, "", err)
	case res.NoChanges:
		a.set(i, StateUnchanged, "already converged", nil)
	default:
		a.set(i, StateConverged, fmt.Sprintf("converged in %s", res.Duration.Round(100*time.Millisecond)), nil)
	}
}

// soak watches the canaries for CanarySoak: every SoakEvery each must still
// be healthy. It returns why the soak failed, or "".
func (a *applier) soak(ctx context.Context, specs []tenant.Spec) string {
	prev := make([]State, len(specs))
	for i := range specs {
		a.mu.Lock()
		prev[i] = a.res.Tenants[i].State
		a.mu.Unlock()
		a.set(i, StateSoaking, fmt.Sprintf("must stay healthy for %s before the rest starts", a.opt.CanarySoak), nil)
	}
	end := time.Now().Add(a.opt.CanarySoak)
	tick := time.NewTicker(a.opt.SoakEvery)
	defer tick.Stop()
	// A canary is first seen healthy (its up waited for its deployments;
	// a Consul check may still be on its first interval), then must stay
	// healthy at every check until the soak ends.
	seen := make([]bool, len(specs))
	for {
		last := !time.Now().Before(end)
		for i, s := range specs {
			why, err := provision.Health(ctx, a.env, s.ID)
			if ctx.Err() != nil {
				return "interrupted during the canary soak"
			}
			if err != nil {
				why = err.Error()
			}
			if why == "" {
				seen[i] = true
				continue
			}
			if !seen[i] && !last {
				continue
			}
			a.set(i, StateFailed, "", fmt.Errorf("unhealthy during the canary soak: %s", why))
			return fmt.Sprintf("canary %s turned unhealthy during the soak: %s", s.ID, why)
		}
		if last {
			break
		}
		select {
		case <-ctx.Done():
			return "interrupted during the canary soak"
		case <-tick.C:
		}
	}
	for i := range specs {
		// Back to how its up ended.
		a.set(i, prev[i], "healthy through the soak", nil)
	}
	return ""
}

// haltAll marks every tenant not yet started as not started, for why.
func (a *applier) haltAll(why string) {
	a.mu.Lock()
	var halted []int
	for i := range a.res.Tenants {
		if a.res.Tenants[i].State == StatePending {
			a.res.Tenants[i].State = StateNotStarted
			a.res.NotStarted = append(a.res.NotStarted, a.res.Tenants[i].Tenant)
			halted = append(halted, i)
		}
	}
	if len(halted) > 0 {
		a.res.Halted = true
		if a.res.HaltReason == "" {
			a.res.HaltReason = why
		}
	}
	a.mu.Unlock()
	for _, i := range halted {
		a.observe(Update{Tenant: a.res.Tenants[i].Tenant, Wave: a.res.Tenants[i].Wave, State: StateNotStarted, Detail: why})
	}
}

// prune removes each orphan with down (data volumes kept).
func (a *applier) prune(ctx context.Context, orphans []tenant.Record) {
	for _, r := range orphans {
		id, err := tenant.ParseID(r.Tenant)
		if err != nil {
			continue
		}
		var h consul.Holder
		if a.opt.Holder != nil {
			h = a.opt.Holder(id)
		}
		_, err = provision.Down(ctx, a.env, provision.DownOptions{ID: id, Profile: tenant.Profile(r.Profile), LockTimeout: a.opt.LockTimeout, Holder: h})
		if err != nil {
			a.mu.Lock()
			a.pruneFailed++
			a.mu.Unlock()
			a.observe(Update{Tenant: r.Tenant, Wave: WavePrune, State: StateFailed, Error: firstLine(err.Error())})
			continue
		}
		a.mu.Lock()
		a.res.Pruned = append(a.res.Pruned, r.Tenant)
		a.mu.Unlock()
		a.observe(Update{Tenant: r.Tenant, Wave: WavePrune, State: StatePruned, Detail: "removed (data volumes kept)"})
	}
}

// outcome is the apply's error: nil when every tenant converged (or was
// already), a Partial error naming the failed and untouched tenants
// otherwise.
func (a *applier) outcome() error {
	failed := a.res.Failed()
	if len(failed) == 0 && len(a.res.NotStarted) == 0 && a.pruneFailed == 0 {
		return nil
	}
	var parts []string
	if len(failed) > 0 {
		parts = append(parts, fmt.Sprintf("%d failed (%s)", len(failed), strings.Join(failed, ", ")))
	}
	if len(a.res.NotStarted) > 0 {
		parts = append(parts, fmt.Sprintf("%d not started, left untouched (%s)", len(a.res.NotStarted), strings.Join(a.res.NotStarted, ", ")))
	}
	if a.pruneFailed > 0 {
		parts = append(parts, fmt.Sprintf("%d orphans not removed", a.pruneFailed))
	}
	ok := len(a.res.Tenants) - len(failed) - len(a.res.NotStarted)
	msg := fmt.Sprintf("fleet apply: %d of %d tenants converged; %s", ok, len(a.res.Tenants), strings.Join(parts, "; "))
	if a.res.Halted {
		msg += "; halted: " + a.res.HaltReason
	}
	return exit.New(exit.Partial, "", "%s", msg)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
