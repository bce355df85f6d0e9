package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// Step names of down, in order.
const (
	StepWorkloads     = "workloads"
	StepVaultTeardown = "vault"
	StepData          = "data-services"
	StepVolumes       = "volumes"
	StepVaultKeys     = "vault-keys"
	StepForget        = "record"
	StepDelNS         = "namespace"
)

// DownOptions control down.
type DownOptions struct {
	ID tenant.ID
	// Profile decides what --purge-data removes: docker tenants keep their
	// data on Nomad dynamic host volumes, exec tenants in host directories.
	Profile tenant.Profile
	// PurgeData also deletes the data volumes. Without it they stay, and a
	// later up of the same id finds the data again.
	PurgeData bool
	// FinalBackup, when set, is the tenant's spec (from its record): down
	// first takes a backup through the tenant's backup job, before anything
	// is stopped, and deletes nothing when it fails. The CLI sets it for
	// --purge-data unless --no-final-backup.
	FinalBackup *tenant.Spec
	// Timeout bounds the final backup's run.
	Timeout     time.Duration
	LockTimeout time.Duration
	Holder      consul.Holder
}

// Down removes a tenant in the reverse order of up: workloads first; then
// Vault's access objects (leases are revoked while Postgres and Redis still
// run, so Vault can drop the users it created; roles, policies, jwt roles);
// then the data services; the volumes and, after them, the keys to the data
// (Vault's connections and the bootstrap secret) only when asked; the
// tenant's record and its namespace; the lock key last. Without PurgeData
// the keys stay with the data, so a later up of the same id comes back with
// its rows, its Redis keys and working credentials. Every step is
// idempotent, so an interrupted down is finished by running it again, and
// up converges after any prefix of it.
func Down(ctx context.Context, env Env, opt DownOptions) (Report, error) {
	n := tenant.NamesFor(opt.ID)
	r := env.runner("down", opt.ID)
	lk := &tenantLock{env: env, n: n}
	defer lk.release(true) // the tenant is gone: the lock key goes too
	ctx = lk.guard(ctx)    // a lost lock stops the command
	// stop stops jobs concurrently and purges each once its allocations
	// have stopped.
	stop := func(ctx context.Context, jobs ...string) (Outcome, error) {
		changed := make([]bool, len(jobs))
		errs := make([]error, len(jobs))
		var wg sync.WaitGroup
		for i, j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := env.Nomad.Deregister(ctx, n.Namespace, j, true)
				changed[i] = c
				if err != nil {
					errs[i] = fmt.Errorf("stop %s: %w", j, err)
				}
			}()
		}
		wg.Wait()
		var removed []string
		for i, j := range jobs {
			if changed[i] {
				removed = append(removed, j)
			}
		}
		out := Outcome{Changed: len(removed) > 0, Detail: "nothing to stop"}
		if len(removed) > 0 {
			out.Detail = "stopped " + strings.Join(removed, ", ") + "; their allocations have stopped and the jobs are purged"
		}
		return out, errors.Join(errs...)
	}
	steps := []Step{
		{Name: StepPreflight, Apply: func(ctx context.Context) (Outcome, error) {
			return Outcome{Detail: "nomad, consul and vault reachable and supported"}, preflight(ctx, env, n)
		}},
		lk.step(opt.Holder, opt.LockTimeout),
	}
	if opt.FinalBackup != nil {
		steps = append(steps, Step{Name: StepFinalBackup, Apply: func(ctx context.Context) (Outcome, error) {
			d, err := env.desiredState(*opt.FinalBackup, opt.Timeout)
			if err != nil {
				return Outcome{}, err
			}
			_, out, err := env.takeBackup(ctx, d, r, StepFinalBackup, tenant.BackupFinal)
			if err != nil {
				return out, exit.Because(fmt.Errorf("final backup before purging %s failed, so nothing was deleted: %v", opt.ID, err), exit.Failure, CauseFinalBackup)
			}
			return out, nil
		}})
	}
	steps = append(steps, []Step{
		{Name: StepWorkloads, Apply: func(ctx context.Context) (Outcome, error) {
			jobs := n.Jobs(tenant.ComponentsAt(tenant.StageWorkload))
			// Dispatched runs (migrations, backups, restores) and scheduled
			// backup runs are jobs of their own.
			var batch []string
			for _, s := range []tenant.Stage{tenant.StageMigrate, tenant.StageOnDemand, tenant.StageScheduled} {
				batch = append(batch, n.Jobs(tenant.ComponentsAt(s))...)
			}
			for _, parent := range batch {
				children, err := env.Nomad.ListJobs(ctx, n.Namespace, parent+"/")
				if err != nil {
					return Outcome{}, fmt.Errorf("list runs of %s: %w", parent, err)
				}
				for _, c := range children {
					if c.ParentID == parent {
						jobs = append(jobs, c.ID)
					}
				}
			}
			return stop(ctx, append(jobs, batch...)...)
		}},
		{Name: StepVaultTeardown, Apply: func(ctx context.Context) (Outcome, error) {
			changed, err := env.Vault.Teardown(ctx, n)
			return Outcome{Changed: changed, Detail: "leases revoked; credential roles, policies and jwt roles deleted"}, err
		}},
		{Name: StepData, Apply: func(ctx context.Context) (Outcome, error) {
			return stop(ctx, n.Jobs(tenant.ComponentsAt(tenant.StageData))...)
		}},
		{Name: StepVolumes, Apply: func(ctx context.Context) (Outcome, error) {
			if !opt.PurgeData {
				return Outcome{Detail: "kept " + strings.Join(n.Volumes(tenant.Components()), " and ") + " (use --purge-data to delete them)"}, nil
			}
			return env.purgeVolumes(ctx, n, opt.Profile)
		}},
		{Name: StepVaultKeys, Apply: func(ctx context.Context) (Outcome, error) {
			// After the volumes: a purge interrupted before them keeps the
			// keys to what is still there.
			if !opt.PurgeData {
				return Outcome{Detail: "kept the connections " + n.DBConnection + ", " + n.RedisConnection +
					" and the bootstrap secret: the kept data's keys (--purge-data deletes them)"}, nil
			}
			changed, err := env.Vault.PurgeKeys(ctx, n)
			return Outcome{Changed: changed, Detail: "deleted the connections and the bootstrap secret"}, err
		}},
		{Name: StepForget, Apply: func(ctx context.Context) (Outcome, error) {
			changed, err := env.Consul.DeletePrefix(ctx, n.KVPrefix)
			return Outcome{Changed: changed, Detail: "deleted " + n.KVPrefix}, err
		}},
		{Name: StepDelNS, Apply: func(ctx context.Context) (Outcome, error) {
			if opt.Profile == tenant.ProfileDocker && !opt.PurgeData {
				return Outcome{Detail: "kept " + n.Namespace + ": it holds the kept data volumes"}, nil
			}
			changed, err := env.Nomad.DeleteNamespace(ctx, n.Namespace)
			return Outcome{Changed: changed, Detail: "deleted " + n.Namespace}, err
		}},
	}...)
	return r.run(ctx, steps)
}

func (e Env) purgeVolumes(ctx context.Context, n tenant.Names, profile tenant.Profile) (Outcome, error) {
	if profile != tenant.ProfileDocker {
		var dirs []string
		for _, v := range n.Volumes(tenant.Components()) {
			dirs = append(dirs, e.Config.Exec.DataDir+"/"+v)
		}
		return Outcome{Detail: fmt.Sprintf("exec profile: remove %s on the client that ran them", strings.Join(dirs, " and "))}, nil
	}
	var removed []string
	for _, v := range n.Volumes(tenant.Components()) {
		changed, err := e.Nomad.DeleteHostVolume(ctx, n.Namespace, v)
		if err != nil {
			return Outcome{Changed: len(removed) > 0}, fmt.Errorf("delete volume %s: %w", v, err)
		}
		if changed {
			removed = append(removed, v)
		}
	}
	return Outcome{Changed: len(removed) > 0, Detail: "deleted " + strings.Join(removed, ", ")}, nil
}
