package backup_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantctl/tenantctl/internal/backup"
	"github.com/tenantctl/tenantctl/internal/backup/backuptest"
	"github.com/tenantctl/tenantctl/internal/migrate"
	"github.com/tenantctl/tenantctl/internal/testenv"
	"github.com/tenantctl/tenantctl/migrations"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// knownSchema is the newest embedded migration.
func knownSchema(t testing.TB) int64 {
	t.Helper()
	migs, _, err := migrate.Load(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	return migs[len(migs)-1].Version
}

func mustBackup(t testing.TB, tn *backuptest.Tenant, root string, keep int) *backup.Manifest {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m, err := backup.Backup(ctx, backup.Options{Root: root, Tenant: tn.ID, Keep: keep,
		DatabaseURL: tn.BackupURL, RedisURL: tn.RedisBackupURL})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	return m
}

func restoreOpts(t testing.TB, into *backuptest.Tenant, root, id string) backup.RestoreOptions {
	return backup.RestoreOptions{Root: root, Tenant: into.ID, ID: id, KnownSchemaVersion: knownSchema(t),
		DatabaseURL: into.RestoreURL, RedisURL: into.RedisRestoreURL}
}

func mustRestore(t testing.TB, o backup.RestoreOptions) *backup.RestoreResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := backup.Restore(ctx, o)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	return res
}

func wantSame(t testing.TB, what string, want, got backuptest.Fingerprint) {
	t.Helper()
	if d := backuptest.Diff(want, got); len(d) > 0 {
		if len(d) > 20 {
			d = append(d[:20], "…")
		}
		t.Fatalf("%s differs:\n%s", what, strings.Join(d, "\n"))
	}
}

// TestBackupDestroyRestore backs up a tenant with data in every table and
// Redis keys of every common type, destroys the data (and adds a table and a
// key the backup does not have), restores, and compares row by row and key
// by key. The restored database keeps its roles' privileges and row-level
// security, and the migrations find nothing to apply.
func TestBackupDestroyRestore(t *testing.T) {
	ctx := context.Background()
	tn := backuptest.NewTenant(t, testenv.SharedPostgres(t), backuptest.UniqueID(t, "bk"))
	tn.Fill(t, 3)
	before := tn.Fingerprint(t)
	for name, rows := range before.Tables {
		if len(rows) == 0 {
			t.Fatalf("table %s is empty before the backup; every table must hold data", name)
		}
	}

	root := t.TempDir()
	m := mustBackup(t, tn, root, 0)
	if m.Tenant != string(tn.ID) || m.SchemaVersion != knownSchema(t) || m.Format != backup.FormatVersion {
		t.Errorf("manifest: tenant %q schema %d format %d; want %q, %d, %d", m.Tenant, m.SchemaVersion, m.Format,
			tn.ID, knownSchema(t), backup.FormatVersion)
	}
	if m.Redis.Keys != int64(len(before.Keys)) {
		t.Errorf("manifest: %d redis keys; want %d", m.Redis.Keys, len(before.Keys))
	}
	for name, rows := range before.Tables {
		if got := m.Postgres.Rows["public."+name]; got != int64(len(rows)) {
			t.Errorf("manifest: public.%s has %d rows; want %d", name, got, len(rows))
		}
	}
	if err := backup.ValidateID(m.ID); err != nil {
		t.Errorf("generated id: %v", err)
	}

	// Destroy: every organization (the rest cascades), a new table as a
	// later migration would create, Redis flushed and a stray key.
	super := tn.Super(t)
	for _, q := range []string{
		`DELETE FROM organizations`,
		`DELETE FROM tenantctl_migrations WHERE version_id > 3`,
		`SET ROLE ` + tn.Names.OwnerRole,
		`CREATE TABLE newer_migration (id int PRIMARY KEY)`,
		`RESET ROLE`,
	} {
		if _, err := super.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	admin := tn.Admin(t)
	if err := admin.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Set(ctx, "stray", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}

	res := mustRestore(t, restoreOpts(t, tn, root, m.ID))
	if res.RedisKeys != m.Redis.Keys || res.SchemaVersion != m.SchemaVersion || res.SourceTenant != string(tn.ID) {
		t.Errorf("restore result %+v; want %d keys, schema %d, source %s", res, m.Redis.Keys, m.SchemaVersion, tn.ID)
	}
	wantSame(t, "after restore", before, tn.Fingerprint(t))

	// The roles work as before: the app user reads and writes within its
	// organization only and never the version table; row-level security
	// still holds; the migrations have nothing to do; a backup works.
	app := backuptest.Connect(t, tn.AppURL)
	var visible int
	if err := app.QueryRow(ctx, `SELECT count(*) FROM contacts`).Scan(&visible); err != nil || visible != 0 {
		t.Errorf("app user without an organization sees %d contacts (err %v); want 0", visible, err)
	}
	if _, err := app.Exec(ctx, `SELECT 1 FROM tenantctl_migrations`); err == nil {
		t.Error("app user reads the version table after the restore; want permission denied")
	}
	var org string
	if err := super.QueryRow(ctx, `SELECT id::text FROM organizations ORDER BY id LIMIT 1`).Scan(&org); err != nil {
		t.Fatal(err)
	}
	backuptest.InOrg(t, app, org, func(tx pgxTx) {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM contacts`).Scan(&visible); err != nil || visible != 1 {
			t.Errorf("app user in one organization sees %d contacts (err %v); want 1", visible, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO contacts (org_id, name) VALUES ($1, 'After restore')`, org); err != nil {
			t.Errorf("app user inserts after the restore: %v", err)
		}
	})
	r, err := migrate.Open(ctx, tn.MigrateURL, migrations.FS, migrate.Options{OwnerRole: tn.Names.OwnerRole, AppRole: tn.Names.AppGroupRole})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if mres, err := r.Migrate(ctx, false); err != nil || !mres.UpToDate() {
		t.Errorf("migrate after restore: %+v, %v; want up to date", mres, err)
	}
	var owner string
	if err := super.QueryRow(ctx, `SELECT tableowner FROM pg_tables WHERE tablename = 'contacts'`).Scan(&owner); err != nil || owner != tn.Names.OwnerRole {
		t.Errorf("contacts owned by %q (err %v); want %q", owner, err, tn.Names.OwnerRole)
	}
	mustBackup(t, tn, root, 0)
}

// TestRestoreCopyIsolated restores tenant A's backup into tenant B (a copy)
// and shows the copy is A's data, and that neither tenant's credentials
// reach the other's database or Redis.
func TestRestoreCopyIsolated(t *testing.T) {
	ctx := context.Background()
	p := testenv.SharedPostgres(t)
	a := backuptest.NewTenant(t, p, backuptest.UniqueID(t, "bka"))
	b := backuptest.NewTenant(t, p, backuptest.UniqueID(t, "bkb"))
	a.Fill(t, 2)
	root := t.TempDir()
	m := mustBackup(t, a, root, 0)

	// Without the source tenant, B looks for a backup of its own.
	_, err := backup.Restore(ctx, restoreOpts(t, b, root, m.ID))
	var nf *backup.NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("restore A's backup into B without the source: got %v; want NotFoundError", err)
	}
	o := restoreOpts(t, b, root, m.ID)
	o.SourceTenant = a.ID
	res := mustRestore(t, o)
	if res.Tenant != string(b.ID) || res.SourceTenant != string(a.ID) {
		t.Errorf("result: tenant %s source %s; want %s, %s", res.Tenant, res.SourceTenant, b.ID, a.ID)
	}
	wantSame(t, "the copy", a.Fingerprint(t), b.Fingerprint(t))

	// B's roles own and use the copy.
	var owner string
	if err := b.Super(t).QueryRow(ctx, `SELECT tableowner FROM pg_tables WHERE tablename = 'deals'`).Scan(&owner); err != nil || owner != b.Names.OwnerRole {
		t.Errorf("B's deals owned by %q (err %v); want %q", owner, err, b.Names.OwnerRole)
	}
	mustBackup(t, b, root, 0)

	// Isolation: every login user of one tenant is refused by the other's
	// database and Redis.
	cross := func(from, to *backuptest.Tenant) {
		for role, u := range map[string]string{"app": from.AppURL, "backup": from.BackupURL, "restore": from.RestoreURL, "migrate": from.MigrateURL} {
			other := strings.Replace(u, "/"+from.Names.Database+"?", "/"+to.Names.Database+"?", 1)
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			c, err := pgxConnect(cctx, other)
			cancel()
			if err == nil {
				c.Close(ctx)
				t.Errorf("%s's %s user connects to %s's database; want refused", from.ID, role, to.ID)
			} else if !strings.Contains(err.Error(), "permission denied for database") {
				t.Errorf("%s's %s user on %s's database: %v; want permission denied", from.ID, role, to.ID, err)
			}
		}
		for role, u := range map[string]string{"backup": from.RedisBackupURL, "restore": from.RedisRestoreURL} {
			opts, _ := redis.ParseURL(u)
			opts.Addr = to.Redis.Addr
			c := redis.NewClient(opts)
			if err := c.Ping(ctx).Err(); err == nil {
				t.Errorf("%s's redis %s user reaches %s's Redis; want refused", from.ID, role, to.ID)
			}
			c.Close()
		}
	}
	cross(a, b)
	cross(b, a)
}

// TestRestoreRefusals: a backup of another tenant, a damaged file, a newer
// schema, a bad id, a restore user without BYPASSRLS: each is refused and
// changes nothing.
func TestRestoreRefusals(t *testing.T) {
	ctx := context.Background()
	p := testenv.SharedPostgres(t)
	tn := backuptest.NewTenant(t, p, backuptest.UniqueID(t, "bkr"))
	tn.Fill(t, 1)
	root := t.TempDir()
	m := mustBackup(t, tn, root, 0)
	// Make the live data differ from the backup, so a restore would show.
	backuptest.InOrg(t, backuptest.Connect(t, tn.AppURL), firstOrg(t, tn), func(tx pgxTx) {
		if _, err := tx.Exec(ctx, `INSERT INTO contacts (org_id, name) VALUES (app_current_org(), 'Newer')`); err != nil {
			t.Fatal(err)
		}
	})
	if err := tn.Admin(t).Set(ctx, "newer", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	live := tn.Fingerprint(t)
	other := backuptest.UniqueID(t, "bko")

	copyBackup := func(t *testing.T, tenantDir string) string {
		t.Helper()
		dst := filepath.Join(t.TempDir(), tenantDir, m.ID)
		if err := os.MkdirAll(dst, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{backup.ManifestFile, backup.PostgresFile, backup.RedisFile} {
			data, err := os.ReadFile(filepath.Join(root, string(tn.ID), m.ID, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, f), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return filepath.Dir(filepath.Dir(dst))
	}
	corrupt := func(file string) func(t *testing.T) backup.RestoreOptions {
		return func(t *testing.T) backup.RestoreOptions {
			r := copyBackup(t, string(tn.ID))
			path := filepath.Join(r, string(tn.ID), m.ID, file)
			data, _ := os.ReadFile(path)
			data[len(data)/2] ^= 0x55
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			return restoreOpts(t, tn, r, m.ID)
		}
	}
	cases := []struct {
		name  string
		opts  func(t *testing.T) backup.RestoreOptions
		check func(error) bool
	}{
		{"another tenant's backup", func(t *testing.T) backup.RestoreOptions {
			// Tenant other's directory holds a backup whose manifest names tn.
			o := restoreOpts(t, tn, copyBackup(t, string(other)), m.ID)
			o.SourceTenant = other
			return o
		}, func(err error) bool { var e *backup.TenantError; return errors.As(err, &e) }},
		{"damaged dump", corrupt(backup.PostgresFile), func(err error) bool { var e *backup.ChecksumError; return errors.As(err, &e) }},
		{"damaged snapshot", corrupt(backup.RedisFile), func(err error) bool { var e *backup.ChecksumError; return errors.As(err, &e) }},
		{"newer schema", func(t *testing.T) backup.RestoreOptions {
			o := restoreOpts(t, tn, root, m.ID)
			o.KnownSchemaVersion = m.SchemaVersion - 1
			return o
		}, func(err error) bool { var e *backup.SchemaError; return errors.As(err, &e) }},
		{"path traversal", func(t *testing.T) backup.RestoreOptions {
			return restoreOpts(t, tn, root, "../"+string(tn.ID)+"/"+m.ID)
		}, func(err error) bool { var e *backup.InvalidIDError; return errors.As(err, &e) }},
		{"unknown id", func(t *testing.T) backup.RestoreOptions {
			return restoreOpts(t, tn, root, "20200101T000000Z-000000")
		}, func(err error) bool { var e *backup.NotFoundError; return errors.As(err, &e) }},
		{"dump truncated, manifest forged to match", func(t *testing.T) backup.RestoreOptions {
			// pg_restore fails part way through its output: psql must
			// not commit what it has read so far.
			r := copyBackup(t, string(tn.ID))
			dir := filepath.Join(r, string(tn.ID), m.ID)
			data, _ := os.ReadFile(filepath.Join(dir, backup.PostgresFile))
			data = data[:len(data)*3/4]
			if err := os.WriteFile(filepath.Join(dir, backup.PostgresFile), data, 0o600); err != nil {
				t.Fatal(err)
			}
			forgeChecksum(t, dir, backup.PostgresFile)
			return restoreOpts(t, tn, r, m.ID)
		}, func(err error) bool { return strings.Contains(err.Error(), "pg_restore") }},
		{"restore user without BYPASSRLS", func(t *testing.T) backup.RestoreOptions {
			o := restoreOpts(t, tn, root, m.ID)
			o.DatabaseURL = noBypassRestoreUser(t, tn)
			return o
		}, func(err error) bool { var e *backup.PrivilegeError; return errors.As(err, &e) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			_, err := backup.Restore(cctx, c.opts(t))
			if err == nil || !c.check(err) {
				t.Fatalf("got %v; want a refusal of the right type", err)
			}
			t.Logf("refused: %v", err)
			wantSame(t, "after the refusal", live, tn.Fingerprint(t))
		})
	}
}

// TestBackupPrivileges: the backup user dumps but changes nothing; the app
// user still cannot bypass row-level security; a backup user without
// BYPASSRLS is refused with a remedy instead of dumping nothing.
func TestBackupPrivileges(t *testing.T) {
	ctx := context.Background()
	tn := backuptest.NewTenant(t, testenv.SharedPostgres(t), backuptest.UniqueID(t, "bkp"))
	tn.Fill(t, 1)
	bk := backuptest.Connect(t, tn.BackupURL)
	var n int
	if err := bk.QueryRow(ctx, `SELECT count(*) FROM contacts`).Scan(&n); err != nil || n != 1 {
		t.Errorf("backup user reads %d contacts (err %v); want 1 (all of them)", n, err)
	}
	for _, q := range []string{
		`INSERT INTO organizations (name) VALUES ('x')`,
		`UPDATE contacts SET name = 'x'`,
		`DELETE FROM contacts`,
		`TRUNCATE processed_jobs`,
		`CREATE TABLE public.evil (id int)`,
		`CREATE TEMP TABLE evil (id int)`,
		`UPDATE tenantctl_migrations SET checksum = 'x'`,
		`SELECT nextval('tenantctl_migrations_id_seq')`,
	} {
		if _, err := bk.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("backup user: %s: got %v; want permission denied", q, err)
		}
	}
	app := backuptest.Connect(t, tn.AppURL)
	if _, err := app.Exec(ctx, `SET row_security = off`); err != nil {
		t.Fatal(err)
	}
	if err := app.QueryRow(ctx, `SELECT count(*) FROM contacts`).Scan(&n); err == nil {
		t.Errorf("app user with row_security off counts %d contacts; want an error (no BYPASSRLS)", n)
	}

	noBypass := noBypassBackupUser(t, tn)
	_, err := backup.Backup(ctx, backup.Options{Root: t.TempDir(), Tenant: tn.ID, DatabaseURL: noBypass, RedisURL: tn.RedisBackupURL})
	var pe *backup.PrivilegeError
	if !errors.As(err, &pe) || !strings.Contains(pe.Hint(), "BYPASSRLS") {
		t.Errorf("backup without BYPASSRLS: got %v; want a PrivilegeError naming BYPASSRLS", err)
	}
}

// TestRedisACLRefusesOtherCommands shows the restricted users really are
// restricted: the backup user cannot write, the restore user cannot read.
func TestRedisACLRefusesOtherCommands(t *testing.T) {
	ctx := context.Background()
	tn := backuptest.NewTenant(t, testenv.SharedPostgres(t), backuptest.UniqueID(t, "bkacl"))
	for name, c := range map[string]struct {
		url  string
		deny []any
	}{
		"backup":  {tn.RedisBackupURL, []any{"SET", "k", "v"}},
		"restore": {tn.RedisRestoreURL, []any{"GET", "k"}},
	} {
		opts, _ := redis.ParseURL(c.url)
		rc := redis.NewClient(opts)
		if err := rc.Do(ctx, c.deny...).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("%s user: %v: got %v; want NOPERM", name, c.deny, err)
		}
		rc.Close()
	}
}

// TestRestoreWithoutBackupRole restores into a tenant database prepared
// before the backup group role existed: the restore works and grants what
// exists.
func TestRestoreWithoutBackupRole(t *testing.T) {
	ctx := context.Background()
	tn := backuptest.NewTenant(t, testenv.SharedPostgres(t), backuptest.UniqueID(t, "bkold"))
	tn.Fill(t, 1)
	root := t.TempDir()
	m := mustBackup(t, tn, root, 0)
	before := tn.Fingerprint(t)
	super := tn.Super(t)
	for _, q := range []string{"DROP OWNED BY " + tn.Names.DBBackupRole, "DROP ROLE " + tn.Names.DBBackupRole} {
		if _, err := super.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	mustRestore(t, restoreOpts(t, tn, root, m.ID))
	wantSame(t, "after restore", before, tn.Fingerprint(t))
}

// TestFailedBackupLeavesNothing: a pg_dump that fails part way (a stand-in
// that writes half a file, prints its password and connection string, and
// exits 1) leaves no backup directory, not even a partial one, and its
// message is shown without the password.
func TestFailedBackupLeavesNothing(t *testing.T) {
	tn := backuptest.NewTenant(t, testenv.SharedPostgres(t), backuptest.UniqueID(t, "bkfail"))
	bin := t.TempDir()
	script := "#!/bin/sh\nfor a; do case $a in --file=*) echo half > \"${a#--file=}\";; esac; done\n" +
		"echo \"pg_dump: error: connection failed: password $PGPASSWORD rejected for $*\" >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "pg_dump"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	_, err := backup.Backup(context.Background(), backup.Options{Root: root, Tenant: tn.ID, ID: "20261202T031500Z-4f9a0c",
		DatabaseURL: tn.BackupURL, RedisURL: tn.RedisBackupURL, PGBinDir: bin})
	if err == nil || !strings.Contains(err.Error(), "pg_dump: error: connection failed") {
		t.Fatalf("got %v; want pg_dump's error", err)
	}
	t.Logf("failed backup: %v", err)
	for _, pw := range tn.Passwords {
		if strings.Contains(err.Error(), pw) {
			t.Errorf("the error shows a password: %v", err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(root, string(tn.ID)))
	if len(entries) != 0 {
		t.Errorf("after a failed backup the tenant's directory holds %d entries (%s…); want none", len(entries), entries[0].Name())
	}
	if l, _ := backup.List(root, tn.ID); len(l.Backups) != 0 {
		t.Errorf("List after a failed backup: %d backups; want none", len(l.Backups))
	}
}
