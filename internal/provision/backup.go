package provision

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tenantctl/tenantctl/internal/backup"
	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/jobspec"
	"github.com/tenantctl/tenantctl/internal/nomad"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// Step names of the backup commands (and up's step for the backup jobs).
const (
	StepBackupJobs    = "backup-jobs"
	StepBackup        = "backup"
	StepFinalBackup   = "final-backup"
	StepVerifyBackup  = "verify-backup"
	StepStopWorkloads = "stop-workloads"
	StepRestore       = "restore"
)

// The backup components, by name (tenant.Components).
const (
	componentBackup          = "backup"
	componentRestore         = "restore"
	componentScheduledBackup = "scheduled-backup"
)

// lastLine returns the JSON after the last line of out that starts with
// prefix.
func lastLine(out, prefix string) (string, bool) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if rest, ok := strings.CutPrefix(strings.TrimRight(lines[i], "\r"), prefix); ok {
			return rest, true
		}
	}
	return "", false
}

// ParseBackupLine reads the manifest from a backup run's stdout: the last
// line starting with backup.BackupLinePrefix.
func ParseBackupLine(out string) (tenant.Backup, error) {
	var b tenant.Backup
	js, ok := lastLine(out, backup.BackupLinePrefix)
	if !ok {
		return b, fmt.Errorf("the backup run printed no %q line", strings.TrimSpace(backup.BackupLinePrefix))
	}
	if err := json.Unmarshal([]byte(js), &b); err != nil {
		return b, fmt.Errorf("the backup run's manifest line: %w", err)
	}
	return b, nil
}

// backupJobs registers the backup and restore jobs and converges the
// scheduled backup: registered while the config sets a schedule (it is
// rendered then), stopped and purged when it no longer does.
func (e Env) backupJobs(ctx context.Context, d desired, r runner) (Outcome, error) {
	jobs := append(d.stage(tenant.StageOnDemand), d.stage(tenant.StageScheduled)...)
	_, out, err := e.register(ctx, r, d, StepBackupJobs, jobs)
	if err != nil {
		return out, err
	}
	for _, c := range tenant.ComponentsAt(tenant.StageScheduled) {
		if _, ok := d.jobs[c.Name]; ok {
			continue
		}
		removed, err := e.Nomad.Deregister(ctx, d.names.Namespace, d.names.Job(c), true)
		if err != nil {
			return out, fmt.Errorf("remove %s: %w", d.names.Job(c), err)
		}
		if removed {
			out.Changed = true
			out.Detail += "; removed " + d.names.Job(c) + " (no backup schedule)"
		}
	}
	if s := e.Config.BackupFor(d.spec.Plan).Schedule; s != "" {
		out.Detail += "; scheduled backups at " + s + " UTC"
	}
	return out, nil
}

// scheduledLeftover returns a scheduled job that exists although the
// config no longer asks for it, "" when there is none.
func (e Env) scheduledLeftover(ctx context.Context, d desired) (string, error) {
	for _, c := range tenant.ComponentsAt(tenant.StageScheduled) {
		if _, ok := d.jobs[c.Name]; ok {
			continue
		}
		st, err := e.Nomad.JobStatus(ctx, d.names.Namespace, d.names.Job(c))
		if err != nil {
			return "", err
		}
		if st.Found && !st.Stop {
			return d.names.Job(c), nil
		}
	}
	return "", nil
}

// newBackupID returns a fresh backup id for now.
func (e Env) newBackupID() (string, error) {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("backup id: %w", err)
	}
	return tenant.NewBackupID(e.now(), b), nil
}

// registerJob parses and registers one rendered job (a no-op when Nomad
// has it already).
func (e Env) registerJob(ctx context.Context, j jobspec.Job) (bool, error) {
	job, err := e.Nomad.Parse(ctx, j.Source, j.Vars)
	if err != nil {
		return false, fmt.Errorf("parse %s: %w", j.File, err)
	}
	ar, err := e.Nomad.Apply(ctx, job, j.Source, j.Vars)
	if err != nil {
		return false, fmt.Errorf("register %s: %w", j.JobID, err)
	}
	return ar.Changed, nil
}

// runBatch dispatches the parameterized job j with meta and token, waits
// for the run (reporting on step every ProgressEvery) and returns its
// result and the stdout of its task. When resultPrefix is set, the stdout
// is read again for a few seconds until it holds a line with that prefix:
// a client may serve the log of a task that just ended before its last
// line reached the file.
func (e Env) runBatch(ctx context.Context, d desired, r runner, step string, j jobspec.Job, meta map[string]string, token, resultPrefix string) (nomad.DispatchResult, string, error) {
	child, err := e.Nomad.Dispatch(ctx, d.names.Namespace, j.JobID, meta, token)
	if err != nil {
		return nomad.DispatchResult{}, "", fmt.Errorf("dispatch %s: %w", j.JobID, err)
	}
	r.info(step, "dispatched "+child)
	wctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var res nomad.DispatchResult
	err = e.reportWhile(wctx, r, step, child, func(ctx context.Context) string {
		return e.Nomad.Describe(ctx, d.names.Namespace, child)
	}, func() (err error) {
		res, err = e.Nomad.WaitDispatched(wctx, d.names.Namespace, child)
		return err
	})
	if err != nil {
		return res, "", err
	}
	var out string
	for try := 0; ; try++ {
		out, err = e.Nomad.TaskOutput(ctx, d.names.Namespace, res.AllocID, res.Task)
		if err != nil || resultPrefix == "" || try == 10 {
			return res, out, err
		}
		if _, ok := lastLine(out, resultPrefix); ok {
			return res, out, nil
		}
		select {
		case <-ctx.Done():
			return res, out, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// takeBackup dispatches the tenant's backup job for a fresh backup id,
// waits for it, reads the manifest from the run's stdout and records it in
// the tenant's backup catalogue (Consul KV), then trims the catalogue to
// the configured retention as the runner trims the files.
func (e Env) takeBackup(ctx context.Context, d desired, r runner, step, trigger string) (tenant.Backup, Outcome, error) {
	var out Outcome
	j, ok := d.jobs[componentBackup]
	if !ok {
		return tenant.Backup{}, out, fmt.Errorf("render jobspecs: no %s job", componentBackup)
	}
	changed, err := e.registerJob(ctx, j)
	out.Changed = changed
	if err != nil {
		return tenant.Backup{}, out, err
	}
	id, err := e.newBackupID()
	if err != nil {
		return tenant.Backup{}, out, err
	}
	res, stdout, err := e.runBatch(ctx, d, r, step, j, map[string]string{"backup_id": id}, "backup-"+id, backup.BackupLinePrefix)
	out.Changed = true // a dispatched run, and files in the backup root
	if err != nil {
		return tenant.Backup{}, out, exit.Wrap(fmt.Errorf("backup %s of %s failed: %w", id, d.spec.ID, err), exit.Failure,
			"the log tail above says why (credentials, the backup root, pg_dump); nothing was recorded")
	}
	b, err := ParseBackupLine(stdout)
	if err == nil {
		err = b.Validate(d.spec.ID)
	}
	if err == nil && b.ID != id {
		err = fmt.Errorf("the run reported backup %s; want %s", b.ID, id)
	}
	if err != nil {
		return b, out, fmt.Errorf("backup %s of %s (%s): %w", id, d.spec.ID, res.JobID, err)
	}
	b.Trigger, b.Job = trigger, res.JobID
	if _, err := e.Consul.WriteBackup(ctx, d.names.BackupsKVPrefix, b); err != nil {
		return b, out, err
	}
	if err := e.trimCatalogue(ctx, d); err != nil {
		return b, out, err
	}
	out.Detail = fmt.Sprintf("backup %s: %s, schema version %d, %d redis keys (%s)", b.ID, tenant.HumanSize(b.Size()),
		b.SchemaVersion, b.Redis.Keys, res.JobID)
	return b, out, nil
}

// trimCatalogue drops the catalogue entries older than the newest keep
// (backup { keep }): the backup job removes their files the same way.
func (e Env) trimCatalogue(ctx context.Context, d desired) error {
	keep := e.Config.BackupFor(d.spec.Plan).Keep
	if keep <= 0 {
		return nil
	}
	all, err := e.Consul.ListBackups(ctx, d.names.BackupsKVPrefix)
	if err != nil {
		return err
	}
	for i := 0; i < len(all)-keep; i++ {
		if _, err := e.Consul.DeleteBackup(ctx, d.names.BackupsKVPrefix, all[i].ID); err != nil {
			return err
		}
	}
	return nil
}

// BackupOptions control backup.
type BackupOptions struct {
	Spec        tenant.Spec
	Timeout     time.Duration
	LockTimeout time.Duration
	Holder      consul.Holder
}

// BackupResult is what backup did.
type BackupResult struct {
	Report
	Backup tenant.Backup `json:"backup"`
}

// Backup takes a backup of a tenant through its backup job and records it
// in the tenant's backup catalogue.
func Backup(ctx context.Context, env Env, opt BackupOptions) (BackupResult, error) {
	d, err := env.desiredState(opt.Spec, opt.Timeout)
	if err != nil {
		return BackupResult{}, err
	}
	var res BackupResult
	r := env.runner("backup", d.spec.ID)
	lk := &tenantLock{env: env, n: d.names}
	defer lk.release(false)
	ctx = lk.guard(ctx)
	res.Report, err = r.run(ctx, []Step{
		preflightExisting(env, d.names),
		lk.step(opt.Holder, opt.LockTimeout),
		{Name: StepBackup, Apply: func(ctx context.Context) (Outcome, error) {
			if err := env.recordScheduled(ctx, d.names); err != nil {
				return Outcome{}, err
			}
			b, out, err := env.takeBackup(ctx, d, r, StepBackup, tenant.BackupByCommand)
			res.Backup = b
			return out, err
		}},
	})
	return res, err
}

// scheduledBackups returns the backups the scheduled-backup job's runs
// took that Nomad still knows (it garbage-collects finished runs), read
// from each successful run's manifest line. It only reads.
func (e Env) scheduledBackups(ctx context.Context, n tenant.Names) ([]tenant.Backup, error) {
	var out []tenant.Backup
	for _, c := range tenant.ComponentsAt(tenant.StageScheduled) {
		runs, err := e.Nomad.PeriodicChildren(ctx, n.Namespace, n.Job(c))
		if err != nil {
			return nil, err
		}
		for _, run := range runs {
			if run.Status != "dead" || !childSucceeded(run) {
				continue
			}
			alloc, task, err := e.Nomad.LastAllocation(ctx, n.Namespace, run.ID)
			if err != nil || alloc == "" {
				continue // garbage-collected meanwhile
			}
			stdout, err := e.Nomad.TaskOutput(ctx, n.Namespace, alloc, task)
			if err != nil {
				e.log().Warn("read a scheduled backup's manifest", "job", run.ID, "error", err)
				continue
			}
			b, err := ParseBackupLine(stdout)
			if err == nil {
				err = b.Validate(n.ID)
			}
			if err != nil {
				e.log().Warn("read a scheduled backup's manifest", "job", run.ID, "error", err)
				continue
			}
			b.Trigger, b.Job = tenant.BackupBySchedule, run.ID
			out = append(out, b)
		}
	}
	return out, nil
}

// recordScheduled adds the scheduled runs' backups that the catalogue
// lacks to it.
func (e Env) recordScheduled(ctx context.Context, n tenant.Names) error {
	have, err := e.Consul.ListBackups(ctx, n.BackupsKVPrefix)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, b := range have {
		known[b.ID] = true
	}
	sched, err := e.scheduledBackups(ctx, n)
	if err != nil {
		return err
	}
	for _, b := range sched {
		if known[b.ID] {
			continue
		}
		if _, err := e.Consul.WriteBackup(ctx, n.BackupsKVPrefix, b); err != nil {
			return err
		}
	}
	return nil
}

// Backups lists a tenant's backups, oldest first: its catalogue and the
// scheduled runs' backups not yet recorded in it. It only reads, and works
// for a tenant that no longer exists (the catalogue outlives it).
func Backups(ctx context.Context, env Env, id tenant.ID) ([]tenant.Backup, error) {
	n := tenant.NamesFor(id)
	list, err := env.Consul.ListBackups(ctx, n.BackupsKVPrefix)
	if err != nil {
		return nil, exit.Because(err, exit.Unreachable, consul.CauseUnreachable)
	}
	known := map[string]bool{}
	for _, b := range list {
		known[b.ID] = true
	}
	sched, err := env.scheduledBackups(ctx, n)
	if err != nil {
		// The catalogue alone is still an answer.
		env.log().Warn("list scheduled backups", "tenant", id.String(), "error", err)
	}
	for _, b := range sched {
		if !known[b.ID] {
			list = append(list, b)
		}
	}
	sortBackups(list)
	return list, nil
}

func sortBackups(list []tenant.Backup) {
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && list[j].ID < list[j-1].ID; j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
}

// errNoBackup is a backup id the source tenant's catalogue does not hold.
var errNoBackup = errors.New("no such backup")
