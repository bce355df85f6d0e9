// Package backuptest sets up tenant databases and Redis servers the way a
// converged tenant has them (roles, grants, migrations, the login users Vault
// would issue for app, migrate, backup and restore), fills them with data in
// every table and several kinds of Redis keys, and takes fingerprints to
// compare them row by row and key by key. Test support only.
package backuptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tenantctl/tenantctl/internal/backup"
	"github.com/tenantctl/tenantctl/internal/migrate"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/testenv"
	"github.com/tenantctl/tenantctl/migrations"
)

// Tenant is one tenant's database and Redis with login users like the ones
// Vault issues (see docs/backups.md for the creation statements they copy).
type Tenant struct {
	ID    tenant.ID
	Names tenant.Names
	PG    *testenv.Postgres
	Redis *testenv.Redis
	// Postgres URLs of the login users.
	AppURL, MigrateURL, BackupURL, RestoreURL string
	// Redis URLs of the ACL users.
	RedisBackupURL, RedisRestoreURL, RedisAdminURL string
	// Passwords are every password issued, for tests that check none leaks.
	Passwords []string
}

// UniqueID returns a fresh tenant id starting with prefix (letters only).
func UniqueID(tb testing.TB, prefix string) tenant.ID {
	tb.Helper()
	id, err := tenant.ParseID(prefix + randomHex(tb, 4))
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func randomHex(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// NewTenant prepares tenant id's database on p (migrate.PrepareDatabase),
// creates its login users, applies the embedded migrations as the migrate
// user, and starts a private Redis with the backup and restore ACL users
// (backup.RedisBackupCommands, backup.RedisRestoreCommands).
func NewTenant(tb testing.TB, p *testenv.Postgres, id tenant.ID) *Tenant {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n := tenant.NamesFor(id)
	t := &Tenant{ID: id, Names: n, PG: p}
	db := migrate.Database{Addr: fmt.Sprintf("%s:%d", p.Host, p.Port), SSLMode: "disable",
		Name: n.Database, OwnerRole: n.OwnerRole, AppRole: n.AppGroupRole, BackupRole: n.DBBackupRole}
	if err := migrate.PrepareDatabase(ctx, db, p.User, p.Password); err != nil {
		tb.Fatalf("prepare database: %v", err)
	}
	super := p.Conn(tb, "postgres")
	base := strings.ReplaceAll(string(id), "-", "_")
	user := func(role, attrs, group string, setRole bool) string {
		name, pw := base+"_"+role, "pw-"+randomHex(tb, 12)
		q := fmt.Sprintf(`CREATE ROLE %s WITH LOGIN PASSWORD '%s' VALID UNTIL 'infinity' %s IN ROLE %s`, name, pw, attrs, group)
		if _, err := super.Exec(ctx, q); err != nil {
			tb.Fatalf("create %s: %v", role, err)
		}
		if setRole {
			if _, err := super.Exec(ctx, fmt.Sprintf(`ALTER ROLE %s SET role = '%s'`, name, group)); err != nil {
				tb.Fatalf("alter %s: %v", role, err)
			}
		}
		t.Passwords = append(t.Passwords, pw)
		return PostgresURL(p, name, pw, n.Database)
	}
	// The statements of Vault's roles: app, migrate (internal/vault), backup
	// and restore (docs/backups.md).
	t.AppURL = user("app", "", n.AppGroupRole, false)
	t.MigrateURL = user("migrate", "", n.OwnerRole, true)
	t.BackupURL = user("backup", "BYPASSRLS", n.DBBackupRole, false)
	t.RestoreURL = user("restore", "BYPASSRLS", n.OwnerRole, true)

	r, err := migrate.Open(ctx, t.MigrateURL, migrations.FS, migrate.Options{OwnerRole: n.OwnerRole, AppRole: n.AppGroupRole})
	if err != nil {
		tb.Fatalf("open migrator: %v", err)
	}
	defer r.Close()
	if _, err := r.Migrate(ctx, false); err != nil {
		tb.Fatalf("migrate: %v", err)
	}

	t.Redis = testenv.StartRedis(tb)
	t.Passwords = append(t.Passwords, t.Redis.AdminPassword)
	t.RedisAdminURL = RedisURL(t.Redis.Addr, t.Redis.AdminUser, t.Redis.AdminPassword)
	t.RedisBackupURL = t.RedisUser(tb, "backup", backup.RedisBackupCommands)
	t.RedisRestoreURL = t.RedisUser(tb, "restore", backup.RedisRestoreCommands)
	return t
}

// RedisUser creates an ACL user allowed exactly commands on every key, like
// the Vault Redis roles, and returns its URL.
func (t *Tenant) RedisUser(tb testing.TB, name string, commands []string) string {
	tb.Helper()
	pw := "pw-" + randomHex(tb, 12)
	rules := []any{"ACL", "SETUSER", name, "reset", "on", ">" + pw, "~*", "-@all"}
	for _, c := range commands {
		rules = append(rules, "+"+strings.ToLower(c))
	}
	admin := t.Admin(tb)
	if err := admin.Do(context.Background(), rules...).Err(); err != nil {
		tb.Fatalf("redis acl setuser %s: %v", name, err)
	}
	t.Passwords = append(t.Passwords, pw)
	return RedisURL(t.Redis.Addr, name, pw)
}

// PostgresURL is the URL of database db as user with password on p.
func PostgresURL(p *testenv.Postgres, user, password, db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password),
		Host: fmt.Sprintf("%s:%d", p.Host, p.Port), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// RedisURL is the URL of database 0 of the Redis at addr as user.
func RedisURL(addr, user, password string) string {
	u := url.URL{Scheme: "redis", User: url.UserPassword(user, password), Host: addr, Path: "/0"}
	return u.String()
}

// Admin connects to the tenant's Redis as its admin; closed by Cleanup.
func (t *Tenant) Admin(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: t.Redis.Addr, Username: t.Redis.AdminUser, Password: t.Redis.AdminPassword})
	tb.Cleanup(func() { c.Close() })
	return c
}

// Super connects to the tenant's database as the superuser (which bypasses
// row-level security); closed by Cleanup.
func (t *Tenant) Super(tb testing.TB) *pgx.Conn {
	tb.Helper()
	return t.PG.Conn(tb, t.Names.Database)
}

// Connect connects with url; closed by Cleanup.
func Connect(tb testing.TB, url string) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// InOrg runs fn as the app user in a transaction with app.current_org set to
// org, as the reference app does.
func InOrg(tb testing.TB, app *pgx.Conn, org string, fn func(pgx.Tx)) {
	tb.Helper()
	ctx := context.Background()
	tx, err := app.Begin(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit, a no-op
	if _, err := tx.Exec(ctx, `SELECT set_config('app.current_org', $1, true)`, org); err != nil {
		tb.Fatal(err)
	}
	fn(tx)
	if err := tx.Commit(ctx); err != nil {
		tb.Fatal(err)
	}
}

// Fill writes rows into every table of the schema, as the app user under
// row-level security, for orgs organizations; and keys of every common type
// into Redis, some with a time to live, one with a binary name.
func (t *Tenant) Fill(tb testing.TB, orgs int) {
	tb.Helper()
	ctx := context.Background()
	app := Connect(tb, t.AppURL)
	for i := range orgs {
		var org string
		if err := app.QueryRow(ctx, `SELECT gen_random_uuid()::text`).Scan(&org); err != nil {
			tb.Fatal(err)
		}
		InOrg(tb, app, org, func(tx pgx.Tx) {
			exec := func(q string, args ...any) {
				tb.Helper()
				if _, err := tx.Exec(ctx, q, args...); err != nil {
					tb.Fatalf("%s: %v", q, err)
				}
			}
			var user, contact, deal, activity string
			exec(`INSERT INTO organizations (id, name) VALUES ($1, $2)`, org, fmt.Sprintf("Org %d ✓ 'quoted'", i))
			if err := tx.QueryRow(ctx, `INSERT INTO users (org_id, email, full_name, is_admin) VALUES ($1, $2, 'Ada Admin', true) RETURNING id::text`,
				org, fmt.Sprintf("ada%d@example.test", i)).Scan(&user); err != nil {
				tb.Fatal(err)
			}
			exec(`INSERT INTO smart_task_templates (org_id, name, trigger_event, trigger_value, task_title, due_in_days)
				VALUES ($1, 'Follow up', 'deal_stage_changed', 'signed', 'Send the contract', 3),
				       ($1, 'After a call', 'activity_created', 'call', 'Write notes', 0)`, org)
			if err := tx.QueryRow(ctx, `INSERT INTO contacts (org_id, name, email, phone, company, owner_id)
				VALUES ($1, 'Grace Hopper', 'grace@example.test', E'+1\t555', NULL, $2) RETURNING id::text`, org, user).Scan(&contact); err != nil {
				tb.Fatal(err)
			}
			if err := tx.QueryRow(ctx, `INSERT INTO deals (org_id, contact_id, owner_id, name, value, stage, expected_close_date)
				VALUES ($1, $2, $3, 'Big deal', 12345.678, 'signed', '2027-01-31') RETURNING id::text`, org, contact, user).Scan(&deal); err != nil {
				tb.Fatal(err)
			}
			if err := tx.QueryRow(ctx, `INSERT INTO activities (org_id, type, subject, notes, contact_id, deal_id, user_id)
				VALUES ($1, 'call', 'Kick-off', E'line 1\nline 2', $2, $3, $4) RETURNING id::text`, org, contact, deal, user).Scan(&activity); err != nil {
				tb.Fatal(err)
			}
			exec(`INSERT INTO tasks (org_id, title, status, assignee_id, contact_id, deal_id, activity_id)
				VALUES ($1, 'Done task', 'done', $2, $3, $4, $5)`, org, user, contact, deal, activity)
			exec(`INSERT INTO calendar_events (org_id, user_id, title, starts_at, ends_at, external_id, contact_id, deal_id)
				VALUES ($1, $2, 'Meeting', '2026-12-01 10:00+00', '2026-12-01 11:00+00', 'google-1', $3, $4)`, org, user, contact, deal)
			exec(`INSERT INTO workflows (org_id, name, trigger_event, definition, enabled)
				VALUES ($1, 'Welcome', 'contact_created', '{"steps": [{"send": "mail"}]}', true)`, org)
			exec(`INSERT INTO processed_jobs (org_id, idempotency_key, result) VALUES ($1, 'job-1', '{"ok": true}')`, org)
		})
	}

	rc := t.Admin(tb)
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(rc.Set(ctx, "session:plain", "value", 0).Err())
	must(rc.Set(ctx, "session:ttl", "expires", time.Hour).Err())
	must(rc.Set(ctx, "bin:\x00\xff\nkey", []byte{0, 1, 2, 255}, 0).Err())
	must(rc.HSet(ctx, "hash", "a", "1", "b", "2").Err())
	must(rc.Expire(ctx, "hash", 2*time.Hour).Err())
	must(rc.RPush(ctx, "list", "x", "y", "z").Err())
	must(rc.SAdd(ctx, "set", "m1", "m2").Err())
	must(rc.ZAdd(ctx, "zset", redis.Z{Score: 1.5, Member: "one"}, redis.Z{Score: 2, Member: "two"}).Err())
	must(rc.XAdd(ctx, &redis.XAddArgs{Stream: "stream", ID: "1-1", Values: []any{"f", "v"}}).Err())
	big := make([]any, 0, 2000)
	for i := range 1000 {
		big = append(big, fmt.Sprintf("f%d", i), strings.Repeat("v", 50))
	}
	must(rc.HSet(ctx, "bighash", big...).Err())
	for i := range 2500 { // more than one SCAN batch
		must(rc.Set(ctx, fmt.Sprintf("counter:%d", i), i, 0).Err())
	}
}

// Fingerprint is the content of a tenant's database and Redis in a form
// to compare: every table's rows (all columns as text, ordered by primary
// key) and every key's type, DUMP payload and whether it has a TTL.
type Fingerprint struct {
	Tables map[string][]string
	Keys   map[string]Key
}

// Key is one Redis key in a Fingerprint.
type Key struct {
	Type string
	// Value is the key's value in a canonical text form (members of sets
	// and fields of hashes sorted: DUMP's bytes follow the order of a hash
	// table, which a RESTORE may change).
	Value  string
	HasTTL bool
}

// value reads key k of type typ in a canonical form.
func value(tb testing.TB, rc *redis.Client, k, typ string) string {
	tb.Helper()
	ctx := context.Background()
	var (
		vals []string
		err  error
	)
	switch typ {
	case "string":
		var v string
		v, err = rc.Get(ctx, k).Result()
		vals = []string{v}
	case "list":
		vals, err = rc.LRange(ctx, k, 0, -1).Result()
	case "set":
		vals, err = rc.SMembers(ctx, k).Result()
		sort.Strings(vals)
	case "hash":
		var m map[string]string
		m, err = rc.HGetAll(ctx, k).Result()
		for f, v := range m {
			vals = append(vals, f+"="+v)
		}
		sort.Strings(vals)
	case "zset":
		var zs []redis.Z
		zs, err = rc.ZRangeWithScores(ctx, k, 0, -1).Result()
		for _, z := range zs {
			vals = append(vals, fmt.Sprintf("%v=%v", z.Member, z.Score))
		}
	case "stream":
		var xs []redis.XMessage
		xs, err = rc.XRange(ctx, k, "-", "+").Result()
		for _, x := range xs {
			vals = append(vals, fmt.Sprintf("%s %v", x.ID, x.Values))
		}
	default:
		tb.Fatalf("key %q: type %s not compared", k, typ)
	}
	if err != nil {
		tb.Fatalf("read %q: %v", k, err)
	}
	return typ + ":" + strings.Join(vals, "\x1f")
}

// Fingerprint reads the tenant's data as the superuser and Redis admin.
func (t *Tenant) Fingerprint(tb testing.TB) Fingerprint {
	tb.Helper()
	return Take(tb, t.Super(tb), t.Admin(tb))
}

// Take reads a Fingerprint of the public schema through db (a connection
// that bypasses row-level security) and of Redis through rc.
func Take(tb testing.TB, db *pgx.Conn, rc *redis.Client) Fingerprint {
	tb.Helper()
	ctx := context.Background()
	f := Fingerprint{Tables: map[string][]string{}, Keys: map[string]Key{}}
	rows, err := db.Query(ctx, `SELECT c.relname,
		(SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY array_position(i.indkey, a.attnum))
		   FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
		  WHERE i.indrelid = c.oid AND i.indisprimary)
		FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' ORDER BY 1`)
	if err != nil {
		tb.Fatal(err)
	}
	type table struct{ name, pk string }
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (table, error) {
		var t table
		var pk *string
		err := r.Scan(&t.name, &pk)
		if pk == nil {
			t.pk = "t::text"
		} else {
			t.pk = *pk
		}
		return t, err
	})
	if err != nil {
		tb.Fatal(err)
	}
	for _, tab := range tables {
		rows, err := db.Query(ctx, fmt.Sprintf(`SELECT t::text FROM public.%s t ORDER BY %s`, pgx.Identifier{tab.name}.Sanitize(), tab.pk))
		if err != nil {
			tb.Fatal(err)
		}
		vals, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			tb.Fatal(err)
		}
		f.Tables[tab.name] = vals
	}
	var cursor uint64
	for {
		keys, next, err := rc.Scan(ctx, cursor, "", 1000).Result()
		if err != nil {
			tb.Fatal(err)
		}
		for _, k := range keys {
			typ, err := rc.Type(ctx, k).Result()
			if err != nil {
				tb.Fatal(err)
			}
			payload := value(tb, rc, k, typ)
			ttl, err := rc.Do(ctx, "PTTL", k).Int64()
			if err != nil {
				tb.Fatal(err)
			}
			f.Keys[k] = Key{Type: typ, Value: payload, HasTTL: ttl >= 0}
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	return f
}

// Diff describes how got differs from want, table by table and key by key;
// empty when they are equal.
func Diff(want, got Fingerprint) []string {
	var out []string
	names := map[string]bool{}
	for n := range want.Tables {
		names[n] = true
	}
	for n := range got.Tables {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		w, g := want.Tables[n], got.Tables[n]
		if len(w) != len(g) {
			out = append(out, fmt.Sprintf("table %s: got %d rows; want %d", n, len(g), len(w)))
			continue
		}
		for i := range w {
			if w[i] != g[i] {
				out = append(out, fmt.Sprintf("table %s row %d: got %s; want %s", n, i, g[i], w[i]))
			}
		}
	}
	for k, w := range want.Keys {
		g, ok := got.Keys[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("key %q: missing", k))
		case g != w:
			out = append(out, fmt.Sprintf("key %q: got %s (ttl %v); want %s (ttl %v)",
				k, short(g.Value), g.HasTTL, short(w.Value), w.HasTTL))
		}
	}
	for k := range got.Keys {
		if _, ok := want.Keys[k]; !ok {
			out = append(out, fmt.Sprintf("key %q: not in the backup", k))
		}
	}
	return out
}

func short(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
