package nomad

import (
	"context"
	"testing"

	"github.com/tenantctl/tenantctl/internal/nomadtest"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// BenchmarkApplyConverged measures Apply of a job Nomad already runs: one
// plan, no registration. The parse is outside the loop; see
// BenchmarkParseApplyConverged for both.
func BenchmarkApplyConverged(b *testing.B) {
	srv := nomadtest.New(b)
	c := newClient(b, srv, "")
	names := tenant.NamesFor("acme")
	mustNamespace(b, c, names.Namespace)
	app := renderTenant(b, "acme", tenant.ProfileExec)[3]
	applyAll(b, c, names.Namespace, renderTenant(b, "acme", tenant.ProfileExec)[3:4])
	ctx := context.Background()
	job, err := c.Parse(ctx, app.Source, app.Vars)
	if err != nil {
		b.Fatal(err)
	}
	writes := srv.Writes()
	b.ResetTimer()
	for b.Loop() {
		res, err := c.Apply(ctx, job, app.Source, app.Vars)
		if err != nil || res.Changed {
			b.Fatalf("got changed=%v, %v; want unchanged", res.Changed, err)
		}
	}
	b.StopTimer()
	if srv.Writes() != writes {
		b.Fatalf("got %d writes; want none", srv.Writes()-writes)
	}
}

// BenchmarkParseApplyConverged measures what `up` does per converged job:
// a parse and a plan.
func BenchmarkParseApplyConverged(b *testing.B) {
	srv := nomadtest.New(b)
	c := newClient(b, srv, "")
	names := tenant.NamesFor("acme")
	mustNamespace(b, c, names.Namespace)
	app := renderTenant(b, "acme", tenant.ProfileExec)[3]
	applyAll(b, c, names.Namespace, renderTenant(b, "acme", tenant.ProfileExec)[3:4])
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		job, err := c.Parse(ctx, app.Source, app.Vars)
		if err != nil {
			b.Fatal(err)
		}
		if res, err := c.Apply(ctx, job, app.Source, app.Vars); err != nil || res.Changed {
			b.Fatalf("got changed=%v, %v; want unchanged", res.Changed, err)
		}
	}
}
