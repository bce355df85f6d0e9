package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tenantctl/tenantctl/internal/backup"
	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// CauseFinalBackup is a failed final backup of down --purge-data: nothing
// was deleted; the CLI words how to go on.
const CauseFinalBackup exit.Cause = "final-backup-failed"

// RestoreSource is the backup a restore reads: its tenant (the tenant
// itself in place, the original for a --to copy) and its catalogue entry.
type RestoreSource struct {
	Tenant tenant.ID
	Backup tenant.Backup
}

// RestoreSummary is what the restore runner reports (its last stdout line),
// kept as it came: tenantctl shows it and stores nothing of it.
type RestoreSummary map[string]any

// schemaVersionOf is the migration version a migration set names ("00006"
// of "00006-3f2a9c1b").
func schemaVersionOf(migVer string) (int64, error) {
	num, _, _ := strings.Cut(migVer, "-")
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("migrations: version %q: %w", migVer, err)
	}
	return v, nil
}

// FindBackup returns backup id of tenant source from its catalogue (or its
// scheduled runs not yet recorded), refusing an id it does not hold, an
// entry of another tenant, and a schema newer than migrations know (migVer,
// MigrationsVersion of this tenantctl's migrations). It only reads.
func FindBackup(ctx context.Context, env Env, source tenant.ID, id, migVer string) (tenant.Backup, error) {
	if err := tenant.ValidateBackupID(id); err != nil {
		return tenant.Backup{}, exit.UsageError("`tenantctl backups list "+source.String()+"` lists its backups", "%v", err)
	}
	list, err := Backups(ctx, env, source)
	if err != nil {
		return tenant.Backup{}, err
	}
	var b *tenant.Backup
	for i := range list {
		if list[i].ID == id {
			b = &list[i]
		}
	}
	if b == nil {
		return tenant.Backup{}, exit.UsageError("`tenantctl backups list "+source.String()+"` lists its backups; a copy of another tenant's backup is made with `tenantctl restore <that tenant> --from <id> --to <new tenant>`",
			"backup %s is not one of tenant %s's backups: %w", id, source, errNoBackup)
	}
	if err := b.Validate(source); err != nil {
		return tenant.Backup{}, exit.UsageError("restore a backup of this tenant; `tenantctl backups list "+source.String()+"` lists them",
			"refusing backup %s: %v", id, err)
	}
	known, err := schemaVersionOf(migVer)
	if err != nil {
		return tenant.Backup{}, err
	}
	if b.SchemaVersion > known {
		return tenant.Backup{}, exit.UsageError("restore it with a tenantctl whose migrations reach version "+strconv.FormatInt(b.SchemaVersion, 10)+" or newer",
			"backup %s has schema version %d, newer than this tenantctl's migrations (%d)", id, b.SchemaVersion, known)
	}
	return *b, nil
}

// restoreRun registers the tenant's restore job, dispatches it for src and
// waits for it.
func (e Env) restoreRun(ctx context.Context, d desired, r runner, src RestoreSource) (Outcome, error) {
	out := Outcome{}
	j, ok := d.jobs[componentRestore]
	if !ok {
		return out, fmt.Errorf("render jobspecs: no %s job", componentRestore)
	}
	changed, err := e.registerJob(ctx, j)
	out.Changed = changed
	if err != nil {
		return out, err
	}
	meta := map[string]string{"backup_id": src.Backup.ID, "source_tenant": src.Tenant.String()}
	// A restore is never deduplicated: running it again restores again.
	res, stdout, err := e.runBatch(ctx, d, r, StepRestore, j, meta, "", backup.RestoreLinePrefix)
	out.Changed = true
	if err != nil {
		return out, exit.Wrap(fmt.Errorf("restore of backup %s into %s failed: %w", src.Backup.ID, d.spec.ID, err), exit.Failure,
			fmt.Sprintf("the log tail above says why; the app and worker stay stopped until `tenantctl restore %s --from %s` succeeds (or `tenantctl up %s` brings them back on the data as it is)",
				src.Tenant, src.Backup.ID, d.spec.ID))
	}
	summary := RestoreSummary{}
	if js, ok := lastLine(stdout, backup.RestoreLinePrefix); ok {
		_ = json.Unmarshal([]byte(js), &summary)
	} else {
		return out, fmt.Errorf("restore of backup %s into %s (%s): the run printed no %q line", src.Backup.ID, d.spec.ID, res.JobID, strings.TrimSpace(backup.RestoreLinePrefix))
	}
	out.Detail = fmt.Sprintf("restored backup %s of %s (%s, schema version %d, %d redis keys) with %s",
		src.Backup.ID, src.Tenant, tenant.HumanSize(src.Backup.Size()), src.Backup.SchemaVersion, src.Backup.Redis.Keys, res.JobID)
	return out, nil
}

// migrateAfterRestore dispatches the migrate job once more, whatever ran
// before: the restored database is at the backup's schema version, and the
// runner applies what it lacks of the current set.
func (e Env) migrateAfterRestore(ctx context.Context, d desired, r runner, token string) (Outcome, error) {
	j := d.stage(tenant.StageMigrate)[0]
	changed, err := e.registerJob(ctx, j)
	out := Outcome{Changed: changed}
	if err != nil {
		return out, err
	}
	res, _, err := e.runBatch(ctx, d, r, StepMigrations, j, map[string]string{"version": d.migVer}, token, "")
	out.Changed = true
	if err != nil {
		return out, exit.Wrap(fmt.Errorf("migration run after the restore failed: %w", err), exit.Failure,
			fmt.Sprintf("fix the migration (the log tail above names the file and SQL error), then run `tenantctl up %s`; the app and worker stay stopped", d.spec.ID))
	}
	out.Detail = fmt.Sprintf("applied migrations %s (%s)", d.migVer, res.JobID)
	return out, nil
}

// RestoreOptions control restore.
type RestoreOptions struct {
	// Spec is the tenant restored into: the tenant itself in place, the
	// new tenant of a copy (To).
	Spec tenant.Spec
	// Source is the backup's tenant (the tenant itself in place).
	Source tenant.ID
	// From is the backup id.
	From string
	// To makes Spec a new tenant, created with up's steps and restored
	// before its app is deployed.
	To          bool
	Timeout     time.Duration
	LockTimeout time.Duration
	Holder      consul.Holder
}

// RestoreResult is what restore did.
type RestoreResult struct {
	Report
	Backup tenant.Backup `json:"backup"`
	Source string        `json:"source_tenant"`
	Tenant string        `json:"tenant"`
}

// Restore restores a tenant from one of its backups, in place: it stops the
// app and worker (their jobs stay registered), restores Postgres and Redis
// with the restore job, migrates to the current set, deploys the app and
// worker again and verifies health and routing as up does. With To it
// creates the new tenant Spec instead (up's steps, its own namespace,
// credentials and database) and restores the source's backup into it
// before its migrations and app. Every refusal (an unknown id, another
// tenant's backup, a newer schema, an existing --to tenant) comes before
// anything changes.
func Restore(ctx context.Context, env Env, opt RestoreOptions) (RestoreResult, error) {
	res := RestoreResult{Source: opt.Source.String(), Tenant: opt.Spec.ID.String()}
	d, err := env.desiredState(opt.Spec, opt.Timeout)
	if err != nil {
		return res, err
	}
	if err := preflight(ctx, env, d.names); err != nil {
		return res, err
	}
	b, err := FindBackup(ctx, env, opt.Source, opt.From, d.migVer)
	if err != nil {
		return res, err
	}
	res.Backup = b
	rec, err := env.Consul.ReadRecord(ctx, d.names.KVPrefix)
	if err != nil {
		return res, err
	}
	src := RestoreSource{Tenant: opt.Source, Backup: b}
	if opt.To {
		if rec != nil && rec.Status == tenant.StatusReady {
			return res, exit.UsageError("choose a new tenant id for the copy, or restore "+opt.Spec.ID.String()+" in place with `tenantctl restore "+opt.Spec.ID.String()+" --from <one of its backups>`",
				"tenant %s exists; --to creates a new tenant", opt.Spec.ID)
		}
		up, err := Up(ctx, env, UpOptions{Spec: opt.Spec, Timeout: opt.Timeout, LockTimeout: opt.LockTimeout,
			Holder: opt.Holder, Preflighted: true, Restore: &src})
		res.Report = up.Report
		return res, err
	}
	if rec == nil {
		return res, notFound(opt.Spec.ID)
	}
	r := env.runner("restore", d.spec.ID)
	lk := &tenantLock{env: env, n: d.names}
	defer lk.release(false)
	ctx, cancelWaits := context.WithCancel(ctx)
	defer cancelWaits()
	ctx = lk.guard(ctx)
	var restoreJob string
	steps := []Step{
		{Name: StepVerifyBackup, Apply: func(ctx context.Context) (Outcome, error) {
			return Outcome{Detail: fmt.Sprintf("backup %s of %s: %s, schema version %d (this tenantctl's migrations: %s)",
				b.ID, b.Tenant, tenant.HumanSize(b.Size()), b.SchemaVersion, d.migVer)}, nil
		}},
		lk.step(opt.Holder, opt.LockTimeout),
		{Name: StepStopWorkloads, Apply: func(ctx context.Context) (Outcome, error) {
			var stopped []string
			for _, job := range d.names.Jobs(tenant.ComponentsAt(tenant.StageWorkload)) {
				changed, err := env.Nomad.ScaleToZero(ctx, d.names.Namespace, job, "tenantctl restore: stopped while its data is restored")
				if err != nil {
					return Outcome{Changed: len(stopped) > 0}, fmt.Errorf("stop %s: %w", job, err)
				}
				if changed {
					stopped = append(stopped, job)
				}
			}
			out := Outcome{Changed: len(stopped) > 0, Detail: "app and worker already stopped"}
			if len(stopped) > 0 {
				out.Detail = "scaled " + strings.Join(stopped, ", ") + " to 0; their allocations have stopped (the jobs stay registered)"
			}
			return out, nil
		}},
		{Name: StepRestore, Apply: func(ctx context.Context) (Outcome, error) {
			out, err := env.restoreRun(ctx, d, r, src)
			restoreJob = b.ID
			return out, err
		}},
		{Name: StepMigrations, Apply: func(ctx context.Context) (Outcome, error) {
			return env.migrateAfterRestore(ctx, d, r, fmt.Sprintf("migrate-%s-restore-%s-%d", d.migVer, restoreJob, env.now().UnixNano()))
		}},
		{Name: StepApp, Apply: func(ctx context.Context) (Outcome, error) {
			return env.applyAndWait(ctx, d, r, StepApp, true, d.stage(tenant.StageWorkload))
		}},
		{Name: StepRouting, Apply: func(ctx context.Context) (Outcome, error) { return env.verifyRoute(ctx, d, r) }},
		{Name: StepRecord, Apply: func(ctx context.Context) (Outcome, error) {
			rec := env.record(d, tenant.StatusReady, StepRecord, "")
			changed, err := env.Consul.WriteRecord(ctx, d.names.KVPrefix, rec)
			return Outcome{Changed: changed, Detail: "status " + string(tenant.StatusReady)}, err
		}},
	}
	res.Report, err = r.run(ctx, steps)
	if err != nil && lk.held() {
		env.recordFailure(d, err)
	}
	return res, err
}
