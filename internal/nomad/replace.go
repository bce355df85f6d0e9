package nomad

import (
	"context"
	"fmt"

	"github.com/hashicorp/nomad/api"
)

// ReplaceAllocations stops the job's running allocations one at a time and
// waits, after each, until Nomad has placed a replacement and it runs: a new
// allocation starts its tasks from scratch, so its templates render fresh
// credentials with the task's workload identity. It returns how many
// allocations it replaced. Service health is the caller's to check (Consul
// knows it; a replacement outside a deployment has no deployment health).
func (c *Client) ReplaceAllocations(ctx context.Context, ns, jobID string) (int, error) {
	allocs, _, err := c.Allocations(ctx, ns, jobID)
	if err != nil {
		return 0, err
	}
	replaced := 0
	for _, a := range allocs {
		if a.DesiredStatus != api.AllocDesiredStatusRun || a.ClientStatus != api.AllocClientStatusRunning {
			continue
		}
		running := 0
		for _, o := range allocs {
			if o.DesiredStatus == api.AllocDesiredStatusRun && o.ClientStatus == api.AllocClientStatusRunning {
				running++
			}
		}
		// The replacement is a running allocation Nomad did not have before
		// this stop; comparing creation times would accept an earlier
		// replacement.
		known := make(map[string]bool, len(allocs))
		for _, o := range allocs {
			known[o.ID] = true
		}
		if _, err := c.api.Allocations().Stop(&api.Allocation{ID: a.ID}, c.q(ctx, ns)); err != nil {
			return replaced, fmt.Errorf("nomad: stop allocation %s of %q: %s: %w", shortID(a.ID), jobID, responseBody(err), err)
		}
		replaced++
		err := c.watch(ctx, func(q *api.QueryOptions) (bool, uint64, error) {
			list, idx, err := c.allocations(ctx, ns, jobID, q)
			if err != nil {
				return false, 0, err
			}
			allocs = list
			now, fresh := 0, false
			for _, o := range list {
				if o.DesiredStatus != api.AllocDesiredStatusRun || o.ClientStatus != api.AllocClientStatusRunning {
					continue
				}
				now++
				fresh = fresh || !known[o.ID]
			}
			return fresh && now >= running, idx, nil
		})
		if err != nil {
			return replaced, fmt.Errorf("nomad: wait for the replacement of allocation %s of %q: %w", shortID(a.ID), jobID, err)
		}
	}
	return replaced, nil
}
