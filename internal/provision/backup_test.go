package provision_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/provisiontest"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

func mustBackup(t *testing.T, h *provisiontest.Harness, id string) tenant.Backup {
	t.Helper()
	res, err := provision.Backup(context.Background(), h.Env(), provision.BackupOptions{
		Spec: provisiontest.Spec(t, id), Timeout: 2 * time.Minute, LockTimeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("backup %s: %v", id, err)
	}
	return res.Backup
}

func restoreOptions(t *testing.T, id, from string) provision.RestoreOptions {
	return provision.RestoreOptions{Spec: provisiontest.Spec(t, id), Source: provisiontest.ID(t, id), From: from,
		Timeout: 2 * time.Minute, LockTimeout: 20 * time.Second}
}

// TestBackupDestroyRestore takes a backup of a tenant with data in every
// table and in Redis, destroys the data, restores the backup in place and
// finds every table row by row and every key as it was; the tenant is then
// converged (a second up makes no change). The catalogue entry holds no
// secret.
func TestBackupDestroyRestore(t *testing.T) {
	const id = "bkp"
	h := provisiontest.New(t)
	h.AddTenant(id)
	ctx := context.Background()
	h.MustUp(id)
	data := h.WriteData(id)
	h.WriteData(id)
	before := h.DataFingerprint(id)

	b := mustBackup(t, h, id)
	if b.Tenant != id || len(b.Files) < 2 || b.Trigger != tenant.BackupByCommand || b.Redis.Keys == 0 {
		t.Errorf("backup: got %+v; want this tenant's, files, trigger command, redis keys", b)
	}
	for table, rows := range b.Postgres.Rows {
		if rows == 0 && strings.Contains(table, "contacts") {
			t.Errorf("backup rows of %s: got 0; want the contacts written", table)
		}
	}
	list, err := provision.Backups(ctx, h.Env(), provisiontest.ID(t, id))
	if err != nil || len(list) != 1 || list[0].ID != b.ID {
		t.Fatalf("backups list: got %v, %v; want the one backup", list, err)
	}
	kv, _, err := h.ConsulAPI().KV().Get(provisiontest.Names(t, id).BackupsKVPrefix+b.ID, nil)
	if err != nil || kv == nil {
		t.Fatalf("catalogue entry: %v, %v", kv, err)
	}
	for _, secretish := range []string{"postgres://", "redis://", "password", "v-jwt-"} {
		if strings.Contains(strings.ToLower(string(kv.Value)), secretish) {
			t.Errorf("catalogue entry holds %q: %s", secretish, kv.Value)
		}
	}

	h.DestroyData(id)
	if err := h.CheckData(id, data); err == nil {
		t.Fatal("after destroying the data: CheckData passed; want the data gone")
	}
	res, err := provision.Restore(ctx, h.Env(), restoreOptions(t, id, b.ID))
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	var steps []string
	for _, s := range res.Steps {
		steps = append(steps, s.Name)
	}
	want := []string{provision.StepVerifyBackup, provision.StepLock, provision.StepStopWorkloads, provision.StepRestore,
		provision.StepMigrations, provision.StepApp, provision.StepRouting, provision.StepRecord}
	if !reflect.DeepEqual(steps, want) {
		t.Errorf("restore steps: got %v; want %v", steps, want)
	}
	h.WaitPassing(id)
	if err := h.CheckData(id, data); err != nil {
		t.Errorf("after restore: %v", err)
	}
	after := h.DataFingerprint(id)
	if !reflect.DeepEqual(before.Tables, after.Tables) {
		t.Errorf("tables after restore:\n got %v\nwant %v", after.Tables, before.Tables)
	}
	if !reflect.DeepEqual(before.Keys, after.Keys) {
		t.Errorf("redis keys after restore:\n got %v\nwant %v", after.Keys, before.Keys)
	}
	if up, err := h.Up(ctx, id); err != nil || !up.NoChanges {
		t.Errorf("up after restore: got NoChanges=%v, %v; want converged", up.NoChanges, err)
	}
	// The backup and restore runs logged in with their own identities.
	logins := h.VaultLogins(id)
	n := provisiontest.Names(t, id)
	for _, want := range []string{n.IdentityBackup, n.IdentityRestore} {
		found := false
		for _, roles := range logins {
			found = found || slices.Contains(roles, want)
		}
		if !found {
			t.Errorf("vault logins %v: none with %s", logins, want)
		}
	}
	h.AssertOwnVaultRoles(id)
}

// TestRestoreRefusals: an id not in the tenant's catalogue, another
// tenant's backup, and a backup of a newer schema are refused (exit 2)
// before anything changes.
func TestRestoreRefusals(t *testing.T) {
	h := provisiontest.New(t)
	h.AddTenant("rfa", "rfb")
	ctx := context.Background()
	h.MustUp("rfa")
	h.MustUp("rfb")
	other := mustBackup(t, h, "rfb")
	own := mustBackup(t, h, "rfa")

	// A catalogue entry of a schema this tenantctl does not know.
	newer := own
	newer.ID = tenant.NewBackupID(own.Created.Add(time.Second), [3]byte{1, 2, 3})
	newer.SchemaVersion = 99999
	b, _ := json.Marshal(newer)
	if _, err := h.ConsulAPI().KV().Put(&consulapi.KVPair{Key: provisiontest.Names(t, "rfa").BackupsKVPrefix + newer.ID, Value: b}, nil); err != nil {
		t.Fatal(err)
	}
	before := h.Snapshot("rfa")
	fpBefore := h.DataFingerprint("rfa")
	for what, from := range map[string]string{
		"an unknown id":           "20200101T000000Z-abcdef",
		"another tenant's backup": other.ID,
		"a newer schema":          newer.ID,
		"not a backup id":         "../rfb/" + other.ID,
	} {
		_, err := provision.Restore(ctx, h.Env(), restoreOptions(t, "rfa", from))
		if exit.CodeOf(err) != exit.Usage {
			t.Errorf("restore from %s: got %v (exit %d); want a refusal (exit 2)", what, err, exit.CodeOf(err))
		}
	}
	if got := h.Snapshot("rfa"); got != before {
		t.Errorf("after the refusals:\n got %s\nwant %s", got, before)
	}
	if got := h.DataFingerprint("rfa"); !reflect.DeepEqual(got, fpBefore) {
		t.Errorf("data after the refusals changed")
	}
	h.AssertAppServes("rfa")
}

// TestRestoreToNewTenant restores a tenant's backup into a new tenant: the
// copy has the original's data, its own credentials, and neither tenant's
// credentials reach the other's database or Redis.
func TestRestoreToNewTenant(t *testing.T) {
	h := provisiontest.New(t)
	h.AddTenant("orig", "copy")
	ctx := context.Background()
	h.MustUp("orig")
	data := h.WriteData("orig")
	b := mustBackup(t, h, "orig")
	before := h.DataFingerprint("orig")

	opt := restoreOptions(t, "copy", b.ID)
	opt.Source, opt.To = provisiontest.ID(t, "orig"), true
	res, err := provision.Restore(ctx, h.Env(), opt)
	if err != nil {
		t.Fatalf("restore --to copy: %v", err)
	}
	var steps []string
	for _, s := range res.Steps {
		steps = append(steps, s.Name)
	}
	if i, j := indexOf(steps, provision.StepRestore), indexOf(steps, provision.StepMigrations); i < 0 || j < 0 || i > j || indexOf(steps, provision.StepApp) < j {
		t.Errorf("steps %v: want restore before the migrations and the app", steps)
	}
	h.WaitPassing("copy")
	if err := h.CheckData("copy", data); err != nil {
		t.Errorf("the copy: %v", err)
	}
	if got := h.DataFingerprint("copy"); !reflect.DeepEqual(got.Tables, before.Tables) {
		t.Errorf("the copy's tables:\n got %v\nwant %v", got.Tables, before.Tables)
	}
	if err := h.CheckData("orig", data); err != nil {
		t.Errorf("the original after the copy: %v", err)
	}
	if err := h.AssertIsolated("orig", "copy"); err != nil {
		t.Error(err)
	}
	// The copy is a tenant of its own: converged, removable.
	if up, err := provision.Up(ctx, h.Env(), h.UpOptions("copy")); err != nil || !up.NoChanges {
		t.Errorf("up of the copy: got NoChanges=%v, %v; want converged", up.NoChanges, err)
	}
	// --to an existing tenant is refused.
	if _, err := provision.Restore(ctx, h.Env(), opt); exit.CodeOf(err) != exit.Usage {
		t.Errorf("restore --to an existing tenant: got %v; want a refusal", err)
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// TestScheduledBackup: with backup { schedule } up registers the periodic
// job; a run (forced, as Nomad's dispatcher launches one) takes a backup
// that backups list shows; without a schedule up removes the job, and a
// second up is converged.
func TestScheduledBackup(t *testing.T) {
	const id = "sched"
	h := provisiontest.New(t, provisiontest.WithConfig(func(c *config.Config) { c.Backup.Schedule = "0 3 * * *" }))
	h.AddTenant(id)
	ctx := context.Background()
	n := provisiontest.Names(t, id)
	h.MustUp(id)
	if up, err := h.Up(ctx, id); err != nil || !up.NoChanges {
		t.Fatalf("second up: got NoChanges=%v, %v; want converged", up.NoChanges, err)
	}
	api := h.Nomad().Client()
	job, _, err := api.Jobs().Info(n.JobScheduledBackup, &nomadapi.QueryOptions{Namespace: n.Namespace})
	if err != nil || job.Periodic == nil || !*job.Periodic.ProhibitOverlap {
		t.Fatalf("scheduled job: got %v, %v; want a periodic job without overlap", job, err)
	}
	if _, _, err := api.Jobs().PeriodicForce(n.JobScheduledBackup, &nomadapi.WriteOptions{Namespace: n.Namespace}); err != nil {
		t.Fatalf("force a run: %v", err)
	}
	var list []tenant.Backup
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if list, err = provision.Backups(ctx, h.Env(), provisiontest.ID(t, id)); err == nil && len(list) == 1 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(list) != 1 || list[0].Trigger != tenant.BackupBySchedule || !strings.HasPrefix(list[0].Job, n.JobScheduledBackup+"/periodic-") {
		t.Fatalf("backups after a scheduled run: got %+v, %v; want one by the schedule", list, err)
	}
	// A later backup command records it in the catalogue.
	mustBackup(t, h, id)
	kvs, _, err := h.ConsulAPI().KV().Keys(n.BackupsKVPrefix, "", nil)
	if err != nil || len(kvs) != 2 {
		t.Errorf("catalogue after a backup: got %v, %v; want the scheduled and the new one", kvs, err)
	}

	env := h.Env()
	env.Config.Backup.Schedule = ""
	if _, err := provision.Up(ctx, env, h.UpOptions(id)); err != nil {
		t.Fatalf("up without a schedule: %v", err)
	}
	if st, err := env.Nomad.JobStatus(ctx, n.Namespace, n.JobScheduledBackup); err != nil || st.Found {
		t.Errorf("scheduled job after up without a schedule: found=%v, %v; want it removed", st.Found, err)
	}
	if up, err := provision.Up(ctx, env, h.UpOptions(id)); err != nil || !up.NoChanges {
		t.Errorf("second up without a schedule: got NoChanges=%v, %v; want converged", up.NoChanges, err)
	}
}

// TestPurgeTakesFinalBackup: down --purge-data takes a final backup that
// outlives the tenant (its catalogue entry and files), and a final backup
// that fails stops the purge before anything is deleted.
func TestPurgeTakesFinalBackup(t *testing.T) {
	h := provisiontest.New(t)
	h.AddTenant("fin", "finx")
	ctx := context.Background()
	h.MustUp("fin")
	h.MustUp("finx")
	data := h.WriteData("finx")

	// A final backup that fails: nothing is deleted.
	nx := provisiontest.Names(t, "finx")
	before := h.Snapshot("finx")
	h.Double().Fault("PUT /v1/job/"+nx.JobBackup+"/dispatch", 1, nomadtest.FaultError)
	spec := provisiontest.Spec(t, "finx")
	opt := h.DownOptions("finx", true)
	opt.FinalBackup = &spec
	_, err := provision.Down(ctx, h.Env(), opt)
	var se *provision.StepError
	if !errors.As(err, &se) || se.Step != provision.StepFinalBackup || exit.CauseOf(err) != provision.CauseFinalBackup {
		t.Fatalf("down --purge-data with a failing final backup: got %v; want it to stop at %s", err, provision.StepFinalBackup)
	}
	if !strings.Contains(err.Error(), "nothing was deleted") {
		t.Errorf("error %q: want it to say nothing was deleted", err)
	}
	if got := h.Snapshot("finx"); got != before {
		t.Errorf("after the failed final backup:\n got %s\nwant %s", got, before)
	}
	h.WaitPassing("finx")
	if err := h.CheckData("finx", data); err != nil {
		t.Errorf("after the failed final backup: %v", err)
	}

	spec = provisiontest.Spec(t, "fin")
	opt = h.DownOptions("fin", true)
	opt.FinalBackup = &spec
	rep, err := provision.Down(ctx, h.Env(), opt)
	if err != nil {
		t.Fatalf("down --purge-data: %v", err)
	}
	if rep.Steps[2].Name != provision.StepFinalBackup {
		t.Errorf("down steps: got %v; want the final backup right after the lock", rep.Steps)
	}
	h.AssertPurged("fin")
	list, err := provision.Backups(ctx, h.Env(), provisiontest.ID(t, "fin"))
	if err != nil || len(list) != 1 || list[0].Trigger != tenant.BackupFinal {
		t.Errorf("backups of the purged tenant: got %+v, %v; want its final backup", list, err)
	}
}
