package routing

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/testenv"
)

// routeTimeout bounds how long a change in Consul may take to reach nginx:
// the HTTP check's interval (1s), consul-template's wait (at most 1s) and a
// reload, with room for a loaded machine.
const routeTimeout = 20 * time.Second

// TestRouter runs every routing behaviour against one real Consul, one real
// consul-template and one real nginx configured from the project's files.
// Each subtest uses its own tenant ids.
func TestRouter(t *testing.T) {
	c := testenv.SharedConsul(t)
	client := c.Client(t)
	r := startRouter(t, c.Addr, routerOptions{Wait: "250ms:1s", TLS: true})

	t.Run("HostsReachTheirOwnTenant", func(t *testing.T) { testHostsReachTheirOwnTenant(t, r, client) })
	t.Run("UnhealthyTenantIsolated", func(t *testing.T) { testUnhealthyTenantIsolated(t, r, client) })
	t.Run("UnreachableInstance", func(t *testing.T) { testUnreachableInstance(t, r, client) })
	t.Run("HostileTags", func(t *testing.T) { testHostileTags(t, r, client) })
	t.Run("LongestHosts", func(t *testing.T) { testLongestHosts(t, r, client) })
	t.Run("TLS", func(t *testing.T) { testTLS(t, r, client) })
	t.Run("RateLimitPerTenant", func(t *testing.T) { testRateLimit(t, c.Addr, client) })
	t.Run("PathRouting", func(t *testing.T) { testPathRouting(t, c.Addr, client) })
	t.Run("Verify", func(t *testing.T) { testVerify(t, r, client) })
	t.Run("TwoHundredTenants", func(t *testing.T) { testManyTenants(t, r, client, 200) })
}

// wantTenant waits until host answers 200 from tenant's backend.
func wantTenant(t *testing.T, r *router, host, tenantID string) {
	t.Helper()
	waitFor(t, routeTimeout, host+" to reach tenant "+tenantID, func() (bool, string) {
		st, body, _ := r.get(t, host, "/hello")
		return st == http.StatusOK && strings.HasPrefix(body, "tenant="+tenantID+" "),
			fmt.Sprintf("got %d %q; want 200 from tenant=%s", st, body, tenantID)
	})
}

// longestHost is a valid host of tenant.MaxHostLen (253) characters: three
// labels of 63 and a last label of 61, ending in the tenant's own suffix.
func longestHost(first string) string {
	h := first + strings.Repeat("a", 63-len(first)) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "."
	return h + strings.Repeat("d", 253-len(h)-len(".test")) + ".test"
}

// testLongestHosts routes two tenants whose hosts have the longest length
// tenant.ValidateHostname accepts: nginx must accept the rendered config
// (server_names_hash_bucket_size in nginx/nginx.conf holds them) and route
// both, so no valid host can make nginx keep an old config for everyone.
func testLongestHosts(t *testing.T, r *router, client *consulapi.Client) {
	for _, id := range []string{"longa", "longb"} {
		host := longestHost(id)
		if len(host) != 253 || tenant.ValidateHostname(host) != nil {
			t.Fatalf("test host %q: %d characters, valid: %v; want a valid 253-character host", host, len(host), tenant.ValidateHostname(host))
		}
		b := startBackend(t, id, id+"-1")
		registerBackend(t, client, b, host)
	}
	for _, id := range []string{"longa", "longb"} {
		wantTenant(t, r, longestHost(id), id)
	}
	r.nginxTest(t)
	if host := longestHost("x") + "a"; tenant.ValidateHostname(host) == nil {
		t.Errorf("tenant.ValidateHostname accepts %d characters; want at most 253, what nginx.conf is tested with", len(host))
	}
}

func testHostsReachTheirOwnTenant(t *testing.T, r *router, client *consulapi.Client) {
	acme1 := startBackend(t, "acme", "acme-1")
	acme2 := startBackend(t, "acme", "acme-2")
	globex := startBackend(t, "globex", "globex-1")
	registerBackend(t, client, acme1, "acme.example.test")
	registerBackend(t, client, acme2, "acme.example.test")
	registerBackend(t, client, globex, "globex.example.test")

	wantTenant(t, r, "acme.example.test", "acme")
	wantTenant(t, r, "globex.example.test", "globex")
	// Both acme instances are in its upstream once both checks pass.
	seen := map[string]bool{}
	waitFor(t, routeTimeout, "both acme instances to serve", func() (bool, string) {
		st, body, _ := r.get(t, "acme.example.test", "/")
		if st == http.StatusOK {
			for _, f := range strings.Fields(body) {
				if v, ok := strings.CutPrefix(f, "instance="); ok {
					seen[v] = true
				}
			}
		}
		return seen["acme-1"] && seen["acme-2"], fmt.Sprintf("instances seen %v; want acme-1 and acme-2", seen)
	})

	for i := 0; i < 10; i++ {
		for _, c := range []struct{ host, want string }{
			{"acme.example.test", "tenant=acme "}, {"ACME.example.test", "tenant=acme "},
			{"globex.example.test", "tenant=globex "}, {"globex.example.test:80", "tenant=globex "},
		} {
			st, body, _ := r.get(t, c.host, "/x")
			if st != http.StatusOK || !strings.HasPrefix(body, c.want) {
				t.Fatalf("GET Host: %s: got %d %q; want 200 %q…", c.host, st, body, c.want)
			}
		}
	}

	for _, host := range []string{"unknown.example.test", "example.test", "acme.example.test.evil", "127.0.0.1", ""} {
		st, body, h := r.get(t, host, "/")
		if st != http.StatusNotFound || !strings.Contains(body, `"unknown host"`) {
			t.Errorf("GET Host: %q: got %d %q; want 404 unknown host", host, st, body)
		}
		if h != nil && h.Get("Server") != "nginx" {
			t.Errorf("GET Host: %q: Server header %q; want nginx without a version", host, h.Get("Server"))
		}
	}

	// Headers: security headers to the client, forwarding headers to the app.
	st, _, h := r.get(t, "acme.example.test", "/headers")
	if st != http.StatusOK {
		t.Fatalf("GET acme /headers: got %d; want 200", st)
	}
	for name, want := range map[string]string{
		"X-Content-Type-Options": "nosniff", "X-Frame-Options": "SAMEORIGIN",
		"Referrer-Policy": "strict-origin-when-cross-origin", "Strict-Transport-Security": "",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("response header %s: got %q; want %q", name, got, want)
		}
	}
	var fwd http.Header
	for _, b := range []*backend{acme1, acme2} {
		if p := b.lastHeaders.Load(); p != nil && (*p).Get("X-Request-Id") != "" {
			fwd = *p
		}
	}
	if fwd == nil {
		t.Fatal("no acme backend saw a request with X-Request-ID")
	}
	if got := fwd.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For at the app: got %q; want 127.0.0.1", got)
	}
	if got := fwd.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("X-Forwarded-Proto at the app: got %q; want http", got)
	}

	// The access log names the tenant of every request.
	waitFor(t, 5*time.Second, "access log lines for acme and globex", func() (bool, string) {
		b, _ := os.ReadFile(filepath.Join(r.dir, "access.log"))
		s := string(b)
		return strings.Contains(s, "tenant=acme host=acme.example.test") &&
				strings.Contains(s, "tenant=globex host=globex.example.test") &&
				strings.Contains(s, "tenant=- host=unknown.example.test"),
			"access.log:\n" + tail(s, 5)
	})
}

func testUnhealthyTenantIsolated(t *testing.T, r *router, client *consulapi.Client) {
	initech := startBackend(t, "initech", "initech-1")
	hooli := startBackend(t, "hooli", "hooli-1")
	registerBackend(t, client, initech, "initech.example.test")
	registerBackend(t, client, hooli, "hooli.example.test")
	wantTenant(t, r, "initech.example.test", "initech")
	wantTenant(t, r, "hooli.example.test", "hooli")

	// hooliOK is checked on every poll below: hooli is never affected.
	hooliOK := func() {
		t.Helper()
		if st, body, _ := r.get(t, "hooli.example.test", "/"); st != http.StatusOK || !strings.HasPrefix(body, "tenant=hooli ") {
			t.Fatalf("hooli while initech changes: got %d %q; want 200 from hooli", st, body)
		}
	}

	initech.healthy.Store(false)
	waitFor(t, routeTimeout, "initech to answer 503 once its check fails", func() (bool, string) {
		hooliOK()
		st, body, h := r.get(t, "initech.example.test", "/")
		ok := st == http.StatusServiceUnavailable && strings.Contains(body, `"tenant":"initech"`) &&
			h.Get("Retry-After") != "" && h.Get("Content-Type") == "application/json"
		return ok, fmt.Sprintf("got %d %q; want 503 no healthy instance", st, body)
	})
	if conf := r.conf(t); !strings.Contains(conf, "server_name initech.example.test;") || strings.Contains(conf, "upstream tenantctl_initech ") {
		t.Errorf("tenants.conf: want initech's server without an upstream")
	}

	initech.healthy.Store(true)
	waitFor(t, routeTimeout, "initech to recover once its check passes", func() (bool, string) {
		hooliOK()
		st, body, _ := r.get(t, "initech.example.test", "/")
		return st == http.StatusOK && strings.HasPrefix(body, "tenant=initech "), fmt.Sprintf("got %d %q; want 200", st, body)
	})
	hooliOK()
}

// testUnreachableInstance: an instance still passing in Consul but refusing
// connections (it just died) gets a JSON 502, not nginx's HTML page.
func testUnreachableInstance(t *testing.T, r *router, client *consulapi.Client) {
	port := testenv.FreePort(t) // nothing listens there
	register(t, client, registration{Service: "vandelay--app", Tags: tenantTags("vandelay", "vandelay.example.test"), Port: port})
	waitFor(t, routeTimeout, "vandelay to answer 502", func() (bool, string) {
		st, body, _ := r.get(t, "vandelay.example.test", "/")
		return st == http.StatusBadGateway && strings.Contains(body, `"tenant":"vandelay"`),
			fmt.Sprintf("got %d %q; want 502 no instance answered", st, body)
	})
}

func testTLS(t *testing.T, r *router, client *consulapi.Client) {
	b := startBackend(t, "stark", "stark-1")
	registerBackend(t, client, b, "stark.example.test")
	wantTenant(t, r, "stark.example.test", "stark")

	// Polled too: a worker of the previous configuration may still take
	// the first connections after a reload.
	var h http.Header
	waitFor(t, routeTimeout, "stark over HTTPS", func() (bool, string) {
		st, body, hdr := httpGet(t, r.httpsClient(), "https://stark.example.test/", "stark.example.test")
		h = hdr
		return st == http.StatusOK && strings.HasPrefix(body, "tenant=stark "), fmt.Sprintf("got %d %q; want 200 from stark", st, body)
	})
	if got := h.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
		t.Errorf("HTTPS Strict-Transport-Security: got %q; want max-age=…", got)
	}
	if p := b.lastHeaders.Load(); p == nil || (*p).Get("X-Forwarded-Proto") != "https" {
		t.Errorf("X-Forwarded-Proto at the app over HTTPS: want https")
	}
	// An unknown name is refused during the handshake.
	if st, body, _ := httpGet(t, r.httpsClient(), "https://nobody.example.test/", "nobody.example.test"); st != 0 {
		t.Errorf("HTTPS unknown host: got %d %q; want the handshake refused", st, body)
	}
}

// testRateLimit starts a second nginx rendered once with a tight rate: a
// client over the burst gets 429 from one tenant and still 200 from another,
// since every tenant has its own zone.
func testRateLimit(t *testing.T, consulAddr string, client *consulapi.Client) {
	for _, id := range []string{"soylent", "tyrell"} {
		b := startBackend(t, id, id+"-1")
		register(t, client, registration{Service: id + "--app", Tags: tenantTags(id, id+".example.test"), Port: b.Port()})
		waitFor(t, routeTimeout, id+" passing in the catalog", func() (bool, string) {
			entries, _, err := client.Health().Service(id+"--app", "", true, nil)
			return err == nil && len(entries) == 1, fmt.Sprintf("%d passing, err %v", len(entries), err)
		})
	}
	rl := startRouter(t, consulAddr, routerOptions{NoWatch: true,
		Env: []string{"TENANTCTL_ROUTER_RATE=1r/m", "TENANTCTL_ROUTER_BURST=2"}})
	var got []int
	for i := 0; i < 4; i++ {
		st, _, _ := rl.get(t, "soylent.example.test", "/")
		got = append(got, st)
	}
	if want := []int{200, 200, 200, 429}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("soylent statuses with rate 1r/m burst 2: got %v; want %v", got, want)
	}
	if st, body, _ := rl.get(t, "tyrell.example.test", "/"); st != http.StatusOK {
		t.Errorf("tyrell after soylent hit its limit: got %d %q; want 200", st, body)
	}
}
