package routing

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/tenantctl/tenantctl/internal/testenv"
)

// testPathRouting starts a router with a shared path host: /<id>/... on that
// host reaches tenant <id>'s app with the prefix stripped and
// X-Forwarded-Prefix set, while each tenant's own host keeps working; a path
// cannot lead into another tenant's prefix, and no tenant can claim the
// shared host for itself.
func testPathRouting(t *testing.T, consulAddr string, client *consulapi.Client) {
	const shared = "apps.example.test"
	backends := map[string]*backend{}
	for _, id := range []string{"pathy", "pathz"} {
		b := startBackend(t, id, id+"-1")
		backends[id] = b
		register(t, client, registration{Service: id + "--app", Tags: tenantTags(id, id+".example.test"), Port: b.Port(), HTTPCheck: true})
	}
	// Claims the shared host as its own: it must not get it.
	thief := startBackend(t, "pathw", "pathw-1")
	register(t, client, registration{Service: "pathw--app", Tags: tenantTags("pathw", shared), Port: thief.Port(), HTTPCheck: true})
	waitFor(t, routeTimeout, "the path tenants passing in the catalog", func() (bool, string) {
		for _, id := range []string{"pathy", "pathz", "pathw"} {
			entries, _, err := client.Health().Service(id+"--app", "", true, nil)
			if err != nil || len(entries) != 1 {
				return false, fmt.Sprintf("%s: %d passing, err %v", id, len(entries), err)
			}
		}
		return true, ""
	})
	r := startRouter(t, consulAddr, routerOptions{NoWatch: true, Env: []string{"TENANTCTL_ROUTER_PATH_HOST=" + shared}})
	r.nginxTest(t)

	for _, c := range []struct {
		path, wantBody string
		wantStatus     int
	}{
		{"/pathy/hello?x=1", "tenant=pathy instance=pathy-1 host=" + shared + " path=/hello", http.StatusOK},
		{"/pathz/", "tenant=pathz instance=pathz-1 host=" + shared + " path=/", http.StatusOK},
		// nginx resolves dot segments before routing: this asks for pathz.
		{"/pathy/../pathz/x", "tenant=pathz instance=pathz-1 host=" + shared + " path=/x", http.StatusOK},
		{"/pathy/%2e%2e/pathz/x", "tenant=pathz instance=pathz-1 host=" + shared + " path=/x", http.StatusOK},
		{"/nobody/x", `{"error":"unknown tenant"}`, http.StatusNotFound},
		{"/pathyz/x", `{"error":"unknown tenant"}`, http.StatusNotFound},
		{"/pathw/x", `{"error":"unknown tenant"}`, http.StatusNotFound},
		{"/", `{"error":"unknown tenant"}`, http.StatusNotFound},
	} {
		st, body, _ := r.get(t, shared, c.path)
		if st != c.wantStatus || strings.TrimSpace(body) != c.wantBody {
			t.Errorf("GET %s (Host %s): got %d %q; want %d %q", c.path, shared, st, strings.TrimSpace(body), c.wantStatus, c.wantBody)
		}
	}
	if p := backends["pathy"].lastHeaders.Load(); p == nil || (*p).Get("X-Forwarded-Prefix") != "/pathy" {
		t.Errorf("X-Forwarded-Prefix at pathy's app: want /pathy")
	}
	noFollow := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	st, _, h := httpGet(t, noFollow, "http://"+r.Addr+"/pathy?x=1", shared)
	if st != http.StatusPermanentRedirect || h.Get("Location") != "/pathy/?x=1" {
		t.Errorf("GET /pathy?x=1: got %d Location %q; want 308 to /pathy/?x=1", st, h.Get("Location"))
	}
	// Hosts keep working next to the path host.
	if st, body, _ := r.get(t, "pathy.example.test", "/a"); st != http.StatusOK || !strings.HasPrefix(body, "tenant=pathy ") {
		t.Errorf("GET /a (Host pathy.example.test): got %d %q; want 200 from pathy", st, body)
	}
	// Verify probes the path route too.
	health := consulAdapter(t, testenv.SharedConsul(t).HTTPAddr)
	spec := VerifySpec{Service: "pathy--app", Host: "pathy.example.test", RouterAddr: r.Addr, Tenant: "pathy",
		PathHost: shared, Timeout: routeTimeout}
	if err := Verify(context.Background(), health, spec); err != nil {
		t.Errorf("Verify(pathy with path host): %v; want nil", err)
	}
	// The thief's own host probe answers (404 unknown host), and its path
	// route does not exist: Verify must say so.
	spec = VerifySpec{Service: "pathw--app", Host: shared, RouterAddr: r.Addr, Tenant: "pathw", PathHost: shared, Timeout: 1500 * time.Millisecond}
	if err := Verify(context.Background(), health, spec); err == nil {
		t.Errorf("Verify(pathw, whose host is the path host): nil; want an error")
	}
	if conf := r.conf(t); strings.Count(conf, "server_name "+shared+";") != 1 {
		t.Errorf("tenants.conf names %s in %d server blocks; want exactly the path server", shared, strings.Count(conf, "server_name "+shared+";"))
	}
}
