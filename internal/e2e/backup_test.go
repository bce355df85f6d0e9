package e2e

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// TestRealNomadBackupRestore is backup → destroy → restore on a real agent
// (exec profile), through the CLI: the backup job dumps the tenant with its
// own read-only credentials, the rows and keys are deleted, restore stops
// the app and worker, runs the restore job, migrates, brings them back, and
// every table and key is as it was. Then the backup goes into a new tenant
// (restore --to) whose credentials and the original's do not reach each
// other's data; down --purge-data of the copy takes a final backup.
func TestRealNomadBackupRestore(t *testing.T) {
	w := newWorldWith(t, worldOptions{NoRouter: true})
	h := w.h
	h.AddTenant("bk", "bk-copy")

	r := w.must("up", "bk", "--json", "--timeout", "5m")
	reportSteps("backup/up", r)
	h.WaitPassing("bk")
	data := h.WriteData("bk")
	h.WriteData("bk")
	before := h.DataFingerprint("bk")

	r = w.must("backup", "bk", "--json", "--timeout", "5m")
	reportSteps("backup/backup", r)
	var res struct {
		Result struct {
			Backup tenant.Backup `json:"backup"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(lastLine(r.stdout)), &res); err != nil || res.Result.Backup.ID == "" {
		t.Fatalf("backup --json: got %.300q, %v; want the backup", lastLine(r.stdout), err)
	}
	b := res.Result.Backup
	id := b.ID
	t.Logf("backup %s: %d bytes, schema %d, %d redis keys", id, b.Size(), b.SchemaVersion, b.Redis.Keys)

	h.DestroyData("bk")
	if err := h.CheckData("bk", data); err == nil {
		t.Fatal("after destroying the data: CheckData passed; want it gone")
	}
	r = w.must("restore", "bk", "--from", id, "--yes", "--json", "--timeout", "5m")
	reportSteps("backup/restore", r)
	h.WaitPassing("bk")
	if err := h.CheckData("bk", data); err != nil {
		t.Errorf("after restore: %v", err)
	}
	after := h.DataFingerprint("bk")
	if !reflect.DeepEqual(before.Tables, after.Tables) || !reflect.DeepEqual(before.Keys, after.Keys) {
		t.Errorf("after restore:\n got %+v\nwant %+v", after, before)
	}
	if r := w.must("up", "bk"); !strings.Contains(r.stdout, "no changes") {
		t.Errorf("up after restore: got %q; want no changes", r.stdout)
	}

	r = w.must("restore", "bk", "--from", id, "--to", "bk-copy", "--json", "--timeout", "5m")
	reportSteps("backup/restore-to", r)
	h.WaitPassing("bk-copy")
	if err := h.CheckData("bk-copy", data); err != nil {
		t.Errorf("the copy: %v", err)
	}
	if err := h.AssertIsolated("bk", "bk-copy"); err != nil {
		t.Error(err)
	}

	r = w.must("down", "bk-copy", "--yes", "--purge-data", "--json")
	reportSteps("backup/down-purge", r)
	h.AssertPurged("bk-copy")
	r = w.must("backups", "list", "bk-copy", "--json")
	var list []tenant.Backup
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 || list[0].Trigger != tenant.BackupFinal {
		t.Errorf("backups of the purged copy: got %q, %v; want its final backup", r.stdout, err)
	}
}
