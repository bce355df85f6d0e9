package fleet_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tenantctl/tenantctl/internal/fleet"
	"github.com/tenantctl/tenantctl/internal/provisiontest"
)

// BenchmarkApplyFleet applies a fleet file of 12 new tenants at --parallel 6
// (one canary) on the Nomad double with real Vault, Consul, Postgres and
// Redis, then the same file again (every tenant unchanged), and reports
// tenants per minute for both and the writes of the unchanged apply. Each
// tenant's Postgres is pre-started from a pool outside the timer. Run it with
// -benchtime 1x.
func BenchmarkApplyFleet(b *testing.B) {
	const tenants, parallel = 12, 6
	round := 0
	for b.Loop() {
		b.StopTimer()
		h := provisiontest.New(b, provisiontest.WithPostgresPool(tenants))
		ids := make([]string, tenants)
		for i := range ids {
			ids[i] = fmt.Sprintf("fb%d-t%02d", round, i)
			h.AddTenant(ids[i])
		}
		round++
		f, err := fleet.Parse([]byte(fleetSrc("1.0", []string{"1.0"}, ids, nil)), "tenants.hcl", h.Env().Config)
		if err != nil {
			b.Fatal(err)
		}
		opt := fleet.Options{Canary: 1, Parallel: parallel, Timeout: 5 * time.Minute, LockTimeout: time.Minute}
		b.StartTimer()
		res, err := fleet.Apply(context.Background(), h.Env(), f, opt)
		if err != nil {
			b.Fatalf("apply: %v", err)
		}
		b.StopTimer()
		b.ReportMetric(float64(tenants)/res.Duration.Minutes(), "new-tenants/min")
		for _, id := range ids {
			h.WaitPassing(id)
		}
		writes := h.Double().Writes() + h.VaultProxy().Writes() + h.ConsulProxy().Writes()
		again, err := fleet.Apply(context.Background(), h.Env(), f, opt)
		if err != nil || again.Counts[fleet.StateUnchanged] != tenants {
			b.Fatalf("second apply: %v, counts %v; want every tenant unchanged", err, again.Counts)
		}
		b.ReportMetric(float64(tenants)/again.Duration.Minutes(), "unchanged-tenants/min")
		b.ReportMetric(float64(h.Double().Writes()+h.VaultProxy().Writes()+h.ConsulProxy().Writes()-writes), "unchanged-writes")
		b.StartTimer()
	}
}
