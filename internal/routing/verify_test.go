package routing

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/testenv"
)

// testVerify runs Verify against the real Consul and router: the cases that
// pass, then each way it fails, in parallel with short timeouts.
func testVerify(t *testing.T, r *router, client *consulapi.Client) {
	ctx := context.Background()
	health := consulAdapter(t, testenv.SharedConsul(t).HTTPAddr)
	wayne := startBackend(t, "wayne", "wayne-1")
	registerBackend(t, client, wayne, "wayne.example.test")
	spec := VerifySpec{Service: "wayne--app", Host: "wayne.example.test", RouterAddr: r.Addr, Timeout: routeTimeout}
	if err := Verify(ctx, health, spec); err != nil {
		t.Fatalf("Verify(wayne through the router): %v; want nil", err)
	}
	spec.RouterAddr = ""
	if err := Verify(ctx, health, spec); err != nil {
		t.Fatalf("Verify(wayne, Consul only): %v; want nil", err)
	}
	spec.RouterAddr = "http://" + r.Addr + "/"
	if err := Verify(ctx, health, spec); err != nil {
		t.Fatalf("Verify(wayne, router as a URL): %v; want nil", err)
	}
	spec.Tenant = "wayne"
	if err := Verify(ctx, health, spec); err != nil {
		t.Fatalf("Verify(wayne, tenant checked): %v; want nil", err)
	}

	wonka := startBackend(t, "wonka", "wonka-1")
	wonka.healthy.Store(false)
	registerBackend(t, client, wonka, "wonka.example.test")
	// Passing in Consul, but without the tenantctl tags: the router has no
	// server for its host.
	cyberdyne := startBackend(t, "cyberdyne", "cyberdyne-1")
	register(t, client, registration{Service: "cyberdyne--app", Port: cyberdyne.Port()})
	closedPort := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))

	unreachableConsul := consulAdapter(t, closedPort)

	const short = 1500 * time.Millisecond
	cases := []struct {
		name   string
		health HealthReader
		spec   VerifySpec
		code   exit.Code
		want   []string // substrings of the error
	}{
		{"not registered", health, VerifySpec{Service: "nobody--app", Timeout: short},
			exit.Partial, []string{`"nobody--app" is not registered`}},
		{"check failing", health, VerifySpec{Service: "wonka--app", Host: "wonka.example.test", RouterAddr: r.Addr, Timeout: short},
			exit.Partial, []string{`"wonka--app" has 1 instance(s) and none passing`, "critical"}},
		{"router has no server for the host", health, VerifySpec{Service: "cyberdyne--app", Host: "cyberdyne.example.test", RouterAddr: r.Addr, Timeout: short},
			exit.Partial, []string{"no server for the host", "404"}},
		{"router unreachable", health, VerifySpec{Service: "wayne--app", Host: "wayne.example.test", RouterAddr: closedPort, Timeout: short},
			exit.Partial, []string{"unreachable", "connection refused"}},
		{"consul unreachable", unreachableConsul, VerifySpec{Service: "wayne--app", Timeout: short},
			exit.Unreachable, []string{"consul", "connection refused"}},
		// The router answers 200 for the host, but from wayne's app: a
		// host served for another tenant is not this tenant's route.
		{"another tenant answers", health, VerifySpec{Service: "wayne--app", Host: "wayne.example.test", RouterAddr: r.Addr,
			Tenant: "gotham", Timeout: short},
			exit.Partial, []string{`reached tenant "wayne"`, `want tenant "gotham"`}},
		{"bad router address", health, VerifySpec{Service: "wayne--app", Host: "wayne.example.test", RouterAddr: "ftp://x", Timeout: short},
			exit.Usage, []string{"router address"}},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			err := Verify(ctx, c.health, c.spec)
			if err == nil {
				t.Fatalf("Verify: nil; want an error")
			}
			if got := exit.CodeOf(err); got != c.code {
				t.Errorf("exit code: got %d; want %d (error %v)", got, c.code, err)
			}
			if exit.HintOf(err) == "" {
				t.Errorf("error %q has no remedy; want one", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error: got %q; want it to contain %q", err, w)
				}
			}
		})
	}

	t.Run("observed", func(t *testing.T) {
		t.Parallel()
		var seen []string
		err := Verify(ctx, health, VerifySpec{Service: "cyberdyne--app", Host: "cyberdyne.example.test", RouterAddr: r.Addr,
			Timeout: short, Observe: func(s string) { seen = append(seen, s) }})
		if err == nil {
			t.Fatal("Verify(cyberdyne): nil; want an error")
		}
		if len(seen) == 0 || !strings.Contains(seen[len(seen)-1], "router answered 404") {
			t.Errorf("observed %q; want the last to say the router answered 404", seen)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(300*time.Millisecond, cancel)
		err := Verify(ctx, health, VerifySpec{Service: "nobody--app", Timeout: time.Minute})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Verify after cancel: got %v; want context.Canceled", err)
		}
	})
}

// consulAdapter is the Consul adapter Verify reads health through.
func consulAdapter(t *testing.T, addr string) *consul.Client {
	t.Helper()
	c, err := consul.New(consul.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestVerifySpecErrors(t *testing.T) {
	for _, spec := range []VerifySpec{{}, {Service: "acme--app", RouterAddr: "127.0.0.1:1"}} {
		if err := Verify(context.Background(), nil, spec); err == nil {
			t.Errorf("Verify(%+v): nil; want an error", spec)
		}
	}
}

func TestRouterURL(t *testing.T) {
	for _, c := range []struct{ addr, want string }{
		{"127.0.0.1:8080", "http://127.0.0.1:8080/api/health"},
		{"http://router.internal", "http://router.internal/api/health"},
		{"https://router.internal:8443/", "https://router.internal:8443/api/health"},
		{"http://router.internal/prefix?x=1", "http://router.internal/prefix/api/health"},
	} {
		u, err := routerURL(c.addr, DefaultHealthPath)
		if err != nil || u.String() != c.want {
			t.Errorf("routerURL(%q): got %v, %v; want %s", c.addr, u, err, c.want)
		}
	}
	for _, bad := range []string{"ftp://x", "http://", "http://[::1"} {
		if _, err := routerURL(bad, DefaultHealthPath); err == nil {
			t.Errorf("routerURL(%q): nil error; want one", bad)
		}
	}
}
