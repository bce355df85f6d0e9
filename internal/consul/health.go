package consul

import (
	"context"
	"fmt"

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
}

// ServiceHealth returns every instance of service with its check status.
func (c *Client) ServiceHealth(ctx context.Context, service string) ([]Instance, error) {
	entries, _, err := c.api.Health().Service(service, "", false, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("consul: health of %q: %w", service, err)
	}
	out := make([]Instance, 0, len(entries))
	for _, e := range entries {
		addr := e.Service.Address
		if addr == "" {
			addr = e.Node.Address
		}
		out = append(out, Instance{
			ID: e.Service.ID, Node: e.Node.Node, Address: addr, Port: e.Service.Port,
			Tags: e.Service.Tags, Status: e.Checks.AggregatedStatus(),
		})
	}
	return out, nil
}

// Passing counts the passing instances among is.
func Passing(is []Instance) int {
	n := 0
	for _, i := range is {
		if i.Status == consulapi.HealthPassing {
			n++
		}
	}
	return n
}
