package migrate_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantctl/tenantctl/internal/migrate"
	"github.com/tenantctl/tenantctl/internal/testenv"
	"github.com/tenantctl/tenantctl/migrations"
)

// tenantDB is a database migrated the way a tenant's is: by a LOGIN user
// that is a member of a NOLOGIN owner role, granting a NOLOGIN app group role,
// of which the application's LOGIN user is a member.
type tenantDB struct {
	super *pgx.Conn // superuser: bypasses row-level security
	app   *pgx.Conn // the application's user
	orgA  string
	orgB  string
}

func roleURL(p *testenv.Postgres, user, password, db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password),
		Host: fmt.Sprintf("%s:%d", p.Host, p.Port), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

func exec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func newTenantDB(t *testing.T, prefix string) *tenantDB {
	t.Helper()
	p := testenv.SharedPostgres(t)
	_, name := createDB(t, p, prefix)
	super := p.Conn(t, name)
	owner, rw, migrator, appUser := name+"__owner", name+"__rw", name+"_migrate", name+"_app"
	for _, q := range []string{
		"CREATE ROLE " + owner + " NOLOGIN",
		"CREATE ROLE " + rw + " NOLOGIN",
		"CREATE ROLE " + migrator + " LOGIN PASSWORD 'migrate-pw' IN ROLE " + owner,
		"CREATE ROLE " + appUser + " LOGIN PASSWORD 'app-pw' IN ROLE " + rw,
		// PostgreSQL 15 no longer lets everyone create in public.
		"GRANT CREATE ON SCHEMA public TO " + owner,
	} {
		exec(t, super, q)
	}
	r := mustOpen(t, roleURL(p, migrator, "migrate-pw", name), migrations.FS,
		migrate.Options{OwnerRole: owner, AppRole: rw})
	if res := mustMigrate(t, r); !res.Granted {
		t.Fatalf("result %+v; want privileges granted", res)
	}

	var badOwner int
	if err := super.QueryRow(context.Background(),
		`SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner <> $1`, owner).Scan(&badOwner); err != nil {
		t.Fatal(err)
	}
	if badOwner != 0 {
		t.Errorf("%d tables not owned by %s; want all", badOwner, owner)
	}

	// The owner role may not create extensions here: the fuzzy-search
	// migration skipped pg_trgm instead of failing.
	var trgm int
	if err := super.QueryRow(context.Background(), `SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'`).Scan(&trgm); err != nil {
		t.Fatal(err)
	}
	if trgm != 0 {
		t.Errorf("pg_trgm installed by a role without CREATE on the database; want it skipped")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	app, err := pgx.Connect(ctx, roleURL(p, appUser, "app-pw", name))
	if err != nil {
		t.Fatalf("connect as app: %v", err)
	}
	t.Cleanup(func() { app.Close(context.Background()) })

	db := &tenantDB{super: super, app: app}
	for _, org := range []*string{&db.orgA, &db.orgB} {
		if err := super.QueryRow(ctx, `INSERT INTO organizations (name) VALUES ('org') RETURNING id::text`).Scan(org); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// asOrg sets the app session's organization ("" for none).
func (db *tenantDB) asOrg(t *testing.T, org string) {
	t.Helper()
	exec(t, db.app, `SELECT set_config('app.current_org', $1, false)`, org)
}

func count(t *testing.T, conn *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestRowLevelSecurity(t *testing.T) {
	db := newTenantDB(t, "mig_rls")
	ctx := context.Background()
	exec(t, db.super, `INSERT INTO contacts (org_id, name) VALUES ($1, 'a1'), ($1, 'a2'), ($2, 'b1')`, db.orgA, db.orgB)
	exec(t, db.super, `INSERT INTO processed_jobs (org_id, idempotency_key) VALUES ($1, 'k'), ($2, 'k')`, db.orgA, db.orgB)

	// Every table with organization data has forced row-level security.
	rows, err := db.super.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> $1
		  AND NOT (c.relrowsecurity AND c.relforcerowsecurity)`, migrate.VersionTable)
	if err != nil {
		t.Fatal(err)
	}
	unprotected, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(unprotected) > 0 {
		t.Errorf("tables without forced row-level security: %v; want none", unprotected)
	}

	for _, org := range []string{"", "unset"} {
		if org == "unset" {
			exec(t, db.app, `RESET app.current_org`)
		} else {
			db.asOrg(t, org)
		}
		for _, table := range []string{"organizations", "contacts", "processed_jobs"} {
			if n := count(t, db.app, `SELECT count(*) FROM `+table); n != 0 {
				t.Errorf("no organization (%q): %d rows of %s visible; want 0", org, n, table)
			}
		}
	}

	db.asOrg(t, db.orgA)
	if n := count(t, db.app, `SELECT count(*) FROM contacts`); n != 2 {
		t.Errorf("org A sees %d contacts; want its 2", n)
	}
	if n := count(t, db.app, `SELECT count(*) FROM contacts WHERE org_id = $1`, db.orgB); n != 0 {
		t.Errorf("org A sees %d of B's contacts; want 0", n)
	}
	if n := count(t, db.app, `SELECT count(*) FROM organizations`); n != 1 {
		t.Errorf("org A sees %d organizations; want 1", n)
	}
	if n := count(t, db.app, `SELECT count(*) FROM processed_jobs`); n != 1 {
		t.Errorf("org A sees %d processed jobs; want 1", n)
	}

	_, err = db.app.Exec(ctx, `INSERT INTO contacts (org_id, name) VALUES ($1, 'intruder')`, db.orgB)
	if pgCode(err) != "42501" {
		t.Errorf("insert into B as A: err = %v; want SQLSTATE 42501 (row-level security)", err)
	}
	_, err = db.app.Exec(ctx, `INSERT INTO processed_jobs (org_id, idempotency_key) VALUES ($1, 'x')`, db.orgB)
	if pgCode(err) != "42501" {
		t.Errorf("insert processed job into B as A: err = %v; want SQLSTATE 42501", err)
	}
	tag, err := db.app.Exec(ctx, `UPDATE contacts SET name = 'hijacked' WHERE org_id = $1`, db.orgB)
	if err != nil || tag.RowsAffected() != 0 {
		t.Errorf("update B's contacts as A: %d rows, err %v; want 0 rows", tag.RowsAffected(), err)
	}
	tag, err = db.app.Exec(ctx, `DELETE FROM contacts WHERE org_id = $1`, db.orgB)
	if err != nil || tag.RowsAffected() != 0 {
		t.Errorf("delete B's contacts as A: %d rows, err %v; want 0 rows", tag.RowsAffected(), err)
	}
	_, err = db.app.Exec(ctx, `UPDATE contacts SET org_id = $1 WHERE name = 'a1'`, db.orgB)
	if pgCode(err) != "42501" {
		t.Errorf("move A's contact to B: err = %v; want SQLSTATE 42501", err)
	}
	if n := count(t, db.super, `SELECT count(*) FROM contacts WHERE org_id = $1 AND name = 'b1'`, db.orgB); n != 1 {
		t.Errorf("B's contact changed: %d rows named b1; want 1", n)
	}

	// References cannot cross organizations either: foreign-key checks do
	// not see row-level security, the composite keys stop them.
	var bContact string
	if err := db.super.QueryRow(ctx, `SELECT id::text FROM contacts WHERE org_id = $1`, db.orgB).Scan(&bContact); err != nil {
		t.Fatal(err)
	}
	_, err = db.app.Exec(ctx, `INSERT INTO deals (org_id, contact_id, name) VALUES ($1, $2, 'd')`, db.orgA, bContact)
	if pgCode(err) != "23503" {
		t.Errorf("deal in A pointing at B's contact: err = %v; want SQLSTATE 23503 (foreign key)", err)
	}

	// The app role has data access only: not the version table, not DDL.
	if _, err := db.app.Exec(ctx, `SELECT * FROM `+migrate.VersionTable); pgCode(err) != "42501" {
		t.Errorf("app reads the version table: err = %v; want SQLSTATE 42501", err)
	}
	if _, err := db.app.Exec(ctx, `CREATE TABLE app_made (id int)`); pgCode(err) != "42501" {
		t.Errorf("app creates a table: err = %v; want SQLSTATE 42501", err)
	}

	// Timestamps are maintained.
	var created, updated time.Time
	if err := db.app.QueryRow(ctx, `UPDATE contacts SET phone = '1' WHERE name = 'a2' RETURNING created_at, updated_at`).Scan(&created, &updated); err != nil {
		t.Fatal(err)
	}
	if !updated.After(created) {
		t.Errorf("after update: created_at %v, updated_at %v; want updated_at later", created, updated)
	}
}

func TestSmartTaskTrigger(t *testing.T) {
	db := newTenantDB(t, "mig_smart")
	ctx := context.Background()
	for _, org := range []string{db.orgA, db.orgB} {
		db.asOrg(t, org)
		exec(t, db.app, `INSERT INTO smart_task_templates (org_id, name, trigger_event, trigger_value, task_title, due_in_days)
			VALUES ($1, 'verbal follow-up', 'deal_stage_changed', 'verbal', 'Send the contract', 2),
			       ($1, 'after a call', 'activity_created', 'call', 'Write call notes', 0),
			       ($1, 'disabled', 'deal_stage_changed', 'verbal', 'Never', 0)`, org)
		exec(t, db.app, `UPDATE smart_task_templates SET enabled = false WHERE name = 'disabled'`)
	}

	db.asOrg(t, db.orgA)
	var deal string
	if err := db.app.QueryRow(ctx, `INSERT INTO deals (org_id, name, value) VALUES ($1, 'big deal', 1000) RETURNING id::text`,
		db.orgA).Scan(&deal); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db.super, `SELECT count(*) FROM tasks`); n != 0 {
		t.Fatalf("%d tasks after creating a deal in stage sql; want 0", n)
	}
	exec(t, db.app, `UPDATE deals SET stage = 'opportunity' WHERE id = $1`, deal)
	exec(t, db.app, `UPDATE deals SET stage = 'verbal' WHERE id = $1`, deal)
	exec(t, db.app, `UPDATE deals SET value = 2000 WHERE id = $1`, deal) // not a stage change

	var title, org, dealID string
	var dueIn time.Duration
	if err := db.super.QueryRow(ctx, `SELECT title, org_id::text, deal_id::text, due_at - created_at FROM tasks`).
		Scan(&title, &org, &dealID, &dueIn); err != nil {
		t.Fatalf("want exactly one task: %v", err)
	}
	if title != "Send the contract" || org != db.orgA || dealID != deal || dueIn != 48*time.Hour {
		t.Errorf("task = %q in %s for deal %s due in %s; want %q in A (%s) for %s due in 48h",
			title, org, dealID, dueIn, "Send the contract", db.orgA, deal)
	}

	// An activity of the template's type creates a task; another type does not.
	exec(t, db.app, `INSERT INTO activities (org_id, type, deal_id) VALUES ($1, 'call', $2), ($1, 'email', $2)`, db.orgA, deal)
	if n := count(t, db.super, `SELECT count(*) FROM tasks WHERE org_id = $1 AND title = 'Write call notes' AND deal_id = $2`,
		db.orgA, deal); n != 1 {
		t.Errorf("%d call-notes tasks in A; want 1", n)
	}
	if n := count(t, db.super, `SELECT count(*) FROM tasks WHERE org_id = $1`, db.orgB); n != 0 {
		t.Errorf("%d tasks in B after A's events; want 0", n)
	}
	if n := count(t, db.app, `SELECT count(*) FROM tasks`); n != 2 {
		t.Errorf("A sees %d tasks; want 2", n)
	}

	// A deal created directly in a stage enters it.
	db.asOrg(t, db.orgB)
	exec(t, db.app, `INSERT INTO deals (org_id, name, stage) VALUES ($1, 'b deal', 'verbal')`, db.orgB)
	if n := count(t, db.super, `SELECT count(*) FROM tasks WHERE org_id = $1 AND title = 'Send the contract'`, db.orgB); n != 1 {
		t.Errorf("%d tasks in B after its deal entered verbal; want 1", n)
	}
	if n := count(t, db.super, `SELECT count(*) FROM tasks WHERE org_id = $1`, db.orgA); n != 2 {
		t.Errorf("%d tasks in A after B's event; want still 2", n)
	}
}
