package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/jobspec"
	"github.com/tenantctl/tenantctl/internal/nomad"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// MigrationsVersion names the set of migrations in fsys: the last file's
// version and a digest of every file, such as "00006-3f2a9c1b". The migrate
// job is dispatched with it as meta "version", and the dispatch idempotency
// token derives from it, so a migration set runs once per tenant.
func MigrationsVersion(fsys fs.FS) (string, error) {
	if fsys == nil {
		return "", fmt.Errorf("migrations: no migrations directory")
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return "", fmt.Errorf("migrations: list: %w", err)
	}
	if len(names) == 0 {
		return "", fmt.Errorf("migrations: no *.sql files")
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return "", fmt.Errorf("migrations: read %s: %w", n, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	last := strings.TrimSuffix(path.Base(names[len(names)-1]), ".sql")
	if i := strings.IndexByte(last, '_'); i > 0 {
		last = last[:i]
	}
	return last + "-" + hex.EncodeToString(h.Sum(nil))[:8], nil
}

// specDigest identifies the desired state: every rendered jobspec, the var
// file and the migrations. It is stored in the tenant's record.
func specDigest(jobs []jobspec.Job, migVer string) string {
	sorted := append([]jobspec.Job(nil), jobs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	h := sha256.New()
	for _, j := range sorted {
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00", j.Name, j.JobID, len(j.Source))
		h.Write(j.Source)
	}
	if len(sorted) > 0 {
		h.Write([]byte(sorted[0].Vars))
	}
	h.Write([]byte(migVer))
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// dispatched is the state of the migrate job's children for one version.
type dispatched struct {
	complete bool   // one child completed successfully
	running  string // id of a child still pending or running
	failed   int    // children that failed
}

func (e Env) dispatchedFor(ctx context.Context, d desired) (dispatched, error) {
	var out dispatched
	job := d.stage(tenant.StageMigrate)[0].JobID
	children, err := e.Nomad.ListJobs(ctx, d.names.Namespace, job+"/dispatch-")
	if err != nil {
		return out, fmt.Errorf("list migrate runs: %w", err)
	}
	for _, c := range children {
		if c.ParentID != job || c.Meta["version"] != d.migVer {
			continue
		}
		switch {
		case c.Status != "dead":
			out.running = c.ID
		case childSucceeded(c):
			out.complete = true
		default:
			out.failed++
		}
	}
	return out, nil
}

func childSucceeded(c nomad.JobInfo) bool {
	return c.Complete > 0 && c.Failed == 0 && c.Lost == 0
}

func (e Env) migrationsDone(ctx context.Context, d desired) (bool, error) {
	st, err := e.dispatchedFor(ctx, d)
	return st.complete, err
}

// migrate registers the parameterized migrate job, dispatches it for the
// current migration set unless a run of that set already completed, and waits
// for the run. A failed run is never retried blindly: the next up dispatches
// a new run (a new idempotency token) only after the failure was reported.
func (e Env) migrate(ctx context.Context, d desired, r runner) (Outcome, error) {
	j := d.stage(tenant.StageMigrate)[0]
	job, err := e.Nomad.Parse(ctx, j.Source, j.Vars)
	if err != nil {
		return Outcome{}, fmt.Errorf("parse %s: %w", j.File, err)
	}
	ar, err := e.Nomad.Apply(ctx, job, j.Source, j.Vars)
	if err != nil {
		return Outcome{}, fmt.Errorf("register %s: %w", j.JobID, err)
	}
	d.applied.note(ar.JobID, ar.JobModifyIndex)
	out := Outcome{Changed: ar.Changed}
	st, err := e.dispatchedFor(ctx, d)
	if err != nil {
		return out, err
	}
	if st.complete {
		out.Detail = "migrations " + d.migVer + " already applied"
		return out, nil
	}
	child := st.running
	if child == "" {
		token := fmt.Sprintf("migrate-%s-%d", d.migVer, st.failed)
		child, err = e.Nomad.Dispatch(ctx, d.names.Namespace, j.JobID, map[string]string{"version": d.migVer}, token)
		if err != nil {
			return out, fmt.Errorf("dispatch %s: %w", j.JobID, err)
		}
		out.Changed = true
		r.info(StepMigrations, "dispatched "+child)
	} else {
		r.info(StepMigrations, "waiting for the run already under way: "+child)
	}
	wctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var res nomad.DispatchResult
	err = e.reportWhile(wctx, r, StepMigrations, child, func(ctx context.Context) string {
		return e.Nomad.Describe(ctx, d.names.Namespace, child)
	}, func() (err error) {
		res, err = e.Nomad.WaitDispatched(wctx, d.names.Namespace, child)
		return err
	})
	if err != nil {
		return out, exit.Wrap(fmt.Errorf("migration run %s failed: %w", child, err), exit.Failure,
			fmt.Sprintf("fix the migration (the log tail above names the file and SQL error), then run `tenantctl up %s` again; the app was not deployed", d.spec.ID))
	}
	out.Detail = fmt.Sprintf("applied migrations %s (%s, alloc %s)", d.migVer, res.JobID, shortID(res.AllocID))
	return out, nil
}

// MigrateOptions control migrate.
type MigrateOptions struct {
	Spec        tenant.Spec
	Timeout     time.Duration
	LockTimeout time.Duration
	Holder      consul.Holder
}

// Migrate registers the tenant's migrate job, dispatches it for the current
// migration set (unless that set already completed) and waits for the run.
func Migrate(ctx context.Context, env Env, opt MigrateOptions) (Report, error) {
	d, err := env.desiredState(opt.Spec, opt.Timeout)
	if err != nil {
		return Report{}, err
	}
	r := env.runner("migrate", d.spec.ID)
	lk := &tenantLock{env: env, n: d.names}
	defer lk.release(false)
	ctx = lk.guard(ctx) // a lost lock stops the command
	return r.run(ctx, []Step{
		preflightExisting(env, d.names),
		lk.step(opt.Holder, opt.LockTimeout),
		{Name: StepMigrations, Apply: func(ctx context.Context) (Outcome, error) { return env.migrate(ctx, d, r) }},
	})
}
