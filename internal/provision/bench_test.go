package provision_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/provisiontest"
	"github.com/tenantctl/tenantctl/internal/tenant"
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

// BenchmarkConvergedChecks100 measures what a converged fleet apply of 100
// tenants costs apart from the tenants' own workloads: 100 converged ups at
// --parallel 16, run as fleet apply runs them (one preflight for the fleet,
// then each tenant's read-only check), over 4 real converged tenants, 25
// ups each. BenchmarkFleet100 cannot measure it at 100 on a two-core machine:
// 100 idle tenants' servers need more than two cores before any apply runs
// (docs/fleet.md). Every up must find its tenant unchanged, with 0 writes to
// Nomad, Vault and Consul.
func BenchmarkConvergedChecks100(b *testing.B) {
	const tenants, ups, parallel = 4, 100, 16
	h := provisiontest.New(b, provisiontest.WithPostgresPool(tenants))
	ids := make([]string, tenants)
	names := make([]tenant.Names, tenants)
	for i := range ids {
		ids[i] = fmt.Sprintf("cc-t%d", i)
		names[i] = provisiontest.Names(b, ids[i])
	}
	h.AddTenant(ids...)
	for _, id := range ids {
		h.MustUp(id)
	}
	for _, id := range ids {
		h.WaitPassing(id)
	}
	env := h.Env()
	ctx := context.Background()
	if err := provision.Preflight(ctx, env, names...); err != nil {
		b.Fatal(err)
	}
	planned := func() int {
		return h.Double().Calls("PUT /v1/jobs/parse") + h.Double().Calls("PUT /v1/job/*/plan")
	}
	nomadW, vaultW, consulW, plans := h.Double().Writes(), h.VaultProxy().Writes(), h.ConsulProxy().Writes(), planned()
	var use provisiontest.UsageReport
	var worst time.Duration
	for b.Loop() {
		usage := provisiontest.StartUsage()
		sem := make(chan struct{}, parallel)
		errs := make([]error, ups)
		took := make([]time.Duration, ups)
		var wg sync.WaitGroup
		for i := range ups {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				opt := h.UpOptions(ids[i%tenants])
				opt.Preflighted = true
				t0 := time.Now()
				res, err := provision.Up(ctx, env, opt)
				took[i] = time.Since(t0)
				if err == nil && !res.NoChanges {
					err = fmt.Errorf("got changes: %s", res.Report.Steps[len(res.Report.Steps)-1].Detail)
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		use = usage.Stop()
		for i, err := range errs {
			if err != nil {
				b.Fatalf("converged up %d of %s: %v", i, ids[i%tenants], err)
			}
		}
		worst = max(worst, slices.Max(took))
	}
	writes := map[string]int64{
		"nomad": h.Double().Writes() - nomadW, "vault": h.VaultProxy().Writes() - vaultW, "consul": h.ConsulProxy().Writes() - consulW,
	}
	for what, n := range writes {
		if n != 0 {
			b.Errorf("got %d writes to %s; want 0", n, what)
		}
	}
	if n := planned() - plans; n != 0 {
		b.Errorf("got %d parse and plan requests; want 0 (every job at its recorded index)", n)
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/100-converged-ups")
	b.ReportMetric(worst.Seconds(), "s/slowest-up")
	use.Report(b, "")
	b.Logf("100 converged ups at --parallel %d over %d tenants: %s", parallel, tenants, use)
}
