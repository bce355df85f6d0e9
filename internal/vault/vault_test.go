package vault_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/testenv"
	"github.com/tenantctl/tenantctl/internal/vault"
)

func TestProvisionIsIdempotent(t *testing.T) {
	e := newEnv(t)
	s := e.start("acme", false)

	before := e.writes.Load()
	if n := e.converge(s); n != 0 {
		t.Errorf("second converge: got %d steps changed; want 0", n)
	}
	for _, fn := range []func() (bool, error){
		func() (bool, error) { return ensureIdentity(context.Background(), e.client, s.names) },
		func() (bool, error) {
			return ensureCredentials(context.Background(), e.client, s.names, s.pgAddr(), s.redisAddr())
		},
	} {
		changed, err := fn()
		e.check(err)
		if changed {
			t.Errorf("converged tenant: got changed=true; want false")
		}
	}
	if w := e.writes.Load() - before; w != 0 {
		t.Errorf("second converge: got %d Vault writes; want 0", w)
	}

	// The bootstrap passwords no longer work: Vault rotated both roots.
	if c, err := pgConnect(s, "postgres", s.pgPassword); err == nil {
		c.Close(context.Background())
		t.Errorf("postgres superuser with the bootstrap password: connected; want refused after root rotation")
	}
	if err := e.redisAs(s, s.names.RedisAdminUser, s.redisPassword).Ping(context.Background()).Err(); err == nil {
		t.Errorf("redis admin with the bootstrap password: got PONG; want refused after root rotation")
	}

	// Bootstrap is never overwritten.
	sec, err := e.root.KVv2("tenantctl").GetMetadata(context.Background(), s.names.BootstrapPath)
	if err != nil {
		t.Fatal(err)
	}
	if sec.CurrentVersion != 1 {
		t.Errorf("bootstrap secret: got version %d; want 1", sec.CurrentVersion)
	}

	// A drifted policy is put back.
	if err := e.root.Sys().PutPolicy(s.names.IdentityApp, `path "*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	changed, err := e.client.EnsurePolicies(context.Background(), s.names)
	e.check(err)
	if !changed {
		t.Errorf("EnsurePolicy after drift: got changed=false; want true")
	}
}

func TestPostgresRoles(t *testing.T) {
	e := newEnv(t)
	s := e.startTenant("acme")
	ctx := context.Background()

	mUser, mPass, mLease := e.creds(s.names.DBRoleMigrate)
	mig := e.mustPG(s, mUser, mPass)
	for _, q := range []string{
		`CREATE TABLE widgets (id bigserial PRIMARY KEY, name text NOT NULL)`,
		`INSERT INTO widgets (name) VALUES ('from-migrate')`,
	} {
		if _, err := mig.Exec(ctx, q); err != nil {
			t.Fatalf("migrate: %s: %v", q, err)
		}
	}
	var owner string
	if err := e.observe(s).QueryRow(ctx, `SELECT tableowner FROM pg_tables WHERE tablename = 'widgets'`).Scan(&owner); err != nil {
		t.Fatal(err)
	}
	if owner != s.names.OwnerRole {
		t.Errorf("owner of a table migrate created: got %q; want %q", owner, s.names.OwnerRole)
	}

	for _, role := range []string{s.names.DBRoleApp, s.names.DBRoleWorker} {
		user, pass, _ := e.creds(role)
		app := e.mustPG(s, user, pass)
		for _, q := range []string{
			`INSERT INTO widgets (name) VALUES ('from-app')`,
			`SELECT count(*) FROM widgets`,
			`UPDATE widgets SET name = 'renamed' WHERE name = 'from-app'`,
			`DELETE FROM widgets WHERE name = 'renamed'`,
		} {
			if _, err := app.Exec(ctx, q); err != nil {
				t.Errorf("%s: %s: %v; want allowed", role, q, err)
			}
		}
		for _, q := range []string{
			`CREATE TABLE evil (id int)`,
			`DROP TABLE widgets`,
			`ALTER TABLE widgets ADD COLUMN x int`,
			`CREATE SCHEMA evil`,
			`TRUNCATE widgets`,
		} {
			if _, err := app.Exec(ctx, q); err == nil {
				t.Errorf("%s: %s: succeeded; want permission denied", role, q)
			}
		}
	}

	// Revoking the migrate lease drops its user; the tables stay.
	if err := e.root.Sys().Revoke(mLease); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := e.observe(s).QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname = $1`, mUser).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("migrate user after revocation: got %d roles named %s; want 0", n, mUser)
	}
	if err := e.observe(s).QueryRow(ctx, `SELECT count(*) FROM widgets`).Scan(&n); err != nil {
		t.Errorf("widgets after revoking migrate: %v; want the table to remain", err)
	}
}

func TestRedisRoles(t *testing.T) {
	e := newEnv(t)
	s := e.startTenant("acme")
	ctx := context.Background()
	admin := e.redisAs(s, s.redis.AdminUser, s.redis.AdminPassword)
	for _, role := range []string{s.names.RedisRoleApp, s.names.RedisRoleWorker} {
		user, pass, _ := e.creds(role)
		c := e.redisAs(s, user, pass)
		for _, cmd := range [][]any{
			{"SET", "k", "v"}, {"GET", "k"}, {"DEL", "k"},
			{"LPUSH", "jobs", "a"}, {"RPOP", "jobs"},
			{"XADD", "events", "*", "f", "v"}, {"XRANGE", "events", "-", "+"},
			{"EXPIRE", "events", "60"}, {"PUBLISH", "ch", "hi"},
		} {
			if err := c.Do(ctx, cmd...).Err(); err != nil {
				t.Errorf("%s: %v: %v; want allowed", role, cmd, err)
			}
		}
		for _, cmd := range [][]any{
			{"CONFIG", "GET", "*"}, {"FLUSHALL"}, {"FLUSHDB"}, {"ACL", "LIST"}, {"ACL", "SETUSER", "x"},
			{"SHUTDOWN", "NOSAVE"}, {"DEBUG", "SLEEP", "0"}, {"KEYS", "*"}, {"MONITOR"},
		} {
			if err := c.Do(ctx, cmd...).Err(); err == nil {
				t.Errorf("%s: %v: succeeded; want refused", role, cmd)
			}
			// The ACL itself refuses it, whatever the server's settings.
			dry := append([]any{"ACL", "DRYRUN", user}, cmd...)
			if res, err := admin.Do(ctx, dry...).Text(); err != nil || res == "OK" {
				t.Errorf("%s: ACL DRYRUN %v: got %q, %v; want a permission refusal", role, cmd, res, err)
			}
		}
	}
	if err := e.redisAs(s, s.redis.AdminUser, s.redis.AdminPassword).Ping(ctx).Err(); err != nil {
		t.Fatalf("redis still up after the denied commands: %v", err)
	}
}

// component returns tenant's component name.
func component(t testing.TB, name string) tenant.Component {
	t.Helper()
	for _, c := range tenant.Components() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no component %s", name)
	return tenant.Component{}
}

// TestWorkloadIdentity logs in with Nomad-shaped workload identities to each
// component's JWT role: each is bound to the tenant's namespace and to its
// own job (the migrate role also to the migrate job's dispatched children),
// and its token reads only that component's paths. The app's identity is
// refused the migrate credentials and the bootstrap secret.
func TestWorkloadIdentity(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acme := e.startTenant("acme")
	n := acme.names
	others := []string{"globex", "acme-corp"}
	for _, id := range others {
		_, err := ensureIdentity(ctx, e.client, mustNames(t, id))
		e.check(err)
	}

	login := func(ns, job, role string) (*vaultapi.Client, error) {
		jwt, err := e.signer.Mint(workload{Namespace: ns, JobID: job, Task: "task"})
		if err != nil {
			t.Fatal(err)
		}
		c, err := vaultapi.NewClient(&vaultapi.Config{Address: e.vault.Addr})
		if err != nil {
			t.Fatal(err)
		}
		c.SetToken("")
		sec, err := c.Logical().Write("auth/jwt-nomad/login", map[string]any{"role": role, "jwt": jwt})
		if err != nil {
			return nil, err
		}
		e.addSecret(sec.Auth.ClientToken)
		if !sec.Auth.Renewable || sec.Auth.LeaseDuration != 1800 {
			t.Errorf("token: got renewable=%v lease=%ds; want a renewable 1800s period", sec.Auth.Renewable, sec.Auth.LeaseDuration)
		}
		if !slices.Contains(sec.Auth.TokenPolicies, role) || slices.ContainsFunc(sec.Auth.TokenPolicies, func(p string) bool {
			return p != role && p != "default"
		}) {
			t.Errorf("token of role %s: got policies %v; want only %s and default", role, sec.Auth.TokenPolicies, role)
		}
		c.SetToken(sec.Auth.ClientToken)
		return c, nil
	}
	denied := func(err error) bool {
		var re *vaultapi.ResponseError
		return errors.As(err, &re) && re.StatusCode == 403
	}
	bootstrap := "tenantctl/data/" + n.BootstrapPath
	creds := func(role string) string { return "database/creds/" + role }
	// What each component may read; every other path of the tenant is
	// refused to it.
	all := []string{creds(n.DBRoleApp), creds(n.DBRoleWorker), creds(n.DBRoleMigrate), creds(n.RedisRoleApp), creds(n.RedisRoleWorker), bootstrap}
	allowed := map[string][]string{
		"postgres": {bootstrap},
		"redis":    {bootstrap},
		"migrate":  {creds(n.DBRoleMigrate)},
		"app":      {creds(n.DBRoleApp), creds(n.RedisRoleApp)},
		"worker":   {creds(n.DBRoleWorker), creds(n.RedisRoleWorker)},
	}
	for _, comp := range tenant.Components() {
		job := n.Job(comp)
		if comp.Stage == tenant.StageMigrate {
			// What a real Nomad names a dispatched run.
			job += "/dispatch-1764633600-0a1b2c3d"
		}
		c, err := login(n.Namespace, job, n.Identity(comp))
		if err != nil {
			t.Errorf("login as acme's %s (job %s) with role %s: %v; want allowed", comp.Name, job, n.Identity(comp), err)
			continue
		}
		for _, p := range all {
			sec, err := c.Logical().Read(p)
			if slices.Contains(allowed[comp.Name], p) {
				if err != nil || sec == nil {
					t.Errorf("acme's %s reads %s: %v; want allowed", comp.Name, p, err)
				} else if pw, ok := sec.Data["password"].(string); ok {
					e.addSecret(pw)
				}
			} else if !denied(err) {
				t.Errorf("acme's %s reads %s: got %v; want 403", comp.Name, p, err)
			}
		}
		for _, id := range others {
			o := mustNames(t, id)
			for _, p := range []string{creds(o.DBRoleApp), creds(o.RedisRoleApp), "tenantctl/data/" + o.BootstrapPath} {
				if _, err := c.Logical().Read(p); !denied(err) {
					t.Errorf("acme's %s reads %s: got %v; want 403", comp.Name, p, err)
				}
			}
		}
		if _, err := c.Logical().List("database/creds/"); !denied(err) {
			t.Errorf("acme's %s lists database/creds/: got %v; want 403", comp.Name, err)
		}
		for _, p := range []string{"database/roles/" + n.DBRoleApp, "sys/policies/acl/" + n.Identity(comp), "tenantctl/metadata/" + n.BootstrapPath} {
			if _, err := c.Logical().Read(p); !denied(err) {
				t.Errorf("acme's %s reads %s: got %v; want 403", comp.Name, p, err)
			}
		}
	}

	// The app's identity may not log in with any other component's role:
	// not migrate's (the schema owner), not the data services' (the
	// bootstrap secret).
	app, migrate := component(t, "app"), component(t, "migrate")
	for _, comp := range tenant.Components() {
		if comp.Name == "app" {
			continue
		}
		if _, err := login(n.Namespace, n.Job(app), n.Identity(comp)); err == nil {
			t.Errorf("acme's app logs in with %s's role %s: succeeded; want refused", comp.Name, n.Identity(comp))
		}
	}
	// Bound to the job, exactly: not a look-alike job, not a child of
	// another job, not the migrate job's id with something after it that is
	// not a dispatch.
	for _, job := range []string{n.Job(app) + "x", n.Job(app) + "/dispatch-1-2", n.Job(migrate) + "-evil", "x" + n.Job(migrate) + "/dispatch-1-2"} {
		for _, comp := range []tenant.Component{app, migrate} {
			if _, err := login(n.Namespace, job, n.Identity(comp)); err == nil {
				t.Errorf("job %s logs in with %s's role: succeeded; want refused", job, comp.Name)
			}
		}
	}
	// Another tenant's identity, even one whose id starts with acme's, may
	// not use acme's roles, and with its own may not read acme's paths.
	ac := mustNames(t, "acme-corp")
	if _, err := login(ac.Namespace, n.Job(app), n.Identity(app)); err == nil {
		t.Errorf("acme-corp's identity logs in with acme's app role: succeeded; want refused")
	}
	g := mustNames(t, "globex")
	gc, err := login(g.Namespace, g.Job(app), g.Identity(app))
	if err != nil {
		t.Fatalf("login with globex's app identity: %v", err)
	}
	if _, err := gc.Logical().Read(creds(n.DBRoleApp)); !denied(err) {
		t.Errorf("globex reads acme's creds: got %v; want 403", err)
	}
	// A token for the wrong audience is refused.
	jwt, _ := e.signer.Mint(workload{Namespace: n.Namespace, JobID: n.Job(app), Task: "app", Audience: []string{"consul.io"}})
	anon, _ := vaultapi.NewClient(&vaultapi.Config{Address: e.vault.Addr})
	anon.SetToken("")
	if _, err := anon.Logical().Write("auth/jwt-nomad/login", map[string]any{"role": n.Identity(app), "jwt": jwt}); err == nil {
		t.Errorf("login with audience consul.io: succeeded; want refused")
	}

	// Teardown removes the identities acme's logins created, and only
	// those.
	_, err = e.client.Teardown(ctx, n)
	e.check(err)
	aliases, err := e.root.Logical().List("identity/entity-alias/id")
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, raw := range aliases.Data["key_info"].(map[string]any) {
		left = append(left, raw.(map[string]any)["name"].(string))
	}
	if len(left) != 1 || !strings.Contains(left[0], ":"+g.Namespace+":") {
		t.Errorf("identity aliases after acme's teardown: got %v; want globex's only", left)
	}
}

// TestSharedRoleIsReplaced: a tenant provisioned before per-component
// identities has one shared policy and JWT role; the next up deletes them
// (the converged check reports them first), and teardown deletes them too.
func TestSharedRoleIsReplaced(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	n := mustNames(t, "old")
	_, err := ensureIdentity(ctx, e.client, n)
	e.check(err)
	if err := e.root.Sys().PutPolicy(n.SharedPolicy, `path "database/creds/old--migrate" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.root.Logical().Write("auth/jwt-nomad/role/"+n.SharedJWTRole, map[string]any{
		"role_type": "jwt", "bound_audiences": []string{"vault.io"}, "user_claim": "sub",
		"bound_claims": map[string]any{"nomad_namespace": n.Namespace}, "token_policies": []string{n.SharedPolicy},
	}); err != nil {
		t.Fatal(err)
	}
	ro := e.client.ReadOnly()
	for what, fn := range map[string]func() (bool, error){
		"policies":  func() (bool, error) { return ro.EnsurePolicies(ctx, n) },
		"jwt roles": func() (bool, error) { return ro.EnsureJWTRoles(ctx, n) },
	} {
		if _, err := fn(); !errors.Is(err, vault.ErrWouldWrite) {
			t.Errorf("read-only %s with the shared one present: got %v; want ErrWouldWrite", what, err)
		}
	}
	changed, err := ensureIdentity(ctx, e.client, n)
	e.check(err)
	if !changed {
		t.Errorf("up with the shared role present: got no change; want it deleted")
	}
	for _, p := range []string{"sys/policies/acl/" + n.SharedPolicy, "auth/jwt-nomad/role/" + n.SharedJWTRole} {
		if sec, err := e.root.Logical().Read(p); err != nil || sec != nil {
			t.Errorf("%s after up: got %v, %v; want gone", p, sec != nil, err)
		}
	}
}

func TestRotate(t *testing.T) {
	e := newEnv(t)
	s := e.startTenant("acme")
	ctx := context.Background()

	var rootHash string
	hash := func() string {
		var h string
		if err := e.observe(s).QueryRow(ctx, `SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'`).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	redisAdminHash := func() string {
		v, err := e.redisAs(s, s.redis.AdminUser, s.redis.AdminPassword).Do(ctx, "ACL", "GETUSER", s.names.RedisAdminUser).Slice()
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(v); i += 2 {
			if v[i] == "passwords" {
				return strings.Join(strings.Fields(strings.Trim(strings.TrimSpace(fmtAny(v[i+1])), "[]")), ",")
			}
		}
		t.Fatalf("ACL GETUSER: no passwords in %v", v)
		return ""
	}
	rootHash = hash()
	redisHash := redisAdminHash()

	pgUser, pgPass, _ := e.creds(s.names.DBRoleApp)
	rdUser, rdPass, _ := e.creds(s.names.RedisRoleApp)
	e.mustPG(s, pgUser, pgPass)
	if err := e.redisAs(s, rdUser, rdPass).Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	rep, err := rotate(ctx, e.client, s.names)
	e.check(err)
	if len(rep.Rotated) != 2 {
		t.Errorf("rotated: got %v; want both connections", rep.Rotated)
	}
	revoked := map[string]int{}
	for _, l := range rep.Leases {
		revoked[l.Role] = l.Revoked
	}
	if revoked[s.names.DBRoleApp] != 1 || revoked[s.names.RedisRoleApp] != 1 || revoked[s.names.DBRoleWorker] != 0 {
		t.Errorf("revoked: got %v; want 1 app and 1 redis-app lease", revoked)
	}

	if hash() == rootHash {
		t.Errorf("postgres root password: unchanged after rotate; want rotated")
	}
	if redisAdminHash() == redisHash {
		t.Errorf("redis admin password: unchanged after rotate; want rotated")
	}
	if c, err := pgConnect(s, pgUser, pgPass); err == nil {
		c.Close(ctx)
		t.Errorf("old postgres app creds: connected; want refused")
	}
	if err := e.redisAs(s, rdUser, rdPass).Ping(ctx).Err(); err == nil {
		t.Errorf("old redis app creds: PONG; want refused")
	}
	// New credentials work, so Vault holds the new roots.
	pgUser, pgPass, _ = e.creds(s.names.DBRoleApp)
	e.mustPG(s, pgUser, pgPass)
	rdUser, rdPass, _ = e.creds(s.names.RedisRoleApp)
	if err := e.redisAs(s, rdUser, rdPass).Ping(ctx).Err(); err != nil {
		t.Errorf("new redis creds: %v", err)
	}
}

func TestTeardownLeavesNothingAndSparesPrefixTenant(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acme := e.startTenant("acme")
	corp := e.startTenant("acme-corp")
	for _, s := range []*tenantStack{acme, corp} {
		e.creds(s.names.DBRoleApp)
		e.creds(s.names.DBRoleMigrate)
		e.creds(s.names.RedisRoleWorker)
	}
	corpUser, corpPass, _ := e.creds(corp.names.DBRoleApp)

	changed, err := e.client.Teardown(ctx, acme.names)
	e.check(err)
	if !changed {
		t.Errorf("Teardown: got changed=false; want true")
	}
	before := e.writes.Load()
	changed, err = e.client.Teardown(ctx, acme.names)
	e.check(err)
	if changed || e.writes.Load() != before {
		t.Errorf("second Teardown: got changed=%v and %d writes; want no change", changed, e.writes.Load()-before)
	}

	// The keys to acme's data stay: its connections (only they know the
	// rotated root passwords) and its bootstrap secret.
	kept := []string{"database/config/" + acme.names.DBConnection, "database/config/" + acme.names.RedisConnection,
		"tenantctl/metadata/tenants/acme/"}
	if got := e.vaultObjectsOf("acme--"); !slices.Equal(sorted(got), sorted(kept)) {
		t.Errorf("Vault objects of acme after teardown: got %v; want only the kept keys %v", got, kept)
	}
	if got := e.dynamicPGRoles(acme); len(got) != 0 {
		t.Errorf("Postgres users of acme after teardown: %v; want none", got)
	}
	if got := e.dynamicRedisUsers(acme); len(got) != 0 {
		t.Errorf("Redis users of acme after teardown: %v; want none", got)
	}

	// acme-corp is untouched: 11 credential roles (app, worker, migrate
	// and the three backup jobs' in Postgres; app, worker and the backup
	// jobs' in Redis), 2 connections, 8 jwt roles, 8 policies, the
	// bootstrap secret and 3 lease prefixes.
	if got := e.vaultObjectsOf("acme-corp--"); len(got) != 33 {
		t.Errorf("Vault objects of acme-corp: got %d %v; want 33", len(got), got)
	}
	if got := e.dynamicPGRoles(corp); len(got) != 3 {
		t.Errorf("Postgres users of acme-corp: got %v; want 3", got)
	}
	if got := e.dynamicRedisUsers(corp); len(got) != 1 {
		t.Errorf("Redis users of acme-corp: got %v; want 1", got)
	}
	e.mustPG(corp, corpUser, corpPass)
	if n := e.converge(corp); n != 0 {
		t.Errorf("converge acme-corp after acme's teardown: %d changes; want 0", n)
	}

	// acme comes back on its kept data: the kept connections still log in
	// (nothing is re-keyed) and issue working credentials.
	e.converge(acme)
	user, pass, _ := e.creds(acme.names.DBRoleApp)
	e.mustPG(acme, user, pass)
	ru, rp, _ := e.creds(acme.names.RedisRoleApp)
	if err := e.redisAs(acme, ru, rp).Ping(ctx).Err(); err != nil {
		t.Errorf("redis credentials of acme after teardown and converge: %v; want working", err)
	}

	// PurgeKeys (down --purge-data) deletes the keys too, and only acme's.
	_, err = e.client.Teardown(ctx, acme.names)
	e.check(err)
	changed, err = e.client.PurgeKeys(ctx, acme.names)
	e.check(err)
	if !changed {
		t.Errorf("PurgeKeys: got changed=false; want true")
	}
	before = e.writes.Load()
	if changed, err := e.client.PurgeKeys(ctx, acme.names); err != nil || changed || e.writes.Load() != before {
		t.Errorf("second PurgeKeys: got changed=%v, %v, %d writes; want no change", changed, err, e.writes.Load()-before)
	}
	if got := e.vaultObjectsOf("acme--"); len(got) != 0 {
		t.Errorf("Vault objects of acme after PurgeKeys: %v; want none", got)
	}
	if got := e.vaultObjectsOf("acme-corp--"); len(got) != 33 {
		t.Errorf("Vault objects of acme-corp after acme's PurgeKeys: got %d %v; want 33", len(got), got)
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// vaultObjectsOf lists every Vault object and lease whose name starts with
// prefix.
func (e *env) vaultObjectsOf(prefix string) []string {
	e.t.Helper()
	var out []string
	list := func(path string) []string {
		sec, err := e.root.Logical().List(path)
		if err != nil {
			e.t.Fatalf("list %s: %v", path, err)
		}
		if sec == nil {
			return nil
		}
		var keys []string
		for _, k := range sec.Data["keys"].([]any) {
			keys = append(keys, k.(string))
		}
		return keys
	}
	for _, p := range []string{"database/roles", "database/config", "auth/jwt-nomad/role", "sys/policies/acl", "sys/leases/lookup/database/creds"} {
		for _, k := range list(p) {
			if strings.HasPrefix(k, prefix) {
				out = append(out, p+"/"+k)
			}
		}
	}
	id := strings.TrimSuffix(prefix, "--")
	for _, k := range list("tenantctl/metadata/tenants") {
		if k == id+"/" {
			out = append(out, "tenantctl/metadata/tenants/"+k)
		}
	}
	return out
}

func TestErrorsAndLogsCarryNoSecret(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	n := mustNames(t, "initech")
	_, err := e.client.EnsureBootstrap(ctx, n)
	e.check(err)
	sec, err := e.root.KVv2("tenantctl").Get(ctx, n.BootstrapPath)
	if err != nil {
		t.Fatal(err)
	}
	e.addSecret(sec.Data[vault.PostgresPasswordKey].(string), sec.Data[vault.RedisPasswordKey].(string))

	// A Postgres that does not know the bootstrap password, and a Redis
	// without the admin user: both connections fail.
	for _, addr := range []string{"127.0.0.1:1", pgAddrOf(testenv.StartPostgres(t))} {
		changed, err := e.client.EnsurePostgres(ctx, n, addr)
		if err == nil || changed {
			t.Fatalf("EnsurePostgres(%s) with a wrong password: got changed=%v err=%v; want an error", addr, changed, err)
		}
		e.noteErr(err)
	}
	r := testenv.StartRedis(t)
	changed, err := e.client.EnsureRedis(ctx, n, r.Addr)
	if err == nil || changed {
		t.Fatalf("EnsureRedis with an unknown admin: got changed=%v err=%v; want an error", changed, err)
	}
	e.noteErr(err)
	t.Logf("errors: %v", e.errs)
}

func TestClusterInitDryRunAndIdempotence(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	jwks := "" // reuse the URL cluster init wrote
	have, err := e.root.Logical().Read("auth/jwt-nomad/config")
	if err != nil {
		t.Fatal(err)
	}
	jwks = have.Data["jwks_url"].(string)

	before := e.writes.Load()
	changes, err := e.client.EnsureCluster(ctx, vault.ClusterConfig{JWKSURL: jwks}, false)
	e.check(err)
	if len(changes) != 0 || e.writes.Load() != before {
		t.Errorf("second cluster init: got %v and %d writes; want no changes", changes, e.writes.Load()-before)
	}

	other := vault.New(e.vault.Client(t), vault.Mounts{JWT: "jwt-other", KV: "kv-other", Database: "db-other"}, nil)
	changes, err = other.EnsureCluster(ctx, vault.ClusterConfig{JWKSURL: jwks, DefaultRole: "x"}, true)
	e.check(err)
	if len(changes) != 4 {
		t.Errorf("dry run on new mounts: got %v; want 4 changes", changes)
	}
	auths, _ := e.root.Sys().ListAuth()
	mounts, _ := e.root.Sys().ListMounts()
	if _, ok := auths["jwt-other/"]; ok {
		t.Errorf("dry run enabled jwt-other/")
	}
	if _, ok := mounts["kv-other/"]; ok {
		t.Errorf("dry run enabled kv-other/")
	}

	// A KV version 1 mount at the KV path is refused, not replaced.
	if err := e.root.Sys().Mount("kv-one", &vaultapi.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	one := vault.New(e.vault.Client(t), vault.Mounts{KV: "kv-one"}, nil)
	if _, err := one.EnsureCluster(ctx, vault.ClusterConfig{JWKSURL: jwks}, false); err == nil {
		t.Errorf("cluster init over a KV v1 mount: succeeded; want an error")
	}
}

func TestPreflight(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.check(e.client.Preflight(ctx))

	// A token with only the tenant policy fails the capability check.
	n := mustNames(t, "acme")
	_, err := e.client.EnsurePolicies(ctx, n)
	e.check(err)
	sec, err := e.root.Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{n.IdentityApp}})
	if err != nil {
		t.Fatal(err)
	}
	e.addSecret(sec.Auth.ClientToken)
	api := e.vault.Client(t)
	api.SetToken(sec.Auth.ClientToken)
	err = vault.New(api, vault.Mounts{}, nil).Preflight(ctx, n)
	if err == nil {
		t.Fatalf("preflight with a workload token: got nil; want missing capabilities")
	}
	e.noteErr(err)

	// Missing mounts.
	for _, m := range []vault.Mounts{{JWT: "nowhere"}, {KV: "nowhere"}, {Database: "nowhere"}} {
		err := vault.New(e.vault.Client(t), m, nil).Preflight(ctx)
		if err == nil || !strings.Contains(exit.HintOf(err), "cluster init") {
			t.Errorf("preflight with mounts %+v: got %v; want an error suggesting cluster init", m, err)
		}
	}
}

func fmtAny(v any) string {
	switch x := v.(type) {
	case []any:
		var parts []string
		for _, p := range x {
			parts = append(parts, fmtAny(p))
		}
		return strings.Join(parts, " ")
	case string:
		return x
	default:
		return ""
	}
}

func pgAddrOf(p *testenv.Postgres) string { return fmt.Sprintf("%s:%d", p.Host, p.Port) }

// TestTeardownAfterDataServicesAreGone is `down`'s usual order: the jobs are
// stopped first, so Vault can no longer drop the users; their leases are
// dropped from Vault only, and nothing of the tenant is left in Vault once
// its keys are purged too.
func TestTeardownAfterDataServicesAreGone(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := e.startTenant("acme")
	e.creds(s.names.DBRoleApp)
	e.creds(s.names.DBRoleWorker)

	// Vault loses its Postgres: its sessions end and its root stops working.
	obs := e.observe(s)
	for _, q := range []string{
		`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'postgres' AND pid <> pg_backend_pid()`,
		`ALTER ROLE postgres WITH PASSWORD 'gone-gone-gone-gone'`,
	} {
		if _, err := obs.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	changed, err := e.client.Teardown(ctx, s.names)
	e.check(err)
	t.Logf("teardown took %v", time.Since(start))
	if !changed {
		t.Errorf("Teardown: got changed=false; want true")
	}
	_, err = e.client.PurgeKeys(ctx, s.names)
	e.check(err)
	if got := e.vaultObjectsOf("acme--"); len(got) != 0 {
		t.Errorf("Vault objects of acme after teardown and PurgeKeys: %v; want none", got)
	}
	if !strings.Contains(e.logs.String(), "dropping them from Vault only") {
		t.Errorf("logs: no warning about leases dropped from Vault only")
	}
}

// TestRotateAfterRedisRestart: when the tenant's Redis restarts without its
// saved ACLs (a restart within the save interval, a lost ACL file, the first
// start of a Redis job older than the saved file), it comes back with the
// bootstrap admin password and without the dynamic users. Rotate notices that
// Vault's root no longer works, reseeds it from the bootstrap secret and
// rotates.
func TestRotateAfterRedisRestart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := e.startTenant("acme")
	e.creds(s.names.RedisRoleApp)

	// What a restart does to the ACL state.
	admin := e.redisAs(s, s.redis.AdminUser, s.redis.AdminPassword)
	for _, u := range e.dynamicRedisUsers(s) {
		if err := admin.Do(ctx, "ACL", "DELUSER", u).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, cmd := range [][]any{
		{"ACL", "SETUSER", s.names.RedisAdminUser, "resetpass", ">" + s.redisPassword},
		{"CLIENT", "KILL", "USER", s.names.RedisAdminUser},
	} {
		if err := admin.Do(ctx, cmd...).Err(); err != nil {
			t.Fatal(err)
		}
	}

	rep, err := rotate(ctx, e.client, s.names)
	e.check(err)
	if len(rep.Reseeded) != 1 || rep.Reseeded[0] != s.names.RedisConnection || len(rep.Rotated) != 2 {
		t.Errorf("rotate report: got %+v; want the redis connection reseeded and both rotated", rep)
	}
	if err := e.redisAs(s, s.names.RedisAdminUser, s.redisPassword).Ping(ctx).Err(); err == nil {
		t.Errorf("redis admin with the bootstrap password after rotate: PONG; want refused")
	}
	user, pass, _ := e.creds(s.names.RedisRoleApp)
	if err := e.redisAs(s, user, pass).Ping(ctx).Err(); err != nil {
		t.Errorf("new redis creds after reseed: %v", err)
	}
}

// TestReadOnly runs the Ensure… methods on a read-only copy of the client:
// on a new tenant every one that would write says so with ErrWouldWrite and
// nothing reaches Vault; on a converged tenant they succeed with no change;
// a missing connection is reported before the database bootstrap, which
// would otherwise write to the tenant's Postgres.
func TestReadOnly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ro := e.client.ReadOnly()

	fresh := mustNames(t, "ro-new")
	before := e.writes.Load()
	for what, fn := range map[string]func() (bool, error){
		"bootstrap": func() (bool, error) { return ro.EnsureBootstrap(ctx, fresh) },
		"policy":    func() (bool, error) { return ro.EnsurePolicies(ctx, fresh) },
		"jwt role":  func() (bool, error) { return ro.EnsureJWTRoles(ctx, fresh) },
	} {
		changed, err := fn()
		if !errors.Is(err, vault.ErrWouldWrite) || changed {
			t.Errorf("read-only %s of a new tenant: got changed=%v, %v; want ErrWouldWrite", what, changed, err)
		}
	}
	if w := e.writes.Load() - before; w != 0 {
		t.Errorf("read-only Ensure… on a new tenant: got %d Vault writes; want 0", w)
	}
	if err := ro.Preflight(ctx, fresh); err != nil {
		t.Errorf("read-only preflight (sys/capabilities-self is a read sent as a write): %v", err)
	}
	if _, err := ro.Teardown(ctx, fresh); err != nil && !errors.Is(err, vault.ErrWouldWrite) {
		t.Errorf("read-only teardown: got %v; want nil or ErrWouldWrite", err)
	}

	s := e.startTenant("ro-done")
	before = e.writes.Load()
	for what, fn := range map[string]func() (bool, error){
		"bootstrap": func() (bool, error) { return ro.EnsureBootstrap(ctx, s.names) },
		"policy":    func() (bool, error) { return ro.EnsurePolicies(ctx, s.names) },
		"jwt role":  func() (bool, error) { return ro.EnsureJWTRoles(ctx, s.names) },
		"postgres":  func() (bool, error) { return ro.EnsurePostgres(ctx, s.names, s.pgAddr()) },
		"redis":     func() (bool, error) { return ro.EnsureRedis(ctx, s.names, s.redisAddr()) },
	} {
		if changed, err := fn(); err != nil || changed {
			t.Errorf("read-only %s of a converged tenant: got changed=%v, %v; want no change", what, changed, err)
		}
	}
	if w := e.writes.Load() - before; w != 0 {
		t.Errorf("read-only Ensure… on a converged tenant: got %d Vault writes; want 0", w)
	}

	// Without its connection, EnsurePostgres would bootstrap the database with
	// the bootstrap password (refused by now: Vault rotated the root) before
	// creating the connection; read-only, it stops before.
	if _, err := e.root.Logical().Delete("database/config/" + s.names.DBConnection); err != nil {
		t.Fatal(err)
	}
	if changed, err := ro.EnsurePostgres(ctx, s.names, s.pgAddr()); !errors.Is(err, vault.ErrWouldWrite) || changed {
		t.Errorf("read-only postgres without its connection: got changed=%v, %v; want ErrWouldWrite before the database bootstrap", changed, err)
	}

	// A component's role loosened to the namespace alone (any job of the
	// tenant could log in with it) is a difference.
	if _, err := e.root.Logical().Write("auth/jwt-nomad/role/"+s.names.IdentityMigrate, map[string]any{
		"role_type": "jwt", "bound_claims": map[string]any{"nomad_namespace": s.names.Namespace},
	}); err != nil {
		t.Fatal(err)
	}
	if changed, err := ro.EnsureJWTRoles(ctx, s.names); !errors.Is(err, vault.ErrWouldWrite) || changed {
		t.Errorf("read-only jwt roles with migrate's bound to the namespace only: got changed=%v, %v; want ErrWouldWrite", changed, err)
	}
}
