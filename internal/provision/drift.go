package provision

import (
	"context"
	"fmt"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// Digest is the spec digest up would record for spec with env's config,
// jobspecs and migrations (tenant.Record.SpecVersion). It renders offline.
// A record whose digest differs was applied from another desired state: an
// older tenantctl, another config or another spec.
func Digest(env Env, spec tenant.Spec) (string, error) {
	d, err := env.desiredState(spec, 0)
	if err != nil {
		return "", err
	}
	return d.digest, nil
}

// Health says whether tenant id's services are healthy now: "" when every
// component's Consul service has a passing instance, otherwise the first that
// has none. It only reads (a fleet apply's canary soak and list use it).
func Health(ctx context.Context, env Env, id tenant.ID) (string, error) {
	n := tenant.NamesFor(id)
	for _, svc := range n.Services(tenant.Components()) {
		is, err := env.Consul.ServiceHealth(ctx, svc)
		if err != nil {
			return "", err
		}
		if len(consul.Passing(is)) == 0 {
			return fmt.Sprintf("service %s has no passing instance", svc), nil
		}
	}
	return "", nil
}
