package provision_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/provisiontest"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// TestUpRefusesAHostHeldByAnotherTenant: up of aaa with the host that zzz
// serves exits 2 naming zzz, and creates nothing for aaa (the router would
// otherwise send zzz's traffic to aaa).
func TestUpRefusesAHostHeldByAnotherTenant(t *testing.T) {
	h := provisiontest.New(t)
	h.AddTenant("zzz", "aaa")
	h.MustUp("zzz")
	held := provisiontest.Spec(t, "zzz").Host.String()

	opts := h.UpOptions("aaa")
	spec, err := tenant.NewSpec(tenant.SpecInput{ID: "aaa", Host: held, BaseDomain: "tenants.localhost.test",
		Plan: "small", Profile: "exec"})
	if err != nil {
		t.Fatal(err)
	}
	opts.Spec = spec
	_, err = provision.Up(context.Background(), h.Env(), opts)
	if err == nil {
		t.Fatalf("up aaa --host %s while zzz serves it: nil; want an error", held)
	}
	if got := exit.CodeOf(err); got != exit.Usage {
		t.Errorf("exit code: got %d; want %d (error %v)", got, exit.Usage, err)
	}
	if !strings.Contains(err.Error(), "held by tenant zzz") || exit.HintOf(err) == "" {
		t.Errorf("error: got %q (hint %q); want it to name zzz and say what to do", err, exit.HintOf(err))
	}
	if left := h.Leftovers("aaa"); len(left) > 0 {
		t.Errorf("after the refused up: got %v for aaa; want nothing created", left)
	}
	// zzz keeps its host and aaa can still come up with its own.
	h.MustUp("aaa")
	h.AssertAppServes("zzz")
}
