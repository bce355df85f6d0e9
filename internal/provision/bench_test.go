package provision_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/provisiontest"
)

// BenchmarkUpConverged measures up on a converged tenant: preflight and the
// read-only check, no lock and no writes (goal: at most 1 s).
func BenchmarkUpConverged(b *testing.B) {
	h := provisiontest.New(b)
	h.AddTenant("bench")
	h.MustUp("bench")
	if res := h.MustUp("bench"); !res.NoChanges {
		b.Fatalf("second up: got NoChanges=false; want a converged tenant to start from")
	}
	ctx := context.Background()
	for b.Loop() {
		res, err := h.Up(ctx, "bench")
		if err != nil || !res.NoChanges {
			b.Fatalf("converged up: got NoChanges=%v err=%v; want no changes", res.NoChanges, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/up")
}

// BenchmarkUp100Tenants brings 100 new tenants up at concurrency 16 against
// the Nomad double with real Vault and Consul (goal: at most 60 s). Each
// tenant still gets its own Postgres, pre-started from a pool outside the
// timer (Vault's connection logs in as the superuser "postgres", whose
// password it rotates, so one server cannot stand in for several tenants
// without a per-tenant superuser name in the vault adapter); all tenants
// share one Redis, with an admin ACL user each. Run it with -benchtime=1x.
func BenchmarkUp100Tenants(b *testing.B) {
	const tenants, concurrency = 100, 16
	round := 0
	for b.Loop() {
		b.StopTimer()
		h := provisiontest.New(b, provisiontest.WithPostgresPool(tenants), provisiontest.WithCheckIntervalFloor(2*time.Second))
		ids := make([]string, tenants)
		for i := range ids {
			ids[i] = fmt.Sprintf("b%d-t%03d", round, i)
			h.AddTenant(ids[i])
		}
		round++
		durations := make([]time.Duration, tenants)
		reports := make([]provision.Report, tenants)
		errs := make([]error, tenants)
		sem := make(chan struct{}, concurrency)
		var wg sync.WaitGroup
		b.StartTimer()
		usage := provisiontest.StartUsage()
		start := time.Now()
		for i, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				t0 := time.Now()
				var res provision.UpResult
				res, errs[i] = h.Up(context.Background(), id)
				reports[i] = res.Report
				durations[i] = time.Since(t0)
			}()
		}
		wg.Wait()
		total := time.Since(start)
		use := usage.Stop()
		b.StopTimer()
		failed := 0
		for i, err := range errs {
			if err != nil {
				failed++
				if failed <= 3 {
					b.Errorf("up %s: %v", ids[i], err)
				}
			}
		}
		sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
		b.ReportMetric(total.Seconds(), "s/100-tenants")
		b.ReportMetric(durations[len(durations)/2].Seconds(), "s/up-p50")
		b.ReportMetric(durations[len(durations)*95/100].Seconds(), "s/up-p95")
		b.ReportMetric(float64(failed), "failed")
		// Where the time goes: the mean duration of each step.
		perStep := map[string]time.Duration{}
		for _, r := range reports {
			for _, st := range r.Steps {
				perStep[st.Name] += st.Duration
			}
		}
		use.Report(b, "")
		var order []string // up's steps, from a successful run
		for i, r := range reports {
			if errs[i] == nil {
				for _, st := range r.Steps {
					order = append(order, st.Name)
				}
				break
			}
		}
		var means []string
		for _, step := range order {
			if d, ok := perStep[step]; ok {
				b.ReportMetric((d / tenants).Seconds(), "s/"+step)
				means = append(means, fmt.Sprintf("%s %.2fs", step, (d/tenants).Seconds()))
			}
		}
		b.Logf("up100: %d tenants at concurrency %d in %.1fs, %d failed, per tenant p50 %.1fs p95 %.1fs",
			tenants, concurrency, total.Seconds(), failed, durations[len(durations)/2].Seconds(), durations[len(durations)*95/100].Seconds())
		b.Logf("up100: step means: %s", strings.Join(means, ", "))
		b.Logf("up100: %s", use)
		b.StartTimer()
	}
}
