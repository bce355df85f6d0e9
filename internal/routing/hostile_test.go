package routing

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	consulapi "github.com/hashicorp/consul/api"
)

// hostileServices are registrations that must never reach the config: each
// is skipped whole. Each uses its own tenant id, so a leak shows which one.
var hostileServices = []struct {
	name    string
	service string
	tags    []string
}{
	{"semicolon in host", "evila--app", tenantTags("evila", `evila.example.test; return 200 "pwned"`)},
	{"newline and second directive", "evilb--app", tenantTags("evilb", "evilb.example.test;\n}\nserver { listen 1; }")},
	{"braces in host", "evilc--app", tenantTags("evilc", "evilc.example.test{")},
	{"space in host", "evild--app", tenantTags("evild", "evild.example.test other.example.test")},
	{"quote in host", "evile--app", tenantTags("evile", `evile.example.test"`)},
	{"dollar in host", "evilf--app", tenantTags("evilf", "$host.example.test")},
	{"upper case host", "evilg--app", tenantTags("evilg", "EVILG.example.test")},
	{"wildcard host", "evilh--app", tenantTags("evilh", "*.example.test")},
	{"trailing dot", "evili--app", tenantTags("evili", "evili.example.test.")},
	{"single label host", "evilj--app", tenantTags("evilj", "localhost")},
	{"all-digit top label", "evilk--app", tenantTags("evilk", "10.0.0.1")},
	{"label over 63", "evill--app", tenantTags("evill", strings.Repeat("a", 64)+".example.test")},
	{"hyphen at label edge", "evilm--app", tenantTags("evilm", "-evilm.example.test")},
	{"one valid and one hostile host", "eviln--app",
		append(tenantTags("eviln", "eviln.example.test"), "tenantctl.host=x.example.test;")},
	{"empty host", "evilo--app", tenantTags("evilo", "")},
	{"no host tag", "evilp--app", []string{"tenantctl", "tenantctl.tenant=evilp"}},
	{"semicolon in tenant", "evilq--app", tenantTags("evilq;", "evilq.example.test")},
	{"newline in tenant", "evilr--app", tenantTags("evilr\n", "evilr.example.test")},
	{"tenant does not match name", "evils--app", tenantTags("other", "evils.example.test")},
	{"two tenant tags", "evilt--app", append(tenantTags("evilt", "evilt.example.test"), "tenantctl.tenant=evilu")},
	{"double hyphen tenant", "ev--il--app", tenantTags("ev--il", "evil.example.test")},
	{"upper case tenant", "Evilv--app", tenantTags("Evilv", "evilv.example.test")},
	{"worker service", "evilw--worker", tenantTags("evilw", "evilw.example.test")},
	{"name with consul-template query syntax", "evilx--app|any", tenantTags("evilx", "evilx.example.test")},
	// Takes another tenant's default host: umbrella keeps it whatever the
	// names' order ("aaa" sorts before "umbrella").
	{"steals another tenant's host", "aaa--app", tenantTags("aaa", "umbrella.example.test")},
}

// testHostileTags registers hostile services next to a good tenant and checks
// that the config stays valid, the good tenant keeps working and nothing of
// the hostile values reaches the config.
func testHostileTags(t *testing.T, r *router, client *consulapi.Client) {
	good := startBackend(t, "umbrella", "umbrella-1")
	bad := startBackend(t, "evil", "evil-1")
	for _, h := range hostileServices {
		register(t, client, registration{Service: h.service, Tags: h.tags, Port: bad.Port()})
	}
	registerBackend(t, client, good, "umbrella.example.test")
	wantTenant(t, r, "umbrella.example.test", "umbrella")
	r.nginxTest(t)

	conf := r.conf(t)
	for _, leak := range []string{"pwned", "listen 1;", "evil", "other.example.test", "$host.example",
		"*.example.test", "localhost", "10.0.0.1", "x.example.test"} {
		if strings.Contains(conf, leak) {
			t.Errorf("tenants.conf contains %q from a hostile service", leak)
		}
	}
	skipped := 0 // services not named <x>--app (workers) are ignored without a comment
	for _, h := range hostileServices {
		if strings.HasSuffix(h.service, "--app") {
			skipped++
		}
	}
	if got, want := strings.Count(conf, "# Skipped"), skipped; got < want {
		t.Errorf("tenants.conf has %d skipped services; want at least %d", got, want)
	}
	for _, host := range []string{"evila.example.test", "evilb.example.test", "eviln.example.test", "evils.example.test",
		"evilt.example.test", "evilw.example.test", "evilx.example.test", "other.example.test"} {
		if st, body, _ := r.get(t, host, "/"); st != http.StatusNotFound {
			t.Errorf("GET Host: %s: got %d %q; want 404", host, st, body)
		}
	}
	for i := 0; i < 5; i++ {
		if st, body, _ := r.get(t, "umbrella.example.test", "/"); st != http.StatusOK || !strings.HasPrefix(body, "tenant=umbrella ") {
			t.Fatalf("umbrella next to hostile services: got %d %q; want 200 from umbrella", st, body)
		}
	}
	if t.Failed() {
		t.Logf("tenants.conf:\n%s", conf)
	}
}

// testManyTenants registers n tenants, each with its own backend, and checks
// that every host reaches its own tenant and the config passes nginx -t.
func testManyTenants(t *testing.T, r *router, client *consulapi.Client, n int) {
	backends := make([]*backend, n)
	for i := range backends {
		id := fmt.Sprintf("bulk-%03d", i)
		backends[i] = startBackend(t, id, id+"-1")
		register(t, client, registration{Service: id + "--app", Tags: tenantTags(id, id+".example.test"), Port: backends[i].Port()})
	}
	last := backends[n-1].Tenant
	wantTenant(t, r, last+".example.test", last)
	r.nginxTest(t)
	for _, b := range backends {
		host := b.Tenant + ".example.test"
		st, body, _ := r.get(t, host, "/")
		if st != http.StatusOK || !strings.HasPrefix(body, "tenant="+b.Tenant+" ") {
			// The last registration may still be settling: wait for this one.
			wantTenant(t, r, host, b.Tenant)
		}
	}
	if got := strings.Count(r.conf(t), "\nupstream tenantctl_bulk-"); got != n {
		t.Errorf("tenants.conf has %d bulk upstreams; want %d", got, n)
	}
}
