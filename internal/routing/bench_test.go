package routing

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/tenantctl/tenantctl/internal/testenv"
	nginxconf "github.com/tenantctl/tenantctl/nginx"
)

// benchTenants is the number of tenants in Consul during the benchmarks.
const benchTenants = 200

// BenchmarkRouter200 measures, with 200 tenants in Consul, how long a change
// of one tenant's health takes to be served by nginx.
//
//   - watch: consul-template running (no wait), as in the router job: from the
//     check's update in Consul to nginx answering with the new state; covers
//     the blocking query returning, the render of every tenant, the reload
//     and new workers taking requests.
//   - once: a cold `consul-template -once` (fetching all 201 dependencies and
//     rendering), `nginx -s reload`, until nginx answers with the new state.
func BenchmarkRouter200(b *testing.B) {
	c := testenv.SharedConsul(b)
	client := c.Client(b)
	marker := startBackend(b, "marker", "marker-1")
	markerID := register(b, client, registration{Service: "marker--app",
		Tags: tenantTags("marker", "marker.example.test"), Port: marker.Port()})
	filler := startBackend(b, "filler", "filler-1")
	for i := 1; i < benchTenants; i++ {
		id := fmt.Sprintf("bench-%03d", i)
		register(b, client, registration{Service: id + "--app", Tags: tenantTags(id, id+".example.test"), Port: filler.Port()})
	}
	check := markerID + "-check"

	// flip sets the marker's check and returns the status nginx must answer.
	passing := true
	flip := func() int {
		passing = !passing
		status, want := consulapi.HealthCritical, http.StatusServiceUnavailable
		if passing {
			status, want = consulapi.HealthPassing, http.StatusOK
		}
		if err := client.Agent().UpdateTTL(check, "", status); err != nil {
			b.Fatalf("update ttl: %v", err)
		}
		return want
	}
	served := func(r *router, want int) {
		pollFor(b, time.Minute, 5*time.Millisecond, "marker to answer the new state", func() (bool, string) {
			st, body, _ := r.get(b, "marker.example.test", "/")
			return st == want, fmt.Sprintf("got %d %q; want %d", st, body, want)
		})
	}

	b.Run("watch", func(b *testing.B) {
		r := startRouter(b, c.Addr, routerOptions{SIGHUP: true})
		served(r, http.StatusOK)
		// rendered is the time from the change in Consul to tenants.conf
		// being rewritten; the rest of each op is nginx's reload.
		var rendered time.Duration
		for b.Loop() {
			before := r.conf(b)
			start := time.Now()
			want := flip()
			pollFor(b, time.Minute, 2*time.Millisecond, "tenants.conf to change", func() (bool, string) {
				return r.conf(b) != before, "unchanged"
			})
			rendered += time.Since(start)
			served(r, want)
		}
		b.ReportMetric(rendered.Seconds()/float64(b.N), "render-s/op")
		b.ReportMetric(float64(len(r.conf(b))), "conf-bytes")
	})

	b.Run("once", func(b *testing.B) {
		r := startRouter(b, c.Addr, routerOptions{NoWatch: true})
		served(r, http.StatusOK)
		tmpl := filepath.Join(r.dir, "tenants.ctmpl")
		out := filepath.Join(r.dir, nginxconf.TenantsConf)
		ct := testenv.ConsulTemplateBinary(b)
		cfg := testenv.ConsulTemplateConfig(b, tmpl, out, "")
		for b.Loop() {
			b.StopTimer()
			want := flip()
			waitConsul(b, client, passing)
			b.StartTimer()
			render := exec.Command(ct, "-consul-addr", c.Addr, "-once", "-log-level", "warn", "-config", cfg)
			render.Env = r.env
			if out, err := render.CombinedOutput(); err != nil {
				b.Fatalf("consul-template -once: %v\n%s", err, out)
			}
			reload := exec.Command(r.nginx, append(r.nginxArgs()[:4], "-s", "reload")...)
			if out, err := reload.CombinedOutput(); err != nil {
				b.Fatalf("nginx -s reload: %v\n%s", err, out)
			}
			served(r, want)
		}
	})
}

// waitConsul waits until the marker's passing state in Consul is passing.
func waitConsul(tb testing.TB, client *consulapi.Client, passing bool) {
	tb.Helper()
	waitFor(tb, 10*time.Second, "Consul to report the marker's new state", func() (bool, string) {
		entries, _, err := client.Health().Service("marker--app", "", true, nil)
		return err == nil && (len(entries) > 0) == passing, fmt.Sprintf("%d passing, err %v", len(entries), err)
	})
}
