package provision_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/tenantctl/tenantctl/internal/nomadtest"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/provisiontest"
)

// TestDownThenUpKeepsData: a tenant brought down without --purge-data comes
// back with up, with its rows (read through its app, with the credentials
// Vault issues to the new allocation), its Redis keys and working
// credentials; so does one whose down was interrupted at any step. Vault's
// keys to the data (the connections, which alone know the rotated root
// passwords, and the bootstrap secret) stay until down --purge-data.
func TestDownThenUpKeepsData(t *testing.T) {
	const id = "keep"
	h := provisiontest.New(t)
	h.AddTenant(id)
	n := provisiontest.Names(t, id)
	ctx := context.Background()

	h.MustUp(id)
	h.AssertOwnVaultRoles(id)
	data := h.WriteData(id)

	h.MustDown(id)
	h.AssertGone(id)
	if got := h.KeptKeys(id); len(got) != 3 {
		t.Errorf("after down: got kept keys %v; want both connections and the bootstrap secret", got)
	}
	comeBack := func(after string) {
		t.Helper()
		res, err := h.Up(ctx, id)
		if err != nil {
			t.Fatalf("up after %s: %v; want the tenant back on its kept data", after, err)
		}
		if res.NoChanges {
			t.Fatalf("up after %s: got no changes; want the tenant re-created", after)
		}
		h.WaitPassing(id)
		h.AssertAppServes(id)
		if err := h.CheckData(id, data); err != nil {
			t.Errorf("after %s and up: %v", after, err)
		}
		if res, err := h.Up(ctx, id); err != nil || !res.NoChanges {
			t.Errorf("second up after %s: got NoChanges=%v, %v; want converged", after, res.NoChanges, err)
		}
	}
	comeBack("down")

	// A down interrupted at each step that changes something, then up.
	for _, tc := range []struct {
		step string
		arm  func()
	}{
		{provision.StepWorkloads, func() { h.Double().Fault("DELETE /v1/job/"+n.JobWorker, 1, nomadtest.FaultError) }},
		// After the leases and credential roles, before every jwt role is gone.
		{provision.StepVaultTeardown, func() {
			h.VaultProxy().Fail(id, 10, provisiontest.PathContains(http.MethodDelete, "/role/"+n.IdentityApp))
		}},
		{provision.StepData, func() { h.Double().Fault("DELETE /v1/job/"+n.JobRedis, 1, nomadtest.FaultError) }},
		{provision.StepForget, func() {
			h.ConsulProxy().Fail(id, 1, provisiontest.PathContains(http.MethodDelete, "/v1/kv/"+n.KVPrefix))
		}},
		{provision.StepDelNS, func() { h.Double().Fault("DELETE /v1/namespace/"+n.Namespace, 1, nomadtest.FaultError) }},
	} {
		tc.arm()
		_, err := h.Down(ctx, id)
		h.VaultProxy().ClearFaults(id)
		h.ConsulProxy().ClearFaults(id)
		var se *provision.StepError
		if !errors.As(err, &se) || se.Step != tc.step {
			t.Fatalf("down with a fault at %s: got %v; want it to fail at that step", tc.step, err)
		}
		comeBack("a down interrupted at " + tc.step)
	}

	h.MustDownPurge(id)
	h.AssertPurged(id)
}
