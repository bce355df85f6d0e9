package app_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tenantctl/tenantctl/internal/app"
)

// BenchmarkListContacts measures GET /api/contacts (50 contacts of one
// organization, RLS on, Vault-issued app credentials) at a steady 100
// requests per second: requests start on a fixed schedule whether or not the
// previous one has finished, so slow answers are not hidden. It reports the
// latency percentiles p50-ms and p99-ms; ns/op is the mean latency.
//
//	go test -run '^$' -bench BenchmarkListContacts -benchtime 1000x ./internal/app
func BenchmarkListContacts(b *testing.B) {
	s := newStack(b, "bench")
	s.writeEnv(s.issue(s.names.DBRoleApp, s.names.RedisRoleApp))
	_, base := s.startServer(io.Discard)
	org := s.newOrg("Bench Org")
	cl := newClient(b, base, org)
	for i := range 50 {
		cl.must(http.StatusCreated, "POST", "/api/contacts", app.ContactInput{Name: fmt.Sprintf("Contact %02d", i)}, nil)
	}
	// Warm the pools and the connections.
	for range 20 {
		cl.must(http.StatusOK, "GET", "/api/contacts", nil, nil)
	}

	b.Run("rate=100", func(b *testing.B) {
		const interval = 10 * time.Millisecond
		lat := make([]time.Duration, b.N)
		errs := make([]error, b.N)
		var wg sync.WaitGroup
		b.ResetTimer()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := range b.N {
			if i > 0 {
				<-tick.C
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				var list struct{ Contacts []app.Contact }
				status, err := cl.do("GET", "/api/contacts", nil, &list)
				lat[i] = time.Since(start)
				if err == nil && (status != http.StatusOK || len(list.Contacts) != 50) {
					err = fmt.Errorf("status %d, %d contacts", status, len(list.Contacts))
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		b.StopTimer()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		slices.Sort(lat)
		pct := func(p float64) float64 {
			i := int(p*float64(len(lat)-1) + 0.5)
			return float64(lat[i].Microseconds()) / 1000
		}
		var sum time.Duration
		for _, d := range lat {
			sum += d
		}
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
		b.ReportMetric(float64(sum.Nanoseconds())/float64(len(lat)), "ns/op")
	})
}
