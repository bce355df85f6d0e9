package nomadtest_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
	"github.com/tenantctl/tenantctl/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

func TestConsulRegistrationFollowsAlloc(t *testing.T) {
	consul := testenv.SharedConsul(t)
	cc := consul.Client(t)
	srv := nomadtest.New(t).WithConsul(consul.Addr)
	c := srv.Client()
	srv.OnTask("default", "acme-app", "server", func(ctx context.Context, ts nomadtest.TaskStart) (*nomadtest.TaskRun, error) {
		l, err := net.Listen("tcp", ts.Env["NOMAD_ADDR_http"])
		if err != nil {
			return nil, err
		}
		hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })}
		go hs.Serve(l)
		return &nomadtest.TaskRun{Stop: func() { hs.Close() }}, nil
	})
	if _, _, err := c.Jobs().Register(serviceJob("default", "acme-app", 1), nil); err != nil {
		t.Fatal(err)
	}
	waitDeployment(t, c, "default", "acme-app", api.DeploymentStatusSuccessful)
	allocs, _, err := c.Jobs().Allocations("acme-app", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	alloc := allocs[0]
	port := alloc.AllocatedResources.Shared.Ports[0].Value

	services, err := cc.Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	wantID := "_nomad-task-" + alloc.ID + "-group-app-acme-app-http"
	svc := services[wantID]
	if svc == nil {
		t.Fatalf("got services %v; want %s", keys(services), wantID)
	}
	if svc.Service != "acme-app" || svc.Port != port || svc.Address != "127.0.0.1" || strings.Join(svc.Tags, ",") != "tenant=acme" {
		t.Errorf("got %s %s:%d tags %v; want acme-app 127.0.0.1:%d tags [tenant=acme]", svc.Service, svc.Address, svc.Port, svc.Tags, port)
	}
	checks, err := cc.Agent().Checks()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, chk := range checks {
		if chk.ServiceID == wantID && chk.Type == "http" {
			found = true
		}
	}
	if !found {
		t.Errorf("got no http check for %s; want one", wantID)
	}
	// The check reaches the hook's server, so Consul turns it passing.
	deadline := time.Now().Add(30 * time.Second)
	for {
		entries, _, err := cc.Health().Service("acme-app", "", true, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got no passing acme-app instance before the deadline; want one")
		}
		time.Sleep(100 * time.Millisecond)
	}

	if _, _, err := c.Jobs().Deregister("acme-app", true, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, "alloc stopped", func(q *api.QueryOptions) (bool, uint64, error) {
		a, m, err := c.Allocations().Info(alloc.ID, q)
		if err != nil {
			return false, 0, err
		}
		return a.ClientStatus == "complete", m.LastIndex, nil
	})
	srv.Close() // waits for every release, including Consul deregistration
	services, err = cc.Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	if services[wantID] != nil {
		t.Errorf("got %s still registered after the alloc stopped; want it gone", wantID)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
