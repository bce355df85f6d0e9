package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/provisiontest"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// TestCLIBackupRestore drives backup, backups list, status, restore and
// down --purge-data's final backup through the CLI against the harness, and
// checks the refusals and confirmations.
func TestCLIBackupRestore(t *testing.T) {
	h := provisiontest.New(t)
	h.AddTenant("clib")
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "tenantctl.hcl")
	if err := os.WriteFile(cfgFile, []byte("profile = \"exec\"\nbackup {\n  dir  = \""+filepath.Join(dir, "backups")+"\"\n  keep = 5\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := h.CLIEnv()
	env["TENANTCTL_CONFIG"] = cfgFile
	run := func(code exit.Code, args ...string) (string, string) {
		t.Helper()
		got, stdout, stderr := runCLI(t, env, args...).parts()
		if got != code {
			t.Fatalf("tenantctl %s: got exit %d; want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, stdout, stderr)
		}
		return stdout, stderr
	}
	run(exit.OK, "up", "clib", "--timeout", "2m")
	h.WaitPassing("clib")
	data := h.WriteData("clib")

	stdout, _ := run(exit.OK, "backup", "clib")
	if !strings.Contains(stdout, "clib: backup ") || !strings.Contains(stdout, "schema version") {
		t.Errorf("backup: got %q; want the backup's id, size and schema version", stdout)
	}
	stdout, _ = run(exit.OK, "backups", "list", "clib", "--json")
	var list []tenant.Backup
	if err := json.Unmarshal([]byte(stdout), &list); err != nil || len(list) != 1 {
		t.Fatalf("backups list --json: got %q, %v; want one backup", stdout, err)
	}
	id := list[0].ID
	if stdout, _ = run(exit.OK, "backups", "list", "clib"); !strings.Contains(stdout, id) || !strings.Contains(stdout, "command") {
		t.Errorf("backups list: got %q; want the backup %s by command", stdout, id)
	}
	if stdout, _ = run(exit.OK, "status", "clib"); !strings.Contains(stdout, "last backup "+id) {
		t.Errorf("status: got %q; want its last backup", stdout)
	}

	// Refusals and confirmations change nothing.
	before := h.Snapshot("clib")
	for _, c := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"restore", "clib"}, "--from"},
		{[]string{"restore", "clib", "--from", "20200101T000000Z-abcdef", "--yes"}, "not one of tenant clib's backups"},
		{[]string{"restore", "clib", "--from", "nonsense", "--yes"}, "backup id"},
		{[]string{"restore", "clib", "--from", id}, "--yes"},
		{[]string{"restore", "clib", "--from", id, "--to", "clib"}, "--to"},
		{[]string{"down", "clib", "--no-final-backup", "--yes"}, "only with --purge-data"},
		{[]string{"down", "clib", "--purge-data", "--no-final-backup"}, "--yes"},
	} {
		_, stderr := run(exit.Usage, c.args...)
		if !strings.Contains(stderr, c.stderr) || !strings.Contains(stderr, "Try:") {
			t.Errorf("tenantctl %s: got stderr %q; want Error/Try naming %q", strings.Join(c.args, " "), stderr, c.stderr)
		}
	}
	if got := h.Snapshot("clib"); got != before {
		t.Errorf("after the refusals:\n got %s\nwant %s", got, before)
	}

	h.DestroyData("clib")
	if stdout, _ = run(exit.OK, "restore", "clib", "--from", id, "--yes", "--timeout", "2m"); !strings.Contains(stdout, "clib: restored from backup "+id) {
		t.Errorf("restore: got %q", stdout)
	}
	h.WaitPassing("clib")
	if err := h.CheckData("clib", data); err != nil {
		t.Errorf("after restore: %v", err)
	}

	// down --purge-data takes a final backup first; the catalogue outlives
	// the tenant.
	_, stderr := run(exit.OK, "down", "clib", "--purge-data", "--yes")
	if !strings.Contains(stderr, "final-backup") {
		t.Errorf("down --purge-data: stderr %q; want the final-backup step", stderr)
	}
	stdout, _ = run(exit.OK, "backups", "list", "clib", "--json")
	if err := json.Unmarshal([]byte(stdout), &list); err != nil || len(list) != 2 || list[1].Trigger != tenant.BackupFinal {
		t.Errorf("backups list after the purge: got %q, %v; want the first and the final backup", stdout, err)
	}
}
