package migrate_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantctl/tenantctl/internal/migrate"
	"github.com/tenantctl/tenantctl/internal/testenv"
	"github.com/tenantctl/tenantctl/migrations"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// withFiles returns the embedded migrations plus extra files (a nil value
// removes a file).
func withFiles(t testing.TB, extra map[string]string) fs.FS {
	t.Helper()
	out := fstest.MapFS{}
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		data, err := fs.ReadFile(migrations.FS, n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = &fstest.MapFile{Data: data}
	}
	for n, body := range extra {
		out[n] = &fstest.MapFile{Data: []byte(body)}
	}
	return out
}

// createDB creates a database named prefix plus a random suffix (so -count
// reruns on the shared cluster do not collide) and returns its URL and name.
func createDB(t testing.TB, p *testenv.Postgres, prefix string) (url, name string) {
	t.Helper()
	name = uniqueName(t, prefix)
	return p.CreateDatabase(t, name), name
}

// uniqueName is prefix and 8 random hex digits.
func uniqueName(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + "_" + hex.EncodeToString(b)
}

func mustOpen(t testing.TB, url string, fsys fs.FS, opts migrate.Options) *migrate.Runner {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := migrate.Open(ctx, url, fsys, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func mustMigrate(t testing.TB, r *migrate.Runner) *migrate.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := r.Migrate(ctx, false)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return res
}

func embeddedCount(t testing.TB) int {
	t.Helper()
	migs, _, err := migrate.Load(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	return len(migs)
}

func versionRows(t testing.TB, conn *pgx.Conn) map[int64]int {
	t.Helper()
	rows, err := conn.Query(context.Background(),
		`SELECT version_id, count(*) FROM `+migrate.VersionTable+` WHERE version_id > 0 GROUP BY version_id`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]int{}
	for rows.Next() {
		var v int64
		var n int
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		out[v] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFreshApplyThenNoop(t *testing.T) {
	p := testenv.SharedPostgres(t)
	url, dbName := createDB(t, p, "mig_fresh")
	n := embeddedCount(t)

	r := mustOpen(t, url, migrations.FS, migrate.Options{})
	dry, err := r.Migrate(context.Background(), true)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if len(dry.Applied) != n || !dry.DryRun {
		t.Fatalf("dry run would apply %d; want %d", len(dry.Applied), n)
	}
	conn := p.Conn(t, dbName)
	var exists bool
	if err := conn.QueryRow(context.Background(), `SELECT to_regclass($1) IS NOT NULL`, migrate.VersionTable).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("dry run created %s; want nothing created", migrate.VersionTable)
	}

	res := mustMigrate(t, r)
	if len(res.Applied) != n || res.FromVersion != 0 || res.UpToDate() {
		t.Fatalf("first run applied %d from version %d; want %d from 0", len(res.Applied), res.FromVersion, n)
	}
	for table, want := range map[string]bool{"organizations": true, "contacts": true, "deals": true, "processed_jobs": true} {
		var ok bool
		if err := conn.QueryRow(context.Background(), `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		if ok != want {
			t.Errorf("table %s exists = %v; want %v", table, ok, want)
		}
	}

	// As a superuser the fuzzy-search migration could create pg_trgm.
	var trgm int
	if err := conn.QueryRow(context.Background(),
		`SELECT count(*) FROM pg_indexes WHERE indexname IN ('contacts_name_trgm', 'deals_name_trgm')`).Scan(&trgm); err != nil {
		t.Fatal(err)
	}
	if trgm != 2 {
		t.Errorf("%d trigram indexes; want 2", trgm)
	}

	again := mustMigrate(t, mustOpen(t, url, migrations.FS, migrate.Options{}))
	if !again.UpToDate() || again.Version != res.Version {
		t.Fatalf("second run applied %d, version %d; want 0 applied at version %d", len(again.Applied), again.Version, res.Version)
	}
	st, err := r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Applied != n || st.Pending != 0 || st.Drift != 0 {
		t.Fatalf("status = %d applied, %d pending, %d drift; want %d, 0, 0", st.Applied, st.Pending, st.Drift, n)
	}
	for v, count := range versionRows(t, conn) {
		if count != 1 {
			t.Errorf("version %d recorded %d times; want once", v, count)
		}
	}
}

func TestConcurrentRunnersApplyOnce(t *testing.T) {
	p := testenv.SharedPostgres(t)
	url, dbName := createDB(t, p, "mig_race")
	ctx := context.Background()
	fsys := withFiles(t, map[string]string{"00900_slow.sql": "-- +goose Up\nSELECT pg_sleep(0.2);\n"})
	const runners = 4
	rs := make([]*migrate.Runner, runners)
	for i := range rs {
		rs[i] = mustOpen(t, url, fsys, migrate.Options{})
	}
	// Hold the runners' lock until all of them are waiting for it, so they
	// really start together.
	gate := p.Conn(t, dbName)
	if _, err := gate.Exec(ctx, `SELECT pg_advisory_lock(x'74656e616e74636c'::bigint)`); err != nil {
		t.Fatal(err)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied = map[string]int{}
		errs    []error
	)
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.Migrate(ctx, false)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			for _, a := range res.Applied {
				applied[a.File]++
			}
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for waiting := 0; waiting < runners; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d runners waiting for the lock; want all", waiting, runners)
		}
		if err := gate.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := gate.Exec(ctx, `SELECT pg_advisory_unlock_all()`); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("runners failed: %v", errs)
	}
	want := embeddedCount(t) + 1
	if len(applied) != want {
		t.Errorf("applied %d distinct migrations; want %d", len(applied), want)
	}
	for f, n := range applied {
		if n != 1 {
			t.Errorf("%s applied %d times; want once", f, n)
		}
	}
	for v, n := range versionRows(t, gate) {
		if n != 1 {
			t.Errorf("version %d recorded %d times; want once", v, n)
		}
	}
}

func TestFailingMigrationRollsBack(t *testing.T) {
	p := testenv.SharedPostgres(t)
	url, dbName := createDB(t, p, "mig_fail")
	fsys := withFiles(t, map[string]string{
		"00901_broken.sql": "-- +goose Up\nCREATE TABLE half_done (id int);\nINSERT INTO half_done VALUES (1);\nSELECT * FROM no_such_table;\n",
	})
	r := mustOpen(t, url, fsys, migrate.Options{})
	res, err := r.Migrate(context.Background(), false)
	var me *migrate.MigrationError
	if !errors.As(err, &me) {
		t.Fatalf("err = %v; want *MigrationError", err)
	}
	if me.File != "00901_broken.sql" || !me.RolledBack {
		t.Errorf("failed file %q rolled back %v; want 00901_broken.sql, true", me.File, me.RolledBack)
	}
	for _, want := range []string{"00901_broken.sql", `relation "no_such_table" does not exist`, "42P01"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if n := embeddedCount(t); res == nil || len(res.Applied) != n {
		t.Errorf("result = %+v; want the %d good migrations applied", res, n)
	}
	conn := p.Conn(t, dbName)
	var exists bool
	if err := conn.QueryRow(context.Background(), `SELECT to_regclass('half_done') IS NOT NULL`).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Error("table half_done exists; want the failed migration rolled back")
	}
	if _, ok := versionRows(t, conn)[901]; ok {
		t.Error("version 901 recorded; want it absent")
	}
	st, err := r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != 1 || st.Drift != 0 {
		t.Errorf("status: %d pending, %d drift; want 1, 0", st.Pending, st.Drift)
	}
}

func TestEditedMigrationRefused(t *testing.T) {
	p := testenv.SharedPostgres(t)
	url, dbName := createDB(t, p, "mig_edit")
	mustMigrate(t, mustOpen(t, url, migrations.FS, migrate.Options{}))

	orig, err := fs.ReadFile(migrations.FS, "00002_crm.sql")
	if err != nil {
		t.Fatal(err)
	}
	edited := withFiles(t, map[string]string{
		"00002_crm.sql":  string(orig) + "\nALTER TABLE contacts ADD COLUMN nickname text;\n",
		"00902_next.sql": "-- +goose Up\nCREATE TABLE should_not_exist (id int);\n",
	})
	r := mustOpen(t, url, edited, migrate.Options{})
	for _, dry := range []bool{true, false} {
		_, err = r.Migrate(context.Background(), dry)
		var de *migrate.DriftError
		if !errors.As(err, &de) {
			t.Fatalf("dry run %v: err = %v; want *DriftError", dry, err)
		}
		if !strings.Contains(err.Error(), "00002_crm.sql was changed after it was applied") {
			t.Errorf("error %q does not name the edited file", err)
		}
		if !strings.Contains(de.Hint(), "new migration file") {
			t.Errorf("hint %q does not say what to do", de.Hint())
		}
	}
	var exists bool
	if err := p.Conn(t, dbName).QueryRow(context.Background(),
		`SELECT to_regclass('should_not_exist') IS NOT NULL`).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Error("a later migration ran despite the edited one; want nothing applied")
	}
	st, err := r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Drift != 1 || st.Migrations[1].State != migrate.StateModified {
		t.Errorf("status drift %d, 00002 state %q; want 1, modified", st.Drift, st.Migrations[1].State)
	}
}

func TestStatusDrift(t *testing.T) {
	p := testenv.SharedPostgres(t)
	url, _ := createDB(t, p, "mig_drift")
	mustMigrate(t, mustOpen(t, url, withFiles(t, map[string]string{
		"00910_later.sql": "-- +goose Up\nSELECT 1;\n",
	}), migrate.Options{}))

	// An older binary: the embedded files only, and one numbered below 910.
	r := mustOpen(t, url, withFiles(t, map[string]string{
		"00905_late_arrival.sql": "-- +goose Up\nSELECT 1;\n",
	}), migrate.Options{})
	st, err := r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]migrate.State{}
	for _, m := range st.Migrations {
		got[m.File] = m.State
	}
	if got["00910_later.sql"] != migrate.StateMissing || got["00905_late_arrival.sql"] != migrate.StateOutOfOrder {
		t.Errorf("states = %v; want 00910 missing, 00905 out-of-order", got)
	}
	if st.Drift != 2 || st.CurrentVersion != 910 {
		t.Errorf("drift %d, current %d; want 2, 910", st.Drift, st.CurrentVersion)
	}
	_, err = r.Migrate(context.Background(), false)
	var de *migrate.DriftError
	if !errors.As(err, &de) || len(de.Migrations) != 2 {
		t.Fatalf("err = %v; want a *DriftError naming two migrations", err)
	}
}

func TestBadInputs(t *testing.T) {
	p := testenv.SharedPostgres(t)
	ctx := context.Background()
	_, err := migrate.Open(ctx, "postgres://u:sekrit@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", migrations.FS, migrate.Options{})
	var ce *migrate.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v; want *ConnectError", err)
	}
	if strings.Contains(err.Error(), "sekrit") {
		t.Errorf("error %q shows the password", err)
	}
	bad := fmt.Sprintf("postgres://%s:wrong-sekrit@%s:%d/postgres?sslmode=disable", p.User, p.Host, p.Port)
	_, err = migrate.Open(ctx, bad, migrations.FS, migrate.Options{})
	if !errors.As(err, &ce) || strings.Contains(err.Error(), "wrong-sekrit") {
		t.Fatalf("err = %v; want *ConnectError without the password", err)
	}
	_, err = migrate.Open(ctx, p.URL("postgres"), migrations.FS, migrate.Options{OwnerRole: "Robert'); DROP"})
	if err == nil || !strings.Contains(err.Error(), "invalid role name") {
		t.Fatalf("err = %v; want an invalid role name", err)
	}
	_, err = migrate.Open(ctx, p.URL("postgres"), migrations.FS, migrate.Options{OwnerRole: "no_such_role"})
	if !errors.As(err, &ce) || ce.Role != "no_such_role" {
		t.Fatalf("err = %v; want a *ConnectError about the role", err)
	}
}

// pgCode returns err's SQLSTATE, "" when it is not a PostgreSQL error.
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func TestLockTimeout(t *testing.T) {
	p := testenv.SharedPostgres(t)
	url, dbName := createDB(t, p, "mig_lock")
	holder := p.Conn(t, dbName)
	ctx := context.Background()
	// The same key the runner uses: a runner that died mid-way would leave it
	// held only as long as its connection lives.
	r := mustOpen(t, url, migrations.FS, migrate.Options{LockTimeout: 300 * time.Millisecond})
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_lock(x'74656e616e74636c'::bigint)`); err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := holder.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	_, err := r.Migrate(ctx, false)
	var le *migrate.LockError
	if !errors.As(err, &le) || le.HolderPID != pid {
		t.Fatalf("err = %v; want a *LockError naming holder pid %d", err, pid)
	}
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_unlock_all()`); err != nil {
		t.Fatal(err)
	}
	if res := mustMigrate(t, r); len(res.Applied) != embeddedCount(t) {
		t.Errorf("after the lock was released: applied %d; want all", len(res.Applied))
	}
}

func TestNoTransactionMigration(t *testing.T) {
	p := testenv.SharedPostgres(t)
	url, dbName := createDB(t, p, "mig_notx")
	r := mustOpen(t, url, withFiles(t, map[string]string{
		"00920_concurrently.sql": "-- +goose Up\n-- +goose NO TRANSACTION\n" +
			"CREATE INDEX CONCURRENTLY contacts_phone ON contacts (phone);\n" +
			"SELECT * FROM no_such_table;\n",
	}), migrate.Options{})
	_, err := r.Migrate(context.Background(), false)
	var me *migrate.MigrationError
	if !errors.As(err, &me) || me.RolledBack || !strings.Contains(err.Error(), "NOT rolled back") {
		t.Fatalf("err = %v; want a *MigrationError saying it was not rolled back", err)
	}
	var exists bool
	if err := p.Conn(t, dbName).QueryRow(context.Background(),
		`SELECT to_regclass('contacts_phone') IS NOT NULL`).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if !exists {
		t.Error("the statement before the failure was undone; want it kept (no transaction)")
	}
}
