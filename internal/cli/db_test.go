package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/migrate"
	"github.com/tenantctl/tenantctl/internal/testenv"
	"github.com/tenantctl/tenantctl/migrations"
)

// migrationsDir copies the embedded migrations and extra files into a
// temporary directory for --dir.
func migrationsDir(t *testing.T, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(migrations.FS, path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, path), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range extra {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func wantOutput(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q; got:\n%s", what, w, got)
		}
	}
}

func TestDBUsageErrors(t *testing.T) {
	code, _, stderr := runCLI(t, nil, "db", "migrate").parts()
	if code != exit.Usage {
		t.Errorf("no URL: exit %d; want %d", code, exit.Usage)
	}
	wantOutput(t, "stderr", stderr, "Error: no database URL", "Try: pass --database-url", "DATABASE_URL")

	code, _, stderr = runCLI(t, nil, "db", "status", "--database-url", "postgres://x@127.0.0.1/db", "--dir", "/nonexistent").parts()
	if code != exit.Usage {
		t.Errorf("bad --dir: exit %d; want %d", code, exit.Usage)
	}
	wantOutput(t, "stderr", stderr, "Error: --dir", "Try:")

	code, _, stderr = runCLI(t, nil, "db", "migrate", "--database-url", "postgres://x@127.0.0.1/db", "--app-role", "Bad-Role").parts()
	if code != exit.Usage {
		t.Errorf("bad role: exit %d; want %d", code, exit.Usage)
	}
	wantOutput(t, "stderr", stderr, "invalid role name", "Try: pass the role names")

	code, _, stderr = runCLI(t, map[string]string{"DATABASE_URL": "postgres://u:top-sekrit@127.0.0.1:1/db?connect_timeout=2"},
		"db", "migrate").hiding(t, "top-sekrit")
	if code != exit.Unreachable {
		t.Errorf("unreachable: exit %d; want %d", code, exit.Unreachable)
	}
	wantOutput(t, "stderr", stderr, "Error: migrate: connect to postgres 127.0.0.1:1/db as u", "Try: check that PostgreSQL is running")
}

func TestDBMigrateAndStatus(t *testing.T) {
	p := testenv.StartPostgres(t)
	url := p.CreateDatabase(t, "cli_db")
	pw := p.Password
	n := len(mustGlob(t))

	code, stdout, stderr := runCLI(t, map[string]string{"DATABASE_URL": url}, "db", "migrate", "--dry-run").hiding(t, pw)
	if code != exit.OK {
		t.Fatalf("dry run: exit %d; stderr %s", code, stderr)
	}
	wantOutput(t, "dry run", stdout, "would apply 00001_foundation.sql", "dry run: ")

	code, stdout, stderr = runCLI(t, nil, "db", "migrate", "--database-url", url).hiding(t, pw)
	if code != exit.OK {
		t.Fatalf("migrate: exit %d; stderr %s", code, stderr)
	}
	wantOutput(t, "migrate", stdout, "applied 00001_foundation.sql (", "applied 00006_fuzzy_search.sql (",
		"migrated the database from version 0 to 6")

	code, stdout, _ = runCLI(t, nil, "db", "migrate", "--database-url", url).hiding(t, pw)
	if code != exit.OK {
		t.Fatalf("second migrate: exit %d", code)
	}
	wantOutput(t, "second migrate", stdout, "nothing to apply: the database is at version 6, up to date")

	code, stdout, _ = runCLI(t, nil, "db", "migrate", "--database-url", url, "--json").hiding(t, pw)
	var res migrate.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || code != exit.OK {
		t.Fatalf("migrate --json: exit %d, %v; stdout %s", code, err, stdout)
	}
	if len(res.Applied) != 0 || res.Version != 6 {
		t.Errorf("migrate --json: %d applied, version %d; want 0, 6", len(res.Applied), res.Version)
	}

	code, stdout, _ = runCLI(t, nil, "db", "status", "--database-url", url).hiding(t, pw)
	if code != exit.OK {
		t.Fatalf("status: exit %d", code)
	}
	wantOutput(t, "status", stdout, "VERSION", "00002_crm.sql", "applied", "version 6 of 6: 6 applied, 0 pending, 0 drifted")

	// A failing migration names the file and the SQL error; nothing of it stays.
	broken := migrationsDir(t, map[string]string{
		"00007_broken.sql": "-- +goose Up\nCREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;\n",
	})
	code, stdout, stderr = runCLI(t, nil, "db", "migrate", "--database-url", url, "--dir", broken).hiding(t, pw)
	if code != exit.Failure {
		t.Errorf("broken migration: exit %d; want %d", code, exit.Failure)
	}
	wantOutput(t, "stderr", stderr, "Error: migrate: 00007_broken.sql failed and was rolled back",
		`relation "no_such_table" does not exist`, "Try: fix 00007_broken.sql")
	code, stdout, _ = runCLI(t, nil, "db", "status", "--database-url", url, "--dir", broken, "--json").hiding(t, pw)
	var st migrate.Status
	if err := json.Unmarshal([]byte(stdout), &st); err != nil || code != exit.OK {
		t.Fatalf("status --json: exit %d, %v", code, err)
	}
	if st.Applied != n || st.Pending != 1 || st.CurrentVersion != 6 {
		t.Errorf("after the failure: %d applied, %d pending, version %d; want %d, 1, 6", st.Applied, st.Pending, st.CurrentVersion, n)
	}

	// An applied file that was edited is refused, with what to do.
	orig, err := fs.ReadFile(migrations.FS, "00003_row_level_security.sql")
	if err != nil {
		t.Fatal(err)
	}
	edited := migrationsDir(t, map[string]string{"00003_row_level_security.sql": string(orig) + "\n-- an innocent comment\n"})
	code, _, stderr = runCLI(t, nil, "db", "migrate", "--database-url", url, "--dir", edited).hiding(t, pw)
	if code != exit.Failure {
		t.Errorf("edited migration: exit %d; want %d", code, exit.Failure)
	}
	wantOutput(t, "stderr", stderr, "Error: migrate: refusing to run: 00003_row_level_security.sql was changed after it was applied",
		"Try: restore 00003_row_level_security.sql", "new migration file")
	code, stdout, _ = runCLI(t, nil, "db", "status", "--database-url", url, "--dir", edited).hiding(t, pw)
	if code != exit.OK {
		t.Errorf("status with drift: exit %d; want 0", code)
	}
	wantOutput(t, "status", stdout, "modified", "1 drifted")
}

// TestDBMigrateRolesFromEnv runs migrate the way the migrate job does: a
// member of the owner role, with the roles from the environment.
func TestDBMigrateRolesFromEnv(t *testing.T) {
	p := testenv.StartPostgres(t)
	p.CreateDatabase(t, "cli_roles")
	super := p.Conn(t, "cli_roles")
	ctx := context.Background()
	for _, q := range []string{
		"CREATE ROLE acme__owner NOLOGIN",
		"CREATE ROLE acme__rw NOLOGIN",
		"CREATE ROLE acme_migrate LOGIN PASSWORD 'migrate-sekrit' IN ROLE acme__owner",
		"GRANT CREATE ON SCHEMA public TO acme__owner",
	} {
		if _, err := super.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	url := fmt.Sprintf("postgres://acme_migrate:migrate-sekrit@%s:%d/cli_roles?sslmode=disable", p.Host, p.Port)
	env := map[string]string{"DATABASE_URL": url, "TENANTCTL_DB_OWNER_ROLE": "acme__owner", "TENANTCTL_DB_APP_ROLE": "acme__rw"}
	code, _, stderr := runCLI(t, env, "db", "migrate").hiding(t, "migrate-sekrit")
	if code != exit.OK {
		t.Fatalf("migrate: exit %d; stderr %s", code, stderr)
	}
	var owner string
	var canWrite bool
	if err := super.QueryRow(ctx, `SELECT tableowner, has_table_privilege('acme__rw', 'deals', 'INSERT')
		FROM pg_tables WHERE tablename = 'deals'`).Scan(&owner, &canWrite); err != nil {
		t.Fatal(err)
	}
	if owner != "acme__owner" || !canWrite {
		t.Errorf("deals owned by %s, app role may insert %v; want acme__owner, true", owner, canWrite)
	}

	env["TENANTCTL_DB_OWNER_ROLE"] = "acme__nobody"
	code, _, stderr = runCLI(t, env, "db", "migrate").hiding(t, "migrate-sekrit")
	if code != exit.Unreachable {
		t.Errorf("unknown owner role: exit %d; want %d", code, exit.Unreachable)
	}
	wantOutput(t, "stderr", stderr, `set role "acme__nobody"`, "Try: make the migrating user a member of role")
}

func mustGlob(t *testing.T) []string {
	t.Helper()
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	return names
}
