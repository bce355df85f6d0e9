package provision

import (
	"context"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/testenv"
)

// TestServiceAddrUsesTheTenantsOwnInstances: the address handed to Vault for
// a tenant's database is a passing instance that carries the tenant's tag,
// written with net.JoinHostPort (IPv6 in brackets); an instance registered
// under the tenant's service name without its tag is never used.
func TestServiceAddrUsesTheTenantsOwnInstances(t *testing.T) {
	c := testenv.SharedConsul(t)
	api := c.Client(t)
	register := func(id, addr string, tags []string) {
		t.Helper()
		reg := &consulapi.AgentServiceRegistration{ID: id, Name: "addrt--postgres", Address: addr, Port: 5432, Tags: tags,
			Check: &consulapi.AgentServiceCheck{TTL: "1m", Status: consulapi.HealthPassing}}
		if err := api.Agent().ServiceRegister(reg); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = api.Agent().ServiceDeregister(id) })
	}
	cl, err := consul.New(consul.Config{Address: c.HTTPAddr})
	if err != nil {
		t.Fatal(err)
	}
	env := Env{Consul: cl}

	register("addrt-impostor", "10.9.9.9", []string{"tenantctl"})
	if got, err := env.serviceAddr(context.Background(), "addrt--postgres", 1500*time.Millisecond); err == nil {
		t.Fatalf("serviceAddr with only an untagged instance: got %q; want an error", got)
	}
	register("addrt-own", "fd00::7", []string{"tenantctl", "tenantctl.tenant=addrt"})
	got, err := env.serviceAddr(context.Background(), "addrt--postgres", 10*time.Second)
	if err != nil || got != "[fd00::7]:5432" {
		t.Fatalf("serviceAddr: got %q, %v; want [fd00::7]:5432", got, err)
	}
}
