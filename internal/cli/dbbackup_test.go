package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/backup"
	"github.com/tenantctl/tenantctl/internal/backup/backuptest"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/testenv"
)

func TestDBBackupUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		env   map[string]string
		args  []string
		wants []string
	}{
		{nil, []string{"db", "backup"}, []string{"Error: no tenant id", "Try: pass --tenant <id> or set TENANT_ID"}},
		{map[string]string{"TENANT_ID": "acme"}, []string{"db", "backup"}, []string{"Error: no backup directory", "TENANTCTL_BACKUP_DIR"}},
		{map[string]string{"TENANT_ID": "Acme", "TENANTCTL_BACKUP_DIR": dir}, []string{"db", "backups"}, []string{"invalid tenant id", "Try:"}},
		{map[string]string{"TENANT_ID": "acme", "TENANTCTL_BACKUP_DIR": dir}, []string{"db", "backup"},
			[]string{"Error: backup: no database URL", "Try: pass --database-url or set DATABASE_URL"}},
		{map[string]string{"TENANT_ID": "acme", "TENANTCTL_BACKUP_DIR": dir, "TENANTCTL_BACKUP_KEEP": "-1"}, []string{"db", "backup"},
			[]string{"invalid number of backups to keep", "Try: pass --keep N"}},
		{map[string]string{"TENANT_ID": "acme", "TENANTCTL_BACKUP_DIR": dir, "TENANTCTL_BACKUP_ID": "../../etc"}, []string{"db", "backup"},
			[]string{"invalid backup id", "Try: pass a backup id"}},
		{map[string]string{"TENANT_ID": "acme", "TENANTCTL_BACKUP_DIR": dir}, []string{"db", "restore"},
			[]string{"Error: no backup to restore", "Try: pass --from"}},
		{map[string]string{"TENANT_ID": "acme", "TENANTCTL_BACKUP_DIR": dir, "TENANTCTL_PG_BIN_DIR": "/nonexistent",
			"DATABASE_URL": "postgres://u:pw-1234@127.0.0.1:1/db", "REDIS_URL": "redis://u:pw-1234@127.0.0.1:1/0"}, []string{"db", "backup"},
			[]string{"Error: backup: no pg_dump in /nonexistent", "Try: pass --pg-bin-dir or set TENANTCTL_PG_BIN_DIR"}},
		{map[string]string{"TENANT_ID": "acme", "TENANTCTL_BACKUP_DIR": dir,
			"DATABASE_URL": "postgres://u:pw-1234@127.0.0.1:1/db", "REDIS_URL": "redis://u:pw-1234@127.0.0.1:1/3"}, []string{"db", "backup"},
			[]string{"Error: backup: Redis database 3", "Try: pass --redis-url or set REDIS_URL"}},
		{map[string]string{"TENANT_ID": "acme", "TENANTCTL_BACKUP_DIR": dir, "TENANTCTL_RESTORE_FROM": "20261202T031500Z-4f9a0c/../x"}, []string{"db", "restore"},
			[]string{"invalid backup id", "Try:"}},
		{map[string]string{"TENANT_ID": "acme", "TENANTCTL_BACKUP_DIR": dir, "TENANTCTL_RESTORE_FROM": "20261202T031500Z-4f9a0c"}, []string{"db", "restore"},
			[]string{"no complete backup 20261202T031500Z-4f9a0c of tenant acme", "Try: list the backups with `tenantctl db backups --tenant acme`"}},
	} {
		code, stdout, stderr := runCLI(t, c.env, c.args...).hiding(t, "pw-1234")
		if code != exit.Usage || stdout != "" {
			t.Errorf("%v %v: exit %d, stdout %q; want %d and nothing", c.env, c.args, code, stdout, exit.Usage)
		}
		wantOutput(t, "stderr", stderr, c.wants...)
	}
}

// TestDBBackupRestoreCLI runs the job's commands as the jobs run them,
// configured by the environment, and checks the result lines, the listing,
// the remedies of failures, and that no password is printed or written.
func TestDBBackupRestoreCLI(t *testing.T) {
	tn := backuptest.NewTenant(t, testenv.SharedPostgres(t), backuptest.UniqueID(t, "cli"))
	tn.Fill(t, 1)
	root := t.TempDir()
	env := map[string]string{
		"TENANT_ID": string(tn.ID), "TENANTCTL_BACKUP_DIR": root, "TENANTCTL_BACKUP_KEEP": "2",
		"DATABASE_URL": tn.BackupURL, "REDIS_URL": tn.RedisBackupURL,
	}
	if dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin"); len(dirs) > 0 {
		env["TENANTCTL_PG_BIN_DIR"] = dirs[0]
	}
	noSecret := func(what, s string) {
		t.Helper()
		for _, pw := range tn.Passwords {
			if strings.Contains(s, pw) {
				t.Errorf("%s shows a password:\n%s", what, s)
			}
		}
		for _, u := range []string{tn.BackupURL, tn.RestoreURL, tn.RedisBackupURL, tn.RedisRestoreURL} {
			if strings.Contains(s, u) {
				t.Errorf("%s shows a connection URL:\n%s", what, s)
			}
		}
	}
	run := func(env map[string]string, args ...string) (exit.Code, string, string) {
		t.Helper()
		code, stdout, stderr := runCLI(t, env, args...).parts()
		noSecret("stdout", stdout)
		noSecret("stderr", stderr)
		return code, stdout, stderr
	}
	lastLine := func(stdout, prefix string, v any) {
		t.Helper()
		lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
		last := lines[len(lines)-1]
		if !strings.HasPrefix(last, prefix) {
			t.Fatalf("last stdout line %q; want it to start with %q", last, prefix)
		}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(last, prefix)), v); err != nil {
			t.Fatalf("result line: %v", err)
		}
	}

	var ids []string
	for range 3 {
		code, stdout, stderr := run(env, "db", "backup")
		if code != exit.OK {
			t.Fatalf("db backup: exit %d\n%s", code, stderr)
		}
		var m backup.Manifest
		lastLine(stdout, backup.BackupLinePrefix, &m)
		if m.Tenant != string(tn.ID) || len(m.Files) != 2 || m.Postgres.Rows["public.contacts"] != 1 {
			t.Errorf("manifest %+v; want tenant %s, two files, one contact", m, tn.ID)
		}
		ids = append(ids, m.ID)
		for _, f := range []string{backup.ManifestFile, backup.PostgresFile, backup.RedisFile} {
			data, err := os.ReadFile(filepath.Join(root, string(tn.ID), m.ID, f))
			if err != nil {
				t.Fatal(err)
			}
			noSecret(f, string(data))
		}
	}
	code, stdout, _ := run(env, "db", "backups", "--json")
	var l backup.Listing
	if code != exit.OK || json.Unmarshal([]byte(stdout), &l) != nil {
		t.Fatalf("db backups --json: exit %d, %q", code, stdout)
	}
	if len(l.Backups) != 2 || l.Backups[0].ID != ids[2] || l.Backups[1].ID != ids[1] {
		t.Errorf("after three backups with keep 2: %d listed; want the last two, newest first", len(l.Backups))
	}
	code, stdout, _ = run(env, "db", "backups")
	if code != exit.OK {
		t.Errorf("db backups: exit %d", code)
	}
	wantOutput(t, "db backups", stdout, "ID", "SCHEMA", ids[2], ids[1])

	restoreEnv := map[string]string{
		"TENANT_ID": string(tn.ID), "TENANTCTL_BACKUP_DIR": root, "TENANTCTL_RESTORE_FROM": ids[2],
		"DATABASE_URL": tn.RestoreURL, "REDIS_URL": tn.RedisRestoreURL,
	}
	code, stdout, stderr := run(restoreEnv, "db", "restore")
	if code != exit.OK {
		t.Fatalf("db restore: exit %d\n%s", code, stderr)
	}
	var res backup.RestoreResult
	lastLine(stdout, backup.RestoreLinePrefix, &res)
	if res.ID != ids[2] || res.Tenant != string(tn.ID) || res.RedisKeys == 0 {
		t.Errorf("restore result %+v", res)
	}

	// Failures: wrong passwords, a user without the privileges.
	wrongPG := map[string]string{}
	for k, v := range restoreEnv {
		wrongPG[k] = v
	}
	wrongPG["DATABASE_URL"] = strings.Replace(tn.RestoreURL, ":pw-", ":wrong-pw-", 1)
	code, _, stderr = run(wrongPG, "db", "restore")
	if code != exit.Unreachable {
		t.Errorf("restore with a wrong password: exit %d; want %d\n%s", code, exit.Unreachable, stderr)
	}
	wantOutput(t, "stderr", stderr, "Error: backup: postgres: connect to", "Try: check that Postgres and Redis are running")
	t.Logf("wrong postgres password:\n%s", stderr)
	if strings.Contains(stderr, "wrong-pw-") {
		t.Errorf("stderr shows the wrong password:\n%s", stderr)
	}
	wrongRedis := map[string]string{}
	for k, v := range env {
		wrongRedis[k] = v
	}
	wrongRedis["REDIS_URL"] = strings.Replace(tn.RedisBackupURL, ":pw-", ":wrong-pw-", 1)
	code, _, stderr = run(wrongRedis, "db", "backup")
	if code != exit.Unreachable || strings.Contains(stderr, "wrong-pw-") {
		t.Errorf("backup with a wrong Redis password: exit %d; want %d without the password\n%s", code, exit.Unreachable, stderr)
	}
	t.Logf("wrong redis password:\n%s", stderr)
	appAsBackup := map[string]string{}
	for k, v := range env {
		appAsBackup[k] = v
	}
	appAsBackup["DATABASE_URL"] = tn.AppURL
	code, _, stderr = run(appAsBackup, "db", "backup")
	if code != exit.Failure {
		t.Errorf("backup as the app user: exit %d; want %d\n%s", code, exit.Failure, stderr)
	}
	wantOutput(t, "stderr", stderr, "Try: the backup user needs BYPASSRLS")
	t.Logf("app user as backup user:\n%s", stderr)
}
