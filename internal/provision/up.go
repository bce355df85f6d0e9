package provision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/jobspec"
	"github.com/tenantctl/tenantctl/internal/routing"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// Step names, in the order up runs them. down runs its own list.
const (
	StepPreflight      = "preflight"
	StepCheck          = "check"
	StepLock           = "lock"
	StepNamespace      = "namespace"
	StepVault          = "vault"
	StepDataServices   = "data-services"
	StepSecretsEngines = "secrets-engines"
	StepMigrations     = "migrations"
	StepApp            = "app"
	StepRouting        = "routing"
	StepRecord         = "record"
)

// UpOptions control up.
type UpOptions struct {
	Spec tenant.Spec
	// Timeout bounds each wait (deployments, migrations, routing).
	Timeout time.Duration
	// LockTimeout is how long to wait for another operator's lock.
	LockTimeout time.Duration
	// Detach returns once the app and worker are registered, without
	// waiting for their deployments or verifying the route.
	Detach bool
	// Holder names this process in the tenant's lock.
	Holder consul.Holder
	// Preflighted says the caller already ran Preflight for this tenant
	// (a fleet apply checks its whole fleet once); the preflight step then
	// only reports it.
	Preflighted bool
	// Restore, when set, makes the new tenant a copy of another tenant's
	// backup (restore --to): restored after the secrets engines, before the
	// migrations and the app.
	Restore *RestoreSource
	// Hosts, when set, shares the listings the host check reads among the
	// tenants of a fleet apply (NewHostListing).
	Hosts *HostListing
}

// UpResult is what up did.
type UpResult struct {
	Report
	// NoChanges is true when the tenant was already converged and up wrote
	// nothing at all.
	NoChanges bool `json:"no_changes"`
	// Links are the Nomad UI pages of the tenant's jobs.
	Links  map[string]string `json:"links"`
	Record tenant.Record     `json:"record"`
	// Changes are the fields of the spec that differ from the tenant's
	// record before this run (name, host, plan); empty for a new tenant.
	Changes []tenant.Change `json:"changes,omitempty"`
}

// desired is everything up converges to, computed before any step runs.
type desired struct {
	spec    tenant.Spec
	names   tenant.Names
	jobs    map[string]jobspec.Job // by component name
	migVer  string
	digest  string
	timeout time.Duration
	// applied collects where this apply left each job (see jobLedger).
	applied *jobLedger
}

// stage returns the jobs of the components of stage s, in order; a
// scheduled component without a schedule has none.
func (d desired) stage(s tenant.Stage) []jobspec.Job {
	var out []jobspec.Job
	for _, c := range tenant.ComponentsAt(s) {
		if j, ok := d.jobs[c.Name]; ok {
			out = append(out, j)
		}
	}
	return out
}

// all returns every job, in the order of tenant.Components.
func (d desired) all() []jobspec.Job {
	var out []jobspec.Job
	for _, c := range tenant.Components() {
		if j, ok := d.jobs[c.Name]; ok {
			out = append(out, j)
		}
	}
	return out
}

func (e Env) desiredState(spec tenant.Spec, timeout time.Duration) (desired, error) {
	rendered, err := jobspec.Render(e.Jobspecs, e.Config, spec)
	if err != nil {
		return desired{}, exit.Wrap(fmt.Errorf("render jobspecs: %w", err), exit.Usage,
			"check the tenant's values and tenantctl.hcl; `tenantctl render` shows the same error offline")
	}
	jobs := make(map[string]jobspec.Job, len(rendered))
	for _, j := range rendered {
		jobs[j.Name] = j
	}
	for _, c := range tenant.Components() {
		if _, ok := jobs[c.Name]; !ok && c.Stage != tenant.StageScheduled {
			return desired{}, fmt.Errorf("render jobspecs: no %s job in the jobspecs directory", c.Name)
		}
	}
	migVer, err := MigrationsVersion(e.Migrations)
	if err != nil {
		return desired{}, err
	}
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	return desired{spec: spec, names: spec.Names(), jobs: jobs, migVer: migVer,
		digest: specDigest(rendered, migVer), timeout: timeout, applied: &jobLedger{}}, nil
}

// Up converges a tenant to opt.Spec, in order, and returns when it is
// healthy and routable. A converged tenant costs reads only: up first checks
// every part read-only and, when nothing differs, reports no changes without
// taking the lock.
func Up(ctx context.Context, env Env, opt UpOptions) (UpResult, error) {
	d, err := env.desiredState(opt.Spec, opt.Timeout)
	if err != nil {
		return UpResult{}, err
	}
	r := env.runner("up", d.spec.ID)
	res := UpResult{Links: links(env.Nomad, d)}

	var converged bool
	pre := []Step{
		{Name: StepPreflight, Apply: func(ctx context.Context) (Outcome, error) {
			if !opt.Preflighted {
				if err := preflight(ctx, env, d.names); err != nil {
					return Outcome{}, err
				}
			}
			hostErr := make(chan error, 1) // independent reads: at once
			go func() { hostErr <- env.hostFree(ctx, d, opt.Hosts) }()
			changes, err := env.specChanges(ctx, d.spec)
			if herr := <-hostErr; err == nil {
				err = herr
			}
			if err != nil {
				return Outcome{}, err
			}
			res.Changes = changes
			out := Outcome{Detail: "nomad, consul and vault reachable and supported; host " + d.spec.Host.String() + " free"}
			if opt.Preflighted {
				out.Detail = "systems checked once for the fleet; host " + d.spec.Host.String() + " free"
			}
			for _, c := range changes {
				r.info(StepPreflight, "changing the tenant's "+c.String())
			}
			return out, nil
		}},
		{Name: StepCheck, Apply: func(ctx context.Context) (Outcome, error) {
			why, planned, err := env.convergedCheck(ctx, d)
			if err != nil {
				return Outcome{}, err
			}
			converged = why == ""
			if converged {
				n := len(d.all())
				return Outcome{Detail: fmt.Sprintf("no changes: the tenant is converged (%d of %d jobs as the last apply left them, %d planned)",
					n-planned, n, planned)}, nil
			}
			return Outcome{Detail: "changes needed: " + why}, nil
		}},
	}
	rep, err := r.run(ctx, pre)
	res.Report = rep
	if err != nil {
		return res, err
	}
	if converged {
		rec, _ := env.Consul.ReadRecord(ctx, d.names.KVPrefix)
		if rec != nil {
			res.Record = *rec
		}
		res.NoChanges = true
		return res, nil
	}

	lk := &tenantLock{env: env, n: d.names}
	defer lk.release(false)
	var dataWaits []*deployWait // data deployments still finishing after their step
	// Background waits end with up, whatever its outcome.
	ctx, cancelWaits := context.WithCancel(ctx)
	defer cancelWaits()
	ctx = lk.guard(ctx) // a lost lock stops up
	steps := []Step{
		lk.step(opt.Holder, opt.LockTimeout),
		{Name: StepNamespace, Apply: func(ctx context.Context) (Outcome, error) { return env.namespace(ctx, d) }},
		{Name: StepVault, Apply: func(ctx context.Context) (Outcome, error) { return env.vaultIdentity(ctx, d) }},
		{Name: StepVolumes, Apply: func(ctx context.Context) (Outcome, error) { return env.volumes(ctx, d) }},
		{Name: StepDataServices, Apply: func(ctx context.Context) (Outcome, error) {
			out, waits, err := env.applyDataServices(ctx, d, r)
			dataWaits = waits
			return out, err
		}},
		{Name: StepSecretsEngines, Apply: func(ctx context.Context) (Outcome, error) { return env.secretsEngines(ctx, d) }},
		{Name: StepMigrations, Apply: func(ctx context.Context) (Outcome, error) { return env.migrate(ctx, d, r) }},
		{Name: StepApp, Apply: func(ctx context.Context) (Outcome, error) {
			// The data services' deployments finish here at the latest.
			return env.applyAndWait(ctx, d, r, StepApp, !opt.Detach, d.stage(tenant.StageWorkload), dataWaits...)
		}},
		{Name: StepBackupJobs, Apply: func(ctx context.Context) (Outcome, error) { return env.backupJobs(ctx, d, r) }},
	}
	if opt.Restore != nil {
		// A copy of another tenant: its backup goes into the new
		// database before the migrations and the app.
		at := slices.IndexFunc(steps, func(s Step) bool { return s.Name == StepMigrations })
		steps = slices.Insert(steps, at, Step{Name: StepRestore, Apply: func(ctx context.Context) (Outcome, error) {
			return env.restoreRun(ctx, d, r, *opt.Restore)
		}})
	}
	if !opt.Detach {
		steps = append(steps, Step{Name: StepRouting, Apply: func(ctx context.Context) (Outcome, error) {
			return env.verifyRoute(ctx, d, r)
		}})
	}
	steps = append(steps, Step{Name: StepRecord, Apply: func(ctx context.Context) (Outcome, error) {
		rec := env.record(d, tenant.StatusReady, StepRecord, "")
		rec.Jobs, rec.Nomad = env.appliedJobs(ctx, d)
		changed, err := env.Consul.WriteRecord(ctx, d.names.KVPrefix, rec)
		res.Record = rec
		return Outcome{Changed: changed, Detail: "status " + string(tenant.StatusReady)}, err
	}})

	rep2, err := r.run(ctx, steps)
	res.Report.Steps = append(res.Report.Steps, rep2.Steps...)
	res.Report.Duration += rep2.Duration
	if err != nil && lk.held() {
		env.recordFailure(d, err)
	}
	return res, err
}

// recordFailure notes a failed apply in the tenant's record, best effort and
// even when ctx was cancelled: the operator's next status shows it.
func (e Env) recordFailure(d desired, err error) {
	var se *StepError
	step := ""
	if errors.As(err, &se) {
		step = se.Step
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec := e.record(d, tenant.StatusFailed, step, firstLine(err.Error()))
	if _, werr := e.Consul.WriteRecord(ctx, d.names.KVPrefix, rec); werr != nil {
		e.log().Warn("record failure in consul", "tenant", d.spec.ID.String(), "error", werr)
	}
}

func (e Env) record(d desired, status tenant.Status, step, msg string) tenant.Record {
	return tenant.Record{
		Tenant: d.spec.ID.String(), Name: d.spec.Name.String(), Host: d.spec.Host.String(),
		Plan: string(d.spec.Plan), Profile: string(d.spec.Profile), SpecVersion: d.digest,
		AppVersion: d.spec.App.Version, AppArtifact: d.spec.App.Artifact,
		Status: status, LastApply: e.now().UTC(), LastStep: step, Error: msg,
	}
}

// Preflight checks once that Nomad, Consul and Vault answer, run supported
// versions and that the Vault token can provision the tenants named (a fleet
// apply checks its whole fleet before starting any tenant).
func Preflight(ctx context.Context, env Env, names ...tenant.Names) error {
	return preflight(ctx, env, names...)
}

func preflight(ctx context.Context, env Env, n ...tenant.Names) error {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	check := func(f func() error) {
		defer wg.Done()
		if err := f(); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	wg.Add(3)
	go check(func() error { _, err := env.Nomad.Preflight(ctx); return err })
	go check(func() error { return env.Consul.Preflight(ctx) })
	go check(func() error { return env.Vault.Preflight(ctx, n...) })
	wg.Wait()
	if len(errs) == 0 {
		return nil
	}
	// An interrupted tenantctl is not an unreachable dependency.
	if err := ctx.Err(); err != nil {
		return err
	}
	// Keep the code and remedy of the first failure; report all of them.
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return exit.Wrap(errors.Join(errs...), orCode(exit.CodeOf(errs[0]), exit.Unreachable), exit.HintOf(errs[0]))
}

func orCode(c, fallback exit.Code) exit.Code {
	if c == exit.Failure {
		return fallback
	}
	return c
}

func (e Env) namespace(ctx context.Context, d desired) (Outcome, error) {
	meta := map[string]string{
		"tenantctl.tenant": d.spec.ID.String(),
		"tenantctl.name":   d.spec.Name.String(),
		"tenantctl.host":   d.spec.Host.String(),
	}
	changed, err := e.Nomad.EnsureNamespace(ctx, d.names.Namespace, "tenantctl tenant "+d.spec.ID.String(), meta)
	return Outcome{Changed: changed, Detail: d.names.Namespace}, err
}

func (e Env) vaultIdentity(ctx context.Context, d desired) (Outcome, error) {
	var out Outcome
	var parts []string
	steps := []struct {
		what string
		f    func(context.Context, tenant.Names) (bool, error)
	}{
		{"bootstrap secret", e.Vault.EnsureBootstrap},
		{"policies", e.Vault.EnsurePolicies},
		{"jwt roles", e.Vault.EnsureJWTRoles},
	}
	// Independent of each other (a jwt role names its policy; Vault does
	// not need the policy first): they converge concurrently.
	changed := make([]bool, len(steps))
	errs := make([]error, len(steps))
	var wg sync.WaitGroup
	for i, s := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			changed[i], errs[i] = s.f(ctx, d.names)
		}()
	}
	wg.Wait()
	for i, s := range steps {
		if changed[i] {
			out.Changed = true
			parts = append(parts, s.what)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return out, err
	}
	out.Detail = "policy and jwt role of each component: " + strings.Join(d.names.Identities(tenant.Components()), ", ")
	if len(parts) > 0 {
		out.Detail += " (wrote " + strings.Join(parts, ", ") + ")"
	}
	return out, nil
}

// registered is one job after its registration step.
type registered struct {
	jobID   string
	changed bool
	index   uint64 // the job modify index to wait on
	err     error
}

// register parses and registers jobs concurrently, each only when its plan
// shows a change, and says what it did.
func (e Env) register(ctx context.Context, r runner, d desired, step string, jobs []jobspec.Job) ([]registered, Outcome, error) {
	results := make([]registered, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = registered{jobID: j.JobID}
			job, err := e.Nomad.Parse(ctx, j.Source, j.Vars)
			if err != nil {
				results[i].err = fmt.Errorf("parse %s: %w", j.File, err)
				return
			}
			ar, err := e.Nomad.Apply(ctx, job, j.Source, j.Vars)
			if err != nil {
				results[i].err = fmt.Errorf("register %s: %w", j.JobID, err)
				return
			}
			results[i].changed, results[i].index = ar.Changed, ar.JobModifyIndex
			d.applied.note(ar.JobID, ar.JobModifyIndex)
			if w := strings.TrimSpace(ar.Warnings); w != "" {
				r.info(step, j.JobID+": nomad warning: "+w)
			}
		}()
	}
	wg.Wait()
	var out Outcome
	var errs []error
	var changed, same []string
	for _, res := range results {
		switch {
		case res.err != nil:
			errs = append(errs, res.err)
		case res.changed:
			out.Changed = true
			changed = append(changed, res.jobID)
		default:
			same = append(same, res.jobID)
		}
	}
	switch {
	case len(changed) > 0 && len(same) > 0:
		out.Detail = "registered " + strings.Join(changed, ", ") + "; unchanged " + strings.Join(same, ", ")
	case len(changed) > 0:
		out.Detail = "registered " + strings.Join(changed, ", ")
	default:
		out.Detail = "unchanged " + strings.Join(same, ", ")
	}
	return results, out, errors.Join(errs...)
}

// deployWait is a job's deployment wait, running in the background.
type deployWait struct {
	jobID string
	done  chan struct{}
	err   error
}

// watchDeployments starts waiting for the deployments of the registered
// jobs, each bounded by the tenant's timeout.
func (e Env) watchDeployments(ctx context.Context, d desired, regs []registered) []*deployWait {
	waits := make([]*deployWait, 0, len(regs))
	for _, reg := range regs {
		w := &deployWait{jobID: reg.jobID, done: make(chan struct{})}
		go func() {
			defer close(w.done)
			wctx, cancel := context.WithTimeout(ctx, d.timeout)
			defer cancel()
			if err := e.Nomad.WaitDeployment(wctx, d.names.Namespace, reg.jobID, reg.index); err != nil {
				w.err = fmt.Errorf("%s did not become healthy: %w", reg.jobID, err)
			}
		}()
		waits = append(waits, w)
	}
	return waits
}

// awaitDeployments waits for every wait to finish, reporting on step what
// each job is doing while it takes long, and joins their errors.
func (e Env) awaitDeployments(ctx context.Context, d desired, r runner, step string, waits []*deployWait) error {
	errs := make([]error, len(waits))
	var wg sync.WaitGroup
	for i, w := range waits {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.reportWhile(ctx, r, step, w.jobID, func(ctx context.Context) string {
				return e.Nomad.Describe(ctx, d.names.Namespace, w.jobID)
			}, func() error {
				select {
				case <-w.done:
					return w.err
				case <-ctx.Done():
					return ctx.Err()
				}
			})
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// applyAndWait registers jobs and, when wait is set, waits for their
// deployments (and for the earlier waits still pending) to succeed.
func (e Env) applyAndWait(ctx context.Context, d desired, r runner, step string, wait bool, jobs []jobspec.Job, pending ...*deployWait) (Outcome, error) {
	regs, out, err := e.register(ctx, r, d, step, jobs)
	if err != nil || !wait {
		return out, err
	}
	waits := append(e.watchDeployments(ctx, d, regs), pending...)
	if err := e.awaitDeployments(ctx, d, r, step, waits); err != nil {
		return out, err
	}
	out.Detail += "; healthy"
	return out, nil
}

// applyDataServices registers the data services and returns as soon as
// each of their services passes its Consul checks, which is all the next
// steps (Vault connections, migrations) need; their deployments go on
// being watched, and the app step waits for them too before up succeeds,
// so nothing is declared healthy that Nomad did not find healthy. A
// deployment that fails before its service passes fails this step.
func (e Env) applyDataServices(ctx context.Context, d desired, r runner) (Outcome, []*deployWait, error) {
	jobs := d.stage(tenant.StageData)
	regs, out, err := e.register(ctx, r, d, StepDataServices, jobs)
	if err != nil {
		return out, nil, err
	}
	waits := e.watchDeployments(ctx, d, regs)
	var services []string // by job, as d.stage orders them; "" for a job without a service
	for _, c := range tenant.ComponentsAt(tenant.StageData) {
		services = append(services, d.names.Service(c))
	}
	errs := make([]error, len(waits))
	var wg sync.WaitGroup
	for i, w := range waits {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			passing := make(chan error, 1)
			if services[i] != "" {
				go func() {
					_, err := e.serviceAddr(sctx, services[i], d.timeout)
					passing <- err
				}()
			}
			errs[i] = e.reportWhile(ctx, r, StepDataServices, w.jobID, func(ctx context.Context) string {
				return e.Nomad.Describe(ctx, d.names.Namespace, w.jobID)
			}, func() error {
				select {
				case <-w.done:
					return w.err
				case err := <-passing:
					if err != nil {
						<-w.done // the deployment's verdict explains more than Consul's
						if w.err != nil {
							return w.err
						}
					}
					return err
				}
			})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return out, nil, err
	}
	out.Detail += "; passing in Consul"
	return out, waits, nil
}

// serviceAddr waits for a passing instance of service and returns host:port.
// It waits with Consul blocking queries, so it learns of a passing check
// when Consul does.
func (e Env) serviceAddr(ctx context.Context, service string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	var (
		index   uint64
		seen    []consul.Instance // the tenant's instances, last read
		readErr error             // the last read's error, when it failed
		delay   = 50 * time.Millisecond
	)
	fail := func() error {
		cause := readErr
		if cause == nil {
			cause = fmt.Errorf("%d instance(s), none passing", len(seen))
		}
		return exit.Wrap(fmt.Errorf("consul service %s has no passing instance: %w", service, cause), exit.Failure,
			"check the job's allocations with `tenantctl status`; the service must pass its Consul checks")
	}
	for {
		is, next, err := e.Consul.ServiceHealthSince(ctx, service, index, max(time.Until(deadline), time.Millisecond))
		switch {
		case err == nil:
			seen, readErr = ownInstances(service, is), nil
			if p := consul.Passing(seen); len(p) > 0 {
				return net.JoinHostPort(p[0].Address, strconv.Itoa(p[0].Port)), nil
			}
			index = next // the next query waits for a change
		case ctx.Err() == nil:
			readErr, index = err, 0
		}
		if ctx.Err() != nil {
			return "", fail()
		}
		if err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return "", fail()
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// ownInstances keeps the instances of a tenant's service ("<id>--<component>")
// that carry the tenant's tag: an instance registered under the name by
// anything else is never handed to Vault as the tenant's database.
func ownInstances(service string, is []consul.Instance) []consul.Instance {
	id, _, ok := strings.Cut(service, "--")
	if !ok {
		return nil
	}
	tag := "tenantctl.tenant=" + id
	out := is[:0:0]
	for _, in := range is {
		if slices.Contains(in.Tags, tag) {
			out = append(out, in)
		}
	}
	return out
}

// secretsEngines converges the tenant's Postgres and Redis connections and
// roles in Vault. The two are independent (the adapter serialises their
// shared bootstrap-metadata markers), so they converge concurrently: each
// spends most of its time waiting on Vault's verify_connection and
// rotate-root round trips to its database.
func (e Env) secretsEngines(ctx context.Context, d desired) (Outcome, error) {
	var pgChanged, redisChanged bool
	var pgErr, redisErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		addr, err := e.serviceAddr(ctx, d.names.ServicePostgres, d.timeout)
		if err != nil {
			pgErr = err
			return
		}
		pgChanged, pgErr = e.Vault.EnsurePostgres(ctx, d.names, addr)
	}()
	go func() {
		defer wg.Done()
		addr, err := e.serviceAddr(ctx, d.names.ServiceRedis, d.timeout)
		if err != nil {
			redisErr = err
			return
		}
		redisChanged, redisErr = e.Vault.EnsureRedis(ctx, d.names, addr)
	}()
	wg.Wait()
	out := Outcome{Changed: pgChanged || redisChanged,
		Detail: fmt.Sprintf("connections %s, %s with roles app, worker, migrate", d.names.DBConnection, d.names.RedisConnection)}
	return out, errors.Join(pgErr, redisErr)
}

func (e Env) verifyRoute(ctx context.Context, d desired, r runner) (Outcome, error) {
	var seen atomic.Value // string: what the last failed attempt saw
	seen.Store("")
	err := e.reportWhile(ctx, r, StepRouting, "the route to "+d.spec.Host.String(),
		func(context.Context) string { return seen.Load().(string) },
		func() error {
			return routing.Verify(ctx, e.Consul, routing.VerifySpec{
				Service: d.names.ServiceApp, Host: d.spec.Host.String(), RouterAddr: e.Config.RouterAddress,
				Tenant: d.spec.ID.String(), PathHost: e.pathHost(), Timeout: d.timeout, Logger: e.log(),
				Observe: func(s string) { seen.Store(s) },
			})
		})
	if err != nil {
		return Outcome{}, err
	}
	if e.Config.RouterAddress == "" {
		return Outcome{Detail: d.names.ServiceApp + " passing in consul (no router address configured)"}, nil
	}
	detail := d.spec.Host.String() + " answers through " + e.Config.RouterAddress
	if h := e.pathHost(); h != "" {
		detail += ", and " + h + "/" + d.spec.ID.String() + "/"
	}
	return Outcome{Detail: detail}, nil
}

// pathHost is the router's shared path-routing host to probe, when the
// config names one and a router address to probe it through.
func (e Env) pathHost() string {
	if e.Config.RouterAddress == "" {
		return ""
	}
	return e.Config.PathRoutingHost
}

func links(n Nomad, d desired) map[string]string {
	out := make(map[string]string, len(d.jobs))
	for _, j := range d.all() {
		out[j.Name] = n.JobURL(d.names.Namespace, j.JobID)
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// volumes creates the docker profile's dynamic host volumes; the exec
// profile keeps its data in host directories that its jobs create.
func (e Env) volumes(ctx context.Context, d desired) (Outcome, error) {
	if d.spec.Profile != tenant.ProfileDocker {
		return Outcome{Detail: "exec profile: data in " + e.Config.Exec.DataDir + " on the client"}, nil
	}
	var created []string
	for _, v := range d.names.Volumes(tenant.Components()) {
		changed, err := e.Nomad.EnsureHostVolume(ctx, d.names.Namespace, v, e.Config.NodePool)
		if err != nil {
			return Outcome{Changed: len(created) > 0}, err
		}
		if changed {
			created = append(created, v)
		}
	}
	if len(created) == 0 {
		return Outcome{Detail: "volumes exist"}, nil
	}
	return Outcome{Changed: true, Detail: "created " + strings.Join(created, ", ")}, nil
}
