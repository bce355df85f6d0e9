package provision

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/testenv"
)

// TestHostListingSeesHostsTakenDuringTheRun: a fleet apply's shared host
// listing refuses a host that another tenant took just before the check (in
// its record, or in its services' tags), however many checks share reads
// at once: every check reads a listing that began after it did.
func TestHostListingSeesHostsTakenDuringTheRun(t *testing.T) {
	c := testenv.SharedConsul(t)
	cl, err := consul.New(consul.Config{Address: c.HTTPAddr})
	if err != nil {
		t.Fatal(err)
	}
	env := Env{Consul: cl}
	shared := NewHostListing(env)
	ctx := context.Background()
	spec := func(id, host string) desired {
		t.Helper()
		s, err := tenant.NewSpec(tenant.SpecInput{ID: id, Host: host, BaseDomain: "tenants.localhost.test", Plan: "small", Profile: "exec"})
		if err != nil {
			t.Fatal(err)
		}
		return desired{spec: s}
	}
	// Warm the listing: reads under way must not serve later checks.
	if err := env.hostFree(ctx, spec("hl-taker", "hl-warm.example.test"), shared); err != nil {
		t.Fatalf("free host: got %v; want nil", err)
	}
	const rounds, checkers = 12, 8
	calls := 1
	for i := range rounds {
		holder, host := fmt.Sprintf("hl-holder-%d", i), fmt.Sprintf("hl-%d.example.test", i)
		prefix := tenant.NamesFor(spec(holder, host).spec.ID).KVPrefix
		if i%2 == 0 {
			// Taken in a record (a tenant that finished its up).
			if _, err := cl.WriteRecord(ctx, prefix, tenant.Record{Tenant: holder, Host: host, Status: tenant.StatusReady}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _, _ = cl.DeletePrefix(context.Background(), prefix) })
		} else {
			// Taken in the catalog (a tenant whose up has not finished).
			// A catalog write of an external node is in the catalog when it
			// returns (an agent registration reaches it asynchronously).
			api := c.Client(t)
			reg := &consulapi.CatalogRegistration{Node: "hl-node-" + holder, Address: "127.0.0.1",
				Service: &consulapi.AgentService{ID: holder, Service: holder + "--app", Port: 8080,
					Tags: []string{"tenantctl", "tenantctl.tenant=" + holder, "tenantctl.host=" + host}}}
			if _, err := api.Catalog().Register(reg, nil); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_, _ = api.Catalog().Deregister(&consulapi.CatalogDeregistration{Node: reg.Node}, nil)
			})
		}
		var wg sync.WaitGroup
		errs := make([]error, checkers)
		for k := range checkers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[k] = env.hostFree(ctx, spec(fmt.Sprintf("hl-taker-%d", k), host), shared)
			}()
		}
		wg.Wait()
		calls += checkers
		for k, err := range errs {
			if err == nil || !strings.Contains(err.Error(), "held by tenant "+holder) {
				t.Errorf("round %d, check %d of host %s taken by %s: got %v; want it refused naming %s", i, k, host, holder, err, holder)
			}
		}
	}
	t.Logf("%d checks shared %d listing reads", calls, shared.Reads())
}
