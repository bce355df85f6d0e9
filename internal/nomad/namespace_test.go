package nomad

import (
	"context"
	"errors"
	"testing"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
)

func TestEnsureNamespaceWritesOnlyDifferences(t *testing.T) {
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	ctx := context.Background()
	meta := map[string]string{"tenantctl.tenant": "acme", "tenantctl.name": "ACME Corporation"}
	for i, tc := range []struct {
		desc       string
		meta       map[string]string
		wantChange bool
	}{
		{"tenant acme", meta, true},
		{"tenant acme", meta, false},
		{"tenant acme", map[string]string{"tenantctl.tenant": "acme", "tenantctl.name": "ACME Corp"}, true},
		{"tenant acme (renamed)", map[string]string{"tenantctl.tenant": "acme", "tenantctl.name": "ACME Corp"}, true},
		{"tenant acme (renamed)", map[string]string{"tenantctl.tenant": "acme", "tenantctl.name": "ACME Corp"}, false},
	} {
		before := srv.Writes()
		changed, err := c.EnsureNamespace(ctx, "acme--tenant", tc.desc, tc.meta)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		wantWrites := int64(0)
		if tc.wantChange {
			wantWrites = 1
		}
		if changed != tc.wantChange || srv.Writes()-before != wantWrites {
			t.Errorf("step %d: got changed=%v, %d writes; want %v, %d", i, changed, srv.Writes()-before, tc.wantChange, wantWrites)
		}
	}
	got, _, err := srv.Client().Namespaces().Info("acme--tenant", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Meta["tenantctl.name"] != "ACME Corp" || got.Description != "tenant acme (renamed)" {
		t.Errorf("got %+v; want the updated namespace", got)
	}
}

func TestDeleteNamespaceIdempotentAndRefusedWithJobs(t *testing.T) {
	const ns = "acme--tenant"
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	ctx := ctxFor(t, waitLimit)
	mustNamespace(t, c, ns)
	res := applied(t, c, serviceSrc(ns, "acme--app"), "")
	if err := c.WaitDeployment(ctx, ns, "acme--app", res.JobModifyIndex); err != nil {
		t.Fatal(err)
	}
	before := srv.Writes()
	_, err := c.DeleteNamespace(ctx, ns)
	if !errors.Is(err, ErrNamespaceInUse) || exit.HintOf(err) == "" {
		t.Fatalf("got %v; want ErrNamespaceInUse with a remedy", err)
	}
	if srv.Writes() != before {
		t.Errorf("got a write from a refused delete")
	}
	if _, err := c.Deregister(ctx, ns, "acme--app", true); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		changed, err := c.DeleteNamespace(ctx, ns)
		if err != nil {
			t.Fatalf("delete %d: %v", i, err)
		}
		if changed != want {
			t.Errorf("delete %d: got changed=%v; want %v", i, changed, want)
		}
	}
}
