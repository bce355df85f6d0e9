// Package consul is tenantctl's adapter over the official Consul API client:
// the per-tenant apply lock, the tenant record in KV, and service health.
//
// Nothing secret is ever written to Consul: the record holds the tenant's
// spec and status, never credentials.
package consul

import (
	"context"
	"fmt"
	"log/slog"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/tenantctl/tenantctl/internal/compat"
	"github.com/tenantctl/tenantctl/internal/exit"
)

// Config says how to reach Consul.
type Config struct {
	Address string // host:port or a URL
	Token   string
	Logger  *slog.Logger
}

// Client is a Consul adapter.
type Client struct {
	api *consulapi.Client
	log *slog.Logger
}

// New returns a Client for cfg. It does not contact Consul.
func New(cfg Config) (*Client, error) {
	c := consulapi.DefaultNonPooledConfig()
	if cfg.Address != "" {
		c.Address = cfg.Address
	}
	c.Token = cfg.Token
	api, err := consulapi.NewClient(c)
	if err != nil {
		return nil, fmt.Errorf("consul: client for %q: %w", cfg.Address, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{api: api, log: log}, nil
}

// API returns the underlying official client.
func (c *Client) API() *consulapi.Client { return c.api }

// Preflight checks that Consul answers, has a leader and is a supported
// version.
func (c *Client) Preflight(ctx context.Context) error {
	q := (&consulapi.QueryOptions{}).WithContext(ctx)
	self, err := c.api.Agent().Self()
	if err != nil {
		return exit.Wrap(fmt.Errorf("consul: unreachable: %w", err), exit.Unreachable,
			"check CONSUL_HTTP_ADDR / --consul-addr and that the Consul agent is running")
	}
	if _, _, err := c.api.Health().State(consulapi.HealthAny, q); err != nil {
		return exit.Wrap(fmt.Errorf("consul: read health: %w", err), exit.Unreachable,
			"check CONSUL_HTTP_TOKEN: tenantctl needs read access to the catalog and health")
	}
	version, _ := self["Config"]["Version"].(string)
	if err := compat.Check("consul", version); err != nil {
		return exit.Wrap(fmt.Errorf("consul: %w", err), exit.Unreachable, "upgrade Consul to 1.14 or newer")
	}
	return nil
}
