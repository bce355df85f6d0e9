package provision

import (
	"context"
	"fmt"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// specChanges compares spec with the tenant's record: it returns the fields
// that change (none for a new tenant), or a usage error when the profile
// would change, which no command does in place.
func (e Env) specChanges(ctx context.Context, spec tenant.Spec) ([]tenant.Change, error) {
	rec, err := e.Consul.ReadRecord(ctx, spec.Names().KVPrefix)
	if err != nil {
		return nil, exit.Because(err, exit.Unreachable, consul.CauseUnreachable)
	}
	if rec == nil {
		return nil, nil
	}
	if err := CheckProfile(spec.ID, rec.Profile, spec.Profile); err != nil {
		return nil, err
	}
	return rec.Changes(spec), nil
}

// CheckProfile refuses profile given for tenant id when the tenant's record
// says it runs another one (recorded; empty when unknown). A profile
// decides where the tenant's data lives (host directories for exec, host
// volumes for docker), so a switch would start the tenant on an empty data
// path and strand its data: tenantctl never does that in place.
func CheckProfile(id tenant.ID, recorded string, given tenant.Profile) error {
	if recorded == "" || recorded == string(given) {
		return nil
	}
	return exit.New(exit.Usage,
		fmt.Sprintf("leave out --profile (tenant %s keeps the %s profile); to move it to %s, export its data, `tenantctl down %s --purge-data`, then `tenantctl up %s --profile %s` and restore the data",
			id, recorded, given, id, id, given),
		"tenant %s runs the %s profile, not %s: its data lives on the %s profile's data path, so tenantctl never switches a tenant's profile in place",
		id, recorded, given, recorded)
}
