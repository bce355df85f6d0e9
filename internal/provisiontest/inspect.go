package provisiontest

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/jackc/pgx/v5"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// passingAddr is what a template's `range service` yields: a passing
// instance's address.
func (h *Harness) passingAddr(ctx context.Context, service string) (string, error) {
	entries, _, err := h.consulAPI.Health().Service(service, "", true, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return "", err
	}
	if len(entries) == 0 {
		return "", fmt.Errorf("no passing instance of %s", service)
	}
	e := entries[0]
	addr := e.Service.Address
	if addr == "" {
		addr = e.Node.Address
	}
	return net.JoinHostPort(addr, strconv.Itoa(e.Service.Port)), nil
}

// Observe connects to database db of tenant id's Postgres as a superuser
// that Vault's root rotation leaves alone; the connection closes with the
// test.
func (h *Harness) Observe(id, db string) *pgx.Conn {
	h.t.Helper()
	u, err := h.nomad.Postgres(h, id, db)
	if err != nil {
		h.t.Fatalf("observe %s: %v", id, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		h.t.Fatalf("observe %s: %v", id, err)
	}
	h.t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// AssertAppServes calls the tenant's app through its Consul service: its
// readiness endpoint checks Postgres and Redis with the credentials Vault
// issued to the task.
func (h *Harness) AssertAppServes(id string) {
	h.t.Helper()
	n := Names(h.t, id)
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

// DynamicPGUsers lists the login roles Vault created in the tenant's
// Postgres.
func (h *Harness) DynamicPGUsers(id string) map[string]bool {
	h.t.Helper()
	conn := h.Observe(id, "postgres")
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

// Snapshot describes a tenant's objects in Nomad, Vault and Consul, for
// comparing before and after another tenant's commands.
func (h *Harness) Snapshot(id string) string {
	h.t.Helper()
	n := Names(h.t, id)
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
	for _, svc := range n.Services(tenant.Components()) {
		es, _, err := h.consulAPI.Health().Service(svc, "", true, nil)
		if err != nil {
			h.t.Fatal(err)
		}
		fmt.Fprintf(&b, "svc %s passing=%d; ", svc, len(es))
	}
	return b.String()
}

// vaultPaths are the tenant's Vault objects: its access objects, which
// every down removes, then the keys to its data, which down keeps unless
// it purges the data (KeptKeys).
func (h *Harness) vaultPaths(n tenant.Names) []string {
	db := h.cfg.Vault.DatabaseMount
	var out []string
	for _, id := range append(n.Identities(tenant.Components()), n.SharedJWTRole) {
		out = append(out, "auth/"+h.cfg.Vault.JWTAuthPath+"/role/"+id)
	}
	for _, p := range append(n.Identities(tenant.Components()), n.SharedPolicy) {
		out = append(out, "sys/policy/"+p)
	}
	for _, r := range append(n.DBRoles(tenant.Components()), n.RedisRoles(tenant.Components())...) {
		out = append(out, db+"/roles/"+r)
	}
	return append(out, h.keyPaths(n)...)
}

// keyPaths are the Vault objects that hold the keys to a tenant's data: its
// connections (the rotated root passwords) and its bootstrap secret.
func (h *Harness) keyPaths(n tenant.Names) []string {
	db := h.cfg.Vault.DatabaseMount
	return []string{
		h.cfg.Vault.KVMount + "/metadata/" + n.BootstrapPath,
		db + "/config/" + n.DBConnection,
		db + "/config/" + n.RedisConnection,
	}
}

// AssertGone checks that nothing of the tenant is left after a down that
// kept its data: no Nomad job or namespace, no Vault object, no Consul KV
// entry or service instance, except the keys to the kept data (KeptKeys).
func (h *Harness) AssertGone(id string) {
	h.t.Helper()
	kept := map[string]bool{}
	for _, p := range h.keyPaths(Names(h.t, id)) {
		kept["vault object "+p] = true
	}
	for _, p := range h.Leftovers(id) {
		if !kept[p] {
			h.t.Errorf("%s after down: got %s; want nothing left", id, p)
		}
	}
}

// AssertPurged checks that nothing at all of the tenant is left, not even
// the keys to its data: what a down with --purge-data leaves.
func (h *Harness) AssertPurged(id string) {
	h.t.Helper()
	for _, p := range h.Leftovers(id) {
		h.t.Errorf("%s after down --purge-data: got %s; want nothing left", id, p)
	}
}

// KeptKeys lists which of the keys to tenant id's data (its Vault
// connections and bootstrap secret) exist.
func (h *Harness) KeptKeys(id string) []string {
	h.t.Helper()
	var out []string
	for _, p := range h.keyPaths(Names(h.t, id)) {
		if sec, err := h.vaultRoot.Logical().Read(p); err == nil && sec != nil {
			out = append(out, p)
		}
	}
	return out
}

// Leftovers lists what is left of a tenant in Nomad, Vault and Consul.
func (h *Harness) Leftovers(id string) []string {
	n := Names(h.t, id)
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
	for _, svc := range n.Services(tenant.Components()) {
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

// VaultLogins returns, for tenant id, the roles its workloads logged in to
// Vault's jwt auth with, by the job id their identity carried: what the
// tokens alive now say (their metadata: the jwt role and the claims the
// role maps). Tokens are looked up by accessor, never read.
func (h *Harness) VaultLogins(id string) map[string][]string {
	h.t.Helper()
	n := Names(h.t, id)
	sec, err := h.vaultRoot.Logical().List("auth/token/accessors")
	if err != nil {
		h.t.Fatalf("list token accessors: %v", err)
	}
	out := map[string][]string{}
	if sec == nil {
		return out
	}
	keys, _ := sec.Data["keys"].([]any)
	for _, k := range keys {
		acc, _ := k.(string)
		info, err := h.vaultRoot.Logical().Write("auth/token/lookup-accessor", map[string]any{"accessor": acc})
		if err != nil || info == nil {
			continue // expired or revoked meanwhile
		}
		meta, _ := info.Data["meta"].(map[string]any)
		if meta == nil || meta["nomad_namespace"] != n.Namespace {
			continue
		}
		job, _ := meta["nomad_job_id"].(string)
		role, _ := meta["role"].(string)
		if !slices.Contains(out[job], role) {
			out[job] = append(out[job], role)
		}
	}
	return out
}

// AssertOwnVaultRoles checks that every workload of tenant id that logged
// in to Vault used its own component's role (Names.Identity), dispatched
// and periodic runs included, and that every component up runs did log in
// (the backup jobs run only when a backup or restore is taken).
func (h *Harness) AssertOwnVaultRoles(id string) {
	h.t.Helper()
	n := Names(h.t, id)
	logins := h.VaultLogins(id)
	seen := map[string]bool{}
	for job, roles := range logins {
		var comp *tenant.Component
		for _, c := range tenant.Components() {
			if job == n.Job(c) || strings.HasPrefix(job, n.Job(c)+"/dispatch-") || strings.HasPrefix(job, n.Job(c)+"/periodic-") {
				comp = &c
			}
		}
		if comp == nil {
			h.t.Errorf("vault login of %s from job %s: not a job of the tenant's components", id, job)
			continue
		}
		if len(roles) != 1 || roles[0] != n.Identity(*comp) {
			h.t.Errorf("vault logins of %s's job %s: got roles %v; want only %s", id, job, roles, n.Identity(*comp))
		}
		seen[comp.Name] = true
	}
	for _, c := range tenant.Components() {
		if !seen[c.Name] && c.Stage != tenant.StageOnDemand && c.Stage != tenant.StageScheduled {
			h.t.Errorf("vault logins of %s: none from component %s (logins by job: %v); want its tasks to log in with %s",
				id, c.Name, logins, n.Identity(c))
		}
	}
}
