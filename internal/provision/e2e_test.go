package provision_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/provisiontest"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// TestFullCycleTwoTenants runs up → status → plan → rotate → migrate → down
// on acme and acme-corp, whose names share a prefix, and checks that
// removing acme leaves acme-corp healthy and whole.
func TestFullCycleTwoTenants(t *testing.T) {
	ids := []string{"acme", "acme-corp"}
	h := provisiontest.New(t)
	h.AddTenant(ids...)
	ctx := context.Background()
	for _, id := range ids {
		res := h.MustUp(id)
		if res.NoChanges || !res.Changed() {
			t.Fatalf("first up %s: got NoChanges=%v Changed=%v; want a change", id, res.NoChanges, res.Changed())
		}
		if res.Record.Status != tenant.StatusReady {
			t.Fatalf("up %s: got record status %q; want %q", id, res.Record.Status, tenant.StatusReady)
		}
		h.AssertAppServes(id)
	}

	for _, id := range ids {
		st, err := provision.Status(ctx, h.Env(), provisiontest.ID(t, id))
		if err != nil {
			t.Fatalf("status %s: %v", id, err)
		}
		n := provisiontest.Names(t, id)
		if st.Record == nil || st.Record.Status != tenant.StatusReady {
			t.Errorf("status %s: got record %+v; want status ready", id, st.Record)
		}
		for _, job := range n.Jobs(append(tenant.ComponentsAt(tenant.StageData), tenant.ComponentsAt(tenant.StageWorkload)...)) {
			if js := st.Jobs[job]; !js.Found || js.Status != "running" {
				t.Errorf("status %s: job %s: got found=%v status %q; want running", id, job, js.Found, js.Status)
			}
		}
		for _, svc := range n.Services(tenant.Components()) {
			if len(consul.Passing(st.Services[svc])) == 0 {
				t.Errorf("status %s: service %s: got %d instances, none passing; want one passing", id, svc, len(st.Services[svc]))
			}
		}

		p, err := provision.Plan(ctx, h.Env(), provisiontest.Spec(t, id))
		if err != nil {
			t.Fatalf("plan %s: %v", id, err)
		}
		if p.Changed() {
			t.Errorf("plan %s after up: got changes %+v; want none", id, p.Jobs)
		}
	}

	// rotate acme: new credentials, every task healthy again with them.
	before := h.DynamicPGUsers("acme")
	if len(before) == 0 {
		t.Fatalf("acme before rotate: got no dynamic postgres users; want the app's and worker's")
	}
	rot, err := provision.Rotate(ctx, h.Env(), provision.RotateOptions{ID: provisiontest.ID(t, "acme"), Timeout: 2 * time.Minute, LockTimeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("rotate acme: %v", err)
	}
	if len(rot.Vault.Rotated) != 2 || rot.Replaced < 2 {
		t.Errorf("rotate acme: got rotated %v, %d allocations replaced; want 2 connections and >= 2 allocations", rot.Vault.Rotated, rot.Replaced)
	}
	h.AssertAppServes("acme")
	after := h.DynamicPGUsers("acme")
	for u := range before {
		if after[u] {
			t.Errorf("rotate acme: postgres user %s still exists after its lease was revoked", u)
		}
	}
	// rotate carried the app's and worker's new indexes into the record
	// (its scales were its own), so the converged up plans no job.
	plans := func() int { return h.Double().Calls("PUT /v1/jobs/parse") + h.Double().Calls("PUT /v1/job/*/plan") }
	plansBefore := plans()
	if res, err := h.Up(ctx, "acme"); err != nil || !res.NoChanges {
		t.Errorf("up acme after rotate: got NoChanges=%v err=%v; want converged", res.NoChanges, err)
	}
	if d := plans() - plansBefore; d != 0 {
		t.Errorf("up acme after rotate: got %d parse and plan requests; want 0 (the record follows rotate's scales)", d)
	}

	rep, err := provision.Migrate(ctx, h.Env(), provision.MigrateOptions{Spec: provisiontest.Spec(t, "acme"), Timeout: time.Minute, LockTimeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("migrate acme: %v", err)
	}
	if !strings.Contains(rep.Steps[len(rep.Steps)-1].Detail, "already applied") {
		t.Errorf("migrate acme: got %q; want the migrations reported already applied", rep.Steps[len(rep.Steps)-1].Detail)
	}

	corpBefore := h.Snapshot("acme-corp")
	drep := h.MustDown("acme")
	if !drep.Changed() {
		t.Errorf("down acme: got no change; want the tenant removed")
	}
	h.AssertGone("acme")
	if got := h.Snapshot("acme-corp"); got != corpBefore {
		t.Errorf("acme-corp after acme's down:\n got %s\nwant %s", got, corpBefore)
	}
	h.AssertAppServes("acme-corp")
	if res, err := h.Up(ctx, "acme-corp"); err != nil || !res.NoChanges {
		t.Errorf("up acme-corp after acme's down: got NoChanges=%v err=%v; want converged", res.NoChanges, err)
	}
	h.MustDown("acme-corp")
	h.AssertGone("acme-corp")
	if rep := h.MustDown("acme-corp"); rep.Changed() {
		t.Errorf("second down acme-corp: got a change; want nothing to remove")
	}
}

// TestSecondUpWritesNothing counts every write through the double and the
// proxies in front of Vault and Consul. Vault's POST sys/capabilities-self
// (preflight's capability check) is a read and is not counted.
func TestSecondUpWritesNothing(t *testing.T) {
	h := provisiontest.New(t)
	h.AddTenant("zero")
	h.MustUp("zero")
	nomadW, vaultW, consulW := h.Double().Writes(), h.VaultProxy().Writes(), h.ConsulProxy().Writes()
	h.VaultProxy().RecordWrites()
	h.ConsulProxy().RecordWrites()
	res := h.MustUp("zero")
	if !res.NoChanges {
		t.Errorf("second up: got NoChanges=false (steps %+v); want true", res.Steps)
	}
	if res.Changed() {
		t.Errorf("second up: got a changed step in %+v; want none", res.Steps)
	}
	if d := h.Double().Writes() - nomadW; d != 0 {
		t.Errorf("second up: got %d nomad writes; want 0", d)
	}
	if d := h.VaultProxy().Writes() - vaultW; d != 0 {
		t.Errorf("second up: got %d vault writes %v; want 0", d, h.VaultProxy().WriteLog())
	}
	if d := h.ConsulProxy().Writes() - consulW; d != 0 {
		t.Errorf("second up: got %d consul writes %v; want 0", d, h.ConsulProxy().WriteLog())
	}
	h.MustDown("zero")
	h.AssertGone("zero")
}
