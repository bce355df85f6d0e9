package vault

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// LeaseInfo describes one dynamic credential in use, without any secret:
// the role it was issued for, a short form of its lease id (enough to tell
// leases apart), when it was issued and when it expires.
type LeaseInfo struct {
	Role      string    `json:"role"`
	Lease     string    `json:"lease"`
	Issued    time.Time `json:"issued"`
	Expires   time.Time `json:"expires"`
	Renewable bool      `json:"renewable"`
}

// LeaseInfos returns the leases of the tenant's credential roles, oldest
// first within a role. It only reads (sys/leases/lookup), and never returns
// a credential: a lease's lookup holds none.
func (c *Client) LeaseInfos(ctx context.Context, n tenant.Names) ([]LeaseInfo, error) {
	all, err := c.ListLeases(ctx, n)
	if err != nil {
		return nil, err
	}
	var out []LeaseInfo
	for _, role := range credRoles(n) {
		var infos []LeaseInfo
		for _, id := range all[role] {
			s, err := c.query(ctx, "look up lease", "sys/leases/lookup", map[string]any{"lease_id": id})
			if err != nil {
				if isGoneLease(err) {
					continue
				}
				return out, err
			}
			if s == nil {
				continue
			}
			li := LeaseInfo{Role: role, Lease: shortLease(id)}
			li.Issued = timeField(s.Data["issue_time"])
			li.Expires = timeField(s.Data["expire_time"])
			li.Renewable, _ = s.Data["renewable"].(bool)
			infos = append(infos, li)
		}
		sort.SliceStable(infos, func(i, j int) bool { return infos[i].Issued.Before(infos[j].Issued) })
		out = append(out, infos...)
	}
	return out, nil
}

// shortLease is the first 8 characters of a lease id's last segment.
func shortLease(id string) string {
	s := id[strings.LastIndexByte(id, '/')+1:]
	if len(s) > 8 {
		s = s[:8]
	}
	return s
}

func timeField(v any) time.Time {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
