package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/provisiontest"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// TestRealNomadScheduledBackup checks the scheduled backup job on a real
// agent: up registers the periodic job, a converged up with a schedule set
// writes nothing to Nomad or Vault, a run Nomad launches from it (forced, so
// the test does not wait for the clock) produces a backup that `backups
// list` shows, and up removes the job once the schedule is gone.
func TestRealNomadScheduledBackup(t *testing.T) {
	w := newWorldWith(t, worldOptions{NoRouter: true, BackupSchedule: "0 3 * * *", BackupKeep: 3})
	h := w.h
	h.AddTenant("sb")
	n := provisiontest.Names(t, "sb")
	jobs := w.real.Client().Jobs()
	q := &nomadapi.QueryOptions{Namespace: n.Namespace}

	w.must("up", "sb", "--timeout", "5m")
	job, _, err := jobs.Info(n.JobScheduledBackup, q)
	if err != nil || job.Periodic == nil || len(job.Periodic.Specs) != 1 || job.Periodic.Specs[0] != "0 3 * * *" {
		t.Fatalf("scheduled backup job after up: got %+v, %v; want periodic 0 3 * * *", job, err)
	}

	nomadW, vaultW := w.real.Proxy().Writes(), h.VaultProxy().Writes()
	r := w.must("up", "sb", "--json")
	reportSteps("scheduled/converged", r)
	if d := w.real.Proxy().Writes() - nomadW; d != 0 {
		t.Errorf("converged up with a schedule: got %d writes to Nomad; want 0", d)
	}
	if d := h.VaultProxy().Writes() - vaultW; d != 0 {
		t.Errorf("converged up with a schedule: got %d writes to Vault; want 0", d)
	}
	if r := w.run("plan", "sb"); r.code != 0 {
		t.Errorf("plan with a schedule: got exit %d; want 0\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	h.WriteData("sb")
	start := time.Now()
	if _, _, err := jobs.PeriodicForce(n.JobScheduledBackup, &nomadapi.WriteOptions{Namespace: n.Namespace}); err != nil {
		t.Fatalf("force a scheduled run: %v", err)
	}
	var found *tenant.Backup
	for deadline := time.Now().Add(3 * time.Minute); found == nil && time.Now().Before(deadline); time.Sleep(time.Second) {
		r := w.must("backups", "list", "sb", "--json")
		var list []tenant.Backup
		if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
			t.Fatalf("backups list --json: %v in %.300q", err, r.stdout)
		}
		for i := range list {
			if list[i].Trigger == tenant.BackupBySchedule {
				found = &list[i]
			}
		}
	}
	if found == nil {
		t.Fatalf("no scheduled backup listed 3 minutes after forcing a run of %s", n.JobScheduledBackup)
	}
	report("scheduled/run-listed", time.Since(start))
	if err := tenant.ValidateBackupID(found.ID); err != nil || found.Tenant != "sb" || found.Size() == 0 {
		t.Errorf("scheduled backup: got %+v (%v); want a valid non-empty backup of sb", *found, err)
	}
	if !strings.HasPrefix(found.Job, n.JobScheduledBackup+"/periodic-") {
		t.Errorf("scheduled backup's job: got %q; want a periodic child of %s", found.Job, n.JobScheduledBackup)
	}

	// Without a schedule, up removes the periodic job.
	w.opts.BackupSchedule = ""
	w.writeConfig(w.exe)
	w.must("up", "sb", "--timeout", "5m")
	if job, _, err := jobs.Info(n.JobScheduledBackup, q); err == nil && (job.Stop == nil || !*job.Stop) {
		t.Errorf("scheduled backup job after the schedule was removed: still registered (stop=%v)", job.Stop)
	}
	r = w.must("up", "sb")
	if !strings.Contains(r.stdout, "no changes") {
		t.Errorf("up after removing the schedule, again: got %q; want no changes", r.stdout)
	}
}
