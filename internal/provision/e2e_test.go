package provision_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// TestFullCycleTwoTenants runs up → status → plan → rotate → migrate → down
// on acme and acme-corp, whose names share a prefix, and checks that
// removing acme leaves acme-corp healthy and whole.
func TestFullCycleTwoTenants(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ids := []string{"acme", "acme-corp"}
	for _, id := range ids {
		h.hooksFor(id)
	}
	for _, id := range ids {
		res := h.mustUp(id)
		if res.NoChanges || !res.Changed() {
			t.Fatalf("first up %s: got NoChanges=%v Changed=%v; want a change", id, res.NoChanges, res.Changed())
		}
		if res.Record.Status != tenant.StatusReady {
			t.Fatalf("up %s: got record status %q; want %q", id, res.Record.Status, tenant.StatusReady)
		}
		h.assertAppServes(id)
	}

	for _, id := range ids {
		st, err := provision.Status(ctx, h.env(), mustID(t, id))
		if err != nil {
			t.Fatalf("status %s: %v", id, err)
		}
		n := tenant.NamesFor(mustID(t, id))
		if st.Record == nil || st.Record.Status != tenant.StatusReady {
			t.Errorf("status %s: got record %+v; want status ready", id, st.Record)
		}
		for _, job := range []string{n.JobPostgres, n.JobRedis, n.JobApp, n.JobWorker} {
			if js := st.Jobs[job]; !js.Found || js.Status != "running" {
				t.Errorf("status %s: job %s: got found=%v status %q; want running", id, job, js.Found, js.Status)
			}
		}
		for _, svc := range []string{n.ServicePostgres, n.ServiceRedis, n.ServiceApp, n.ServiceWorker} {
			if len(consul.Passing(st.Services[svc])) == 0 {
				t.Errorf("status %s: service %s: got %d instances, none passing; want one passing", id, svc, len(st.Services[svc]))
			}
		}

		p, err := provision.Plan(ctx, h.env(), mustSpec(t, id))
		if err != nil {
			t.Fatalf("plan %s: %v", id, err)
		}
		if p.Changed() {
			t.Errorf("plan %s after up: got changes %+v; want none", id, p.Jobs)
		}
	}

	// rotate acme: new credentials, every task healthy again with them.
	before := h.dynamicPGUsers("acme")
	if len(before) == 0 {
		t.Fatalf("acme before rotate: got no dynamic postgres users; want the app's and worker's")
	}
	rot, err := provision.Rotate(ctx, h.env(), provision.RotateOptions{ID: mustID(t, "acme"), Timeout: 2 * time.Minute, LockTimeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("rotate acme: %v", err)
	}
	if len(rot.Vault.Rotated) != 2 || rot.Replaced < 2 {
		t.Errorf("rotate acme: got rotated %v, %d allocations replaced; want 2 connections and >= 2 allocations", rot.Vault.Rotated, rot.Replaced)
	}
	h.assertAppServes("acme")
	after := h.dynamicPGUsers("acme")
	for u := range before {
		if after[u] {
			t.Errorf("rotate acme: postgres user %s still exists after its lease was revoked", u)
		}
	}
	if res, err := h.up(ctx, "acme"); err != nil || !res.NoChanges {
		t.Errorf("up acme after rotate: got NoChanges=%v err=%v; want converged", res.NoChanges, err)
	}

	rep, err := provision.Migrate(ctx, h.env(), provision.MigrateOptions{Spec: mustSpec(t, "acme"), Timeout: time.Minute, LockTimeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("migrate acme: %v", err)
	}
	if !strings.Contains(rep.Steps[len(rep.Steps)-1].Detail, "already applied") {
		t.Errorf("migrate acme: got %q; want the migrations reported already applied", rep.Steps[len(rep.Steps)-1].Detail)
	}

	corpBefore := h.snapshot("acme-corp")
	drep := h.mustDown("acme")
	if !drep.Changed() {
		t.Errorf("down acme: got no change; want the tenant removed")
	}
	h.assertGone("acme")
	if got := h.snapshot("acme-corp"); got != corpBefore {
		t.Errorf("acme-corp after acme's down:\n got %s\nwant %s", got, corpBefore)
	}
	h.assertAppServes("acme-corp")
	if res, err := h.up(ctx, "acme-corp"); err != nil || !res.NoChanges {
		t.Errorf("up acme-corp after acme's down: got NoChanges=%v err=%v; want converged", res.NoChanges, err)
	}
	h.mustDown("acme-corp")
	h.assertGone("acme-corp")
	if rep := h.mustDown("acme-corp"); rep.Changed() {
		t.Errorf("second down acme-corp: got a change; want nothing to remove")
	}
}

// TestSecondUpWritesNothing counts every write through the double and the
// proxies in front of Vault and Consul. Vault's POST sys/capabilities-self
// (preflight's capability check) is a read and is not counted.
func TestSecondUpWritesNothing(t *testing.T) {
	h := newHarness(t)
	h.hooksFor("zero")
	h.mustUp("zero")
	nomadW, vaultW, consulW := h.nomad.Writes(), h.vaultProxy.Writes(), h.consulProxy.Writes()
	h.vaultProxy.recordWrites()
	h.consulProxy.recordWrites()
	res := h.mustUp("zero")
	if !res.NoChanges {
		t.Errorf("second up: got NoChanges=false (steps %+v); want true", res.Steps)
	}
	if res.Changed() {
		t.Errorf("second up: got a changed step in %+v; want none", res.Steps)
	}
	if d := h.nomad.Writes() - nomadW; d != 0 {
		t.Errorf("second up: got %d nomad writes; want 0", d)
	}
	if d := h.vaultProxy.Writes() - vaultW; d != 0 {
		t.Errorf("second up: got %d vault writes %v; want 0", d, h.vaultProxy.writeLog())
	}
	if d := h.consulProxy.Writes() - consulW; d != 0 {
		t.Errorf("second up: got %d consul writes %v; want 0", d, h.consulProxy.writeLog())
	}
	h.mustDown("zero")
	h.assertGone("zero")
}

// assertAppServes calls the tenant's app through its Consul service: its
// readiness endpoint checks Postgres and Redis with the credentials Vault
// issued to the task.
func (h *harness) assertAppServes(id string) {
	h.t.Helper()
	n := tenant.NamesFor(mustID(h.t, id))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		addr, err := h.passingAddr(ctx, n.ServiceApp)
		if err == nil {
			err = httpReady("http://" + addr + "/api/ready")(ctx)
		}
		if err == nil {
			return
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	h.t.Fatalf("app of %s: got %v; want /api/ready answering 200", id, last)
}

// dynamicPGUsers lists the login roles Vault created in the tenant's Postgres.
func (h *harness) dynamicPGUsers(id string) map[string]bool {
	h.t.Helper()
	conn := h.observe(id, "postgres")
	rows, err := conn.Query(context.Background(), `SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%'`)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			h.t.Fatal(err)
		}
		out[s] = true
	}
	return out
}

// snapshot describes a tenant's objects in Nomad, Vault and Consul, for
// comparing before and after another tenant's commands.
func (h *harness) snapshot(id string) string {
	h.t.Helper()
	n := tenant.NamesFor(mustID(h.t, id))
	var b strings.Builder
	jobs, _, err := h.nomad.Client().Jobs().List(&nomadapi.QueryOptions{Namespace: n.Namespace})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, j := range jobs {
		if j.ParameterizedJob || strings.Contains(j.ID, "/dispatch-") {
			continue
		}
		fmt.Fprintf(&b, "job %s %s v%d; ", j.ID, j.Status, j.JobModifyIndex)
	}
	for _, p := range h.vaultPaths(n) {
		sec, err := h.vaultRoot.Logical().Read(p)
		fmt.Fprintf(&b, "vault %s present=%v err=%v; ", p, sec != nil, err)
	}
	kvs, _, err := h.consulAPI.KV().List(n.KVPrefix, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, kv := range kvs {
		fmt.Fprintf(&b, "kv %s@%d; ", kv.Key, kv.ModifyIndex)
	}
	for _, svc := range []string{n.ServicePostgres, n.ServiceRedis, n.ServiceApp, n.ServiceWorker} {
		es, _, err := h.consulAPI.Health().Service(svc, "", true, nil)
		if err != nil {
			h.t.Fatal(err)
		}
		fmt.Fprintf(&b, "svc %s passing=%d; ", svc, len(es))
	}
	return b.String()
}

// vaultPaths are the tenant's Vault objects.
func (h *harness) vaultPaths(n tenant.Names) []string {
	db := h.cfg.Vault.DatabaseMount
	return []string{
		"sys/policy/" + n.Policy,
		"auth/" + h.cfg.Vault.JWTAuthPath + "/role/" + n.JWTRole,
		h.cfg.Vault.KVMount + "/metadata/" + n.BootstrapPath,
		db + "/config/" + n.DBConnection,
		db + "/config/" + n.RedisConnection,
		db + "/roles/" + n.DBRoleApp,
		db + "/roles/" + n.DBRoleWorker,
		db + "/roles/" + n.DBRoleMigrate,
		db + "/roles/" + n.RedisRoleApp,
		db + "/roles/" + n.RedisRoleWorker,
	}
}

// assertGone checks that nothing of the tenant is left: no Nomad job or
// namespace, no Vault object, no Consul KV entry or service instance.
func (h *harness) assertGone(id string) {
	h.t.Helper()
	for _, p := range h.leftovers(id) {
		h.t.Errorf("%s after down: got %s; want nothing left", id, p)
	}
}

// leftovers lists what is left of a tenant in Nomad, Vault and Consul.
func (h *harness) leftovers(id string) []string {
	n := tenant.NamesFor(mustID(h.t, id))
	var out []string
	jobs, _, err := h.nomad.Client().Jobs().List(&nomadapi.QueryOptions{Namespace: n.Namespace})
	if err == nil && len(jobs) > 0 {
		var ids []string
		for _, j := range jobs {
			ids = append(ids, j.ID)
		}
		out = append(out, fmt.Sprintf("nomad jobs %v", ids))
	}
	if ns, _, err := h.nomad.Client().Namespaces().Info(n.Namespace, nil); err == nil && ns != nil {
		out = append(out, "namespace "+n.Namespace)
	}
	for _, p := range h.vaultPaths(n) {
		sec, err := h.vaultRoot.Logical().Read(p)
		if err != nil && !strings.Contains(err.Error(), "404") {
			out = append(out, fmt.Sprintf("vault read %s: %v", p, err))
		}
		if sec != nil {
			out = append(out, "vault object "+p)
		}
	}
	kvs, _, err := h.consulAPI.KV().List(n.KVPrefix, nil)
	if err != nil {
		out = append(out, fmt.Sprintf("consul kv list: %v", err))
	}
	if len(kvs) > 0 {
		out = append(out, fmt.Sprintf("%d consul kv entries under %s", len(kvs), n.KVPrefix))
	}
	if kv, _, _ := h.consulAPI.KV().Get(n.LockKey, nil); kv != nil {
		out = append(out, "lock key "+n.LockKey)
	}
	for _, svc := range []string{n.ServicePostgres, n.ServiceRedis, n.ServiceApp, n.ServiceWorker} {
		es, _, err := h.consulAPI.Health().Service(svc, "", false, nil)
		if err != nil {
			out = append(out, fmt.Sprintf("consul health %s: %v", svc, err))
		}
		if len(es) > 0 {
			out = append(out, fmt.Sprintf("%d instances of service %s", len(es), svc))
		}
	}
	return out
}
