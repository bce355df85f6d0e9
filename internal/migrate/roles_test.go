package migrate_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/migrate"
	"github.com/tenantctl/tenantctl/internal/testenv"
	"github.com/tenantctl/tenantctl/migrations"
)

// TestPrepareDatabaseThenMigrate walks a tenant database through what up
// does to it: PrepareDatabase (roles, database, privileges), a migration run
// as the owner with the app role, and PrepareDatabase again (a Vault
// connection created anew, after down without purging the data). The app
// role's users can then read and write every table but the version table,
// create nothing, and a wrong password never shows in the error.
func TestPrepareDatabaseThenMigrate(t *testing.T) {
	id := uniqueName(t, "prep")
	p := testenv.SharedPostgres(t)
	db := migrate.Database{Addr: fmt.Sprintf("%s:%d", p.Host, p.Port), SSLMode: "disable",
		Name: id + "__app", OwnerRole: id + "__owner", AppRole: id + "__rw", BackupRole: id + "__backup"}
	ctx := context.Background()
	for i := range 2 {
		if err := migrate.PrepareDatabase(ctx, db, p.User, p.Password); err != nil {
			t.Fatalf("prepare #%d: %v", i+1, err)
		}
	}
	super := p.Conn(t, "postgres")
	migrator, appUser := id+"_migrate", id+"_app"
	for _, q := range []string{
		"CREATE ROLE " + migrator + " LOGIN PASSWORD 'migrate-pw' IN ROLE " + db.OwnerRole,
		"CREATE ROLE " + appUser + " LOGIN PASSWORD 'app-pw' IN ROLE " + db.AppRole,
	} {
		if _, err := super.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	r := mustOpen(t, roleURL(p, migrator, "migrate-pw", db.Name), migrations.FS,
		migrate.Options{OwnerRole: db.OwnerRole, AppRole: db.AppRole})
	mustMigrate(t, r)
	if err := migrate.PrepareDatabase(ctx, db, p.User, p.Password); err != nil {
		t.Fatalf("prepare after migrating: %v", err)
	}

	app := p.Conn(t, db.Name) // as the superuser, to look
	var tables, readable int
	if err := app.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE has_table_privilege($1, format('%I.%I', schemaname, tablename), 'SELECT, INSERT, UPDATE, DELETE'))
		FROM pg_tables WHERE schemaname = 'public' AND tablename <> $2`, appUser, migrate.VersionTable).Scan(&tables, &readable); err != nil {
		t.Fatal(err)
	}
	if tables == 0 || readable != tables {
		t.Errorf("app user: DML on %d of %d tables; want all", readable, tables)
	}
	var version, create bool
	if err := app.QueryRow(ctx, `SELECT has_table_privilege($1, 'public.'||$2, 'SELECT'), has_schema_privilege($1, 'public', 'CREATE')`,
		appUser, migrate.VersionTable).Scan(&version, &create); err != nil {
		t.Fatal(err)
	}
	if version || create {
		t.Errorf("app user: reads the version table %v, creates in public %v; want neither", version, create)
	}

	// The backup role reads every table, the version table too, and every
	// sequence; it writes nothing and creates nothing.
	var selectable, writable, seqs int
	if err := app.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE has_table_privilege($1, format('%I.%I', schemaname, tablename), 'SELECT')),
		count(*) FILTER (WHERE has_table_privilege($1, format('%I.%I', schemaname, tablename), 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'))
		FROM pg_tables WHERE schemaname = 'public'`, db.BackupRole).Scan(&selectable, &writable); err != nil {
		t.Fatal(err)
	}
	if err := app.QueryRow(ctx, `SELECT count(*) FILTER (WHERE NOT has_sequence_privilege($1, c.oid, 'SELECT') OR has_sequence_privilege($1, c.oid, 'UPDATE, USAGE'))
		FROM pg_class c WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace`, db.BackupRole).Scan(&seqs); err != nil {
		t.Fatal(err)
	}
	var connect, createSchema, createDB bool
	if err := app.QueryRow(ctx, `SELECT has_database_privilege($1, $2, 'CONNECT'), has_schema_privilege($1, 'public', 'CREATE'),
		has_database_privilege($1, $2, 'CREATE, TEMPORARY')`, db.BackupRole, db.Name).Scan(&connect, &createSchema, &createDB); err != nil {
		t.Fatal(err)
	}
	if selectable != tables+1 || writable != 0 || seqs != 0 || !connect || createSchema || createDB {
		t.Errorf("backup role: SELECT on %d of %d tables, writes %d, %d sequences wrong, connect %v, create in public %v, create/temp in db %v; "+
			"want SELECT on all, no writes, connect only", selectable, tables+1, writable, seqs, connect, createSchema, createDB)
	}

	err := migrate.PrepareDatabase(ctx, db, p.User, "wrong-password-1234")
	if err == nil || strings.Contains(err.Error(), "wrong-password-1234") {
		t.Errorf("prepare with a wrong password: got %v; want an error without the password", err)
	}
}

// TestBackupRoleStatementsConvergeAnOldTenant: a database prepared before
// the backup role existed gets it, with the same privileges, from
// BackupRoleStatements run twice as the superuser.
func TestBackupRoleStatementsConvergeAnOldTenant(t *testing.T) {
	id := uniqueName(t, "old")
	p := testenv.SharedPostgres(t)
	db := migrate.Database{Addr: fmt.Sprintf("%s:%d", p.Host, p.Port), SSLMode: "disable",
		Name: id + "__app", OwnerRole: id + "__owner", AppRole: id + "__rw"}
	ctx := context.Background()
	if err := migrate.PrepareDatabase(ctx, db, p.User, p.Password); err != nil {
		t.Fatal(err)
	}
	super := p.Conn(t, "postgres")
	migrator := id + "_migrate"
	if _, err := super.Exec(ctx, "CREATE ROLE "+migrator+" LOGIN PASSWORD 'migrate-pw' IN ROLE "+db.OwnerRole); err != nil {
		t.Fatal(err)
	}
	mustMigrate(t, mustOpen(t, roleURL(p, migrator, "migrate-pw", db.Name), migrations.FS,
		migrate.Options{OwnerRole: db.OwnerRole, AppRole: db.AppRole}))

	db.BackupRole = id + "__backup"
	conn := p.Conn(t, db.Name)
	for i := range 2 {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range migrate.BackupRoleStatements(db) {
			if _, err := tx.Exec(ctx, q); err != nil {
				t.Fatalf("run #%d: %s: %v", i+1, q, err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var all, readable int
	var connect bool
	if err := conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE has_table_privilege($1, format('%I.%I', schemaname, tablename), 'SELECT')),
		has_database_privilege($1, current_database(), 'CONNECT') FROM pg_tables WHERE schemaname = 'public'`, db.BackupRole).Scan(&all, &readable, &connect); err != nil {
		t.Fatal(err)
	}
	if all == 0 || readable != all || !connect {
		t.Errorf("backup role: SELECT on %d of %d tables, connect %v; want all and connect", readable, all, connect)
	}
}
