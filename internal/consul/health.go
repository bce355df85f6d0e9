package consul

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// Instance is one registered instance of a service and its aggregated check
// status ("passing", "warning" or "critical").
type Instance struct {
	ID      string   `json:"id"`
	Node    string   `json:"node"`
	Address string   `json:"address"`
	Port    int      `json:"port"`
	Tags    []string `json:"tags"`
	Status  string   `json:"status"`
	// Checks are the instance's checks, its node's included.
	Checks []Check `json:"checks,omitempty"`
}

// Check is one health check of an instance.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	// Output is what the check last reported.
	Output string `json:"output,omitempty"`
}

// ServiceHealth returns every instance of service with its check status.
func (c *Client) ServiceHealth(ctx context.Context, service string) ([]Instance, error) {
	is, _, err := c.ServiceHealthSince(ctx, service, 0, 0)
	return is, err
}

// ServiceHealthSince is ServiceHealth as a Consul blocking query: it
// answers once the service's health has changed since index (at once for
// index 0, or when Consul's index went back), or when wait has passed
// (Consul adds up to a sixteenth), with the index to pass next time. A wait
// for a check to pass thus learns of it at once instead of at the next poll.
func (c *Client) ServiceHealthSince(ctx context.Context, service string, index uint64, wait time.Duration) ([]Instance, uint64, error) {
	q := (&consulapi.QueryOptions{WaitIndex: index, WaitTime: wait}).WithContext(ctx)
	entries, meta, err := c.api.Health().Service(service, "", false, q)
	if err != nil {
		return nil, 0, fmt.Errorf("consul: health of %q: %w", service, err)
	}
	next := meta.LastIndex
	if next < index || next == 0 {
		// A restored snapshot or a new cluster: start over; 0 would not block.
		next = 1
	}
	out := make([]Instance, 0, len(entries))
	for _, e := range entries {
		addr := e.Service.Address
		if addr == "" {
			addr = e.Node.Address
		}
		in := Instance{
			ID: e.Service.ID, Node: e.Node.Node, Address: addr, Port: e.Service.Port,
			Tags: e.Service.Tags, Status: e.Checks.AggregatedStatus(),
		}
		for _, hc := range e.Checks {
			in.Checks = append(in.Checks, Check{Name: hc.Name, Status: hc.Status, Output: hc.Output})
		}
		out = append(out, in)
	}
	return out, next, nil
}

// Passing returns the instances among is whose checks all pass. It is the
// one definition of "passing" tenantctl uses.
func Passing(is []Instance) []Instance {
	var out []Instance
	for _, i := range is {
		if i.Status == consulapi.HealthPassing {
			out = append(out, i)
		}
	}
	return out
}

// TenantsTagged returns the tenant ids (from their tenantctl.tenant=<id>
// tags) of the catalog's services that carry tag, sorted and unique: for
// example the tenants whose services name a host (tenantctl.host=<host>).
func (c *Client) TenantsTagged(ctx context.Context, tag string) ([]string, error) {
	byTag, err := c.TenantsByTag(ctx)
	if err != nil {
		return nil, err
	}
	return byTag[tag], nil
}

// TenantsByTag reads the catalog's services once and returns, for every tag
// of a tenant's service (one with a tenantctl.tenant=<id> tag), the tenant
// ids whose services carry it, sorted and unique: TenantsTagged for every
// tag at once.
func (c *Client) TenantsByTag(ctx context.Context) (map[string][]string, error) {
	services, _, err := c.api.Catalog().Services((&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("consul: catalog services: %w", err)
	}
	out := map[string][]string{}
	for _, tags := range services {
		var ids []string
		for _, t := range tags {
			if id, ok := strings.CutPrefix(t, "tenantctl.tenant="); ok {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			continue
		}
		for _, t := range tags {
			for _, id := range ids {
				if !slices.Contains(out[t], id) {
					out[t] = append(out[t], id)
				}
			}
		}
	}
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out, nil
}
