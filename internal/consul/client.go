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

// Causes of Consul errors whose remedy is the front end's to word (how the
// user gives tenantctl Consul's address and token, or how long it waits for a
// lock): see exit.Cause.
const (
	// CauseUnreachable: Consul did not answer at its address.
	CauseUnreachable exit.Cause = "consul-unreachable"
	// CauseForbidden: the token may not read the catalog and health.
	CauseForbidden exit.Cause = "consul-forbidden"
	// CauseLocked: another holder kept the tenant's lock for longer than
	// the wait (the error names the holder).
	CauseLocked exit.Cause = "consul-locked"
	// CauseLockLost: the tenant's lock was lost while a command held it
	// (its session expired or was destroyed, or Consul stopped answering).
	CauseLockLost exit.Cause = "consul-lock-lost"
)

// MaxIdleConns is how many idle connections to Consul a client keeps for
// reuse: enough for a fleet apply at --parallel 16, whose tenants each hold
// up to a few requests at a time.
const MaxIdleConns = 64

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
	// One pooled transport per client: a fleet apply sends many requests
	// at once (16 tenants, each with blocking health queries and its lock's
	// session renewals), and a new TCP connection per request cost more
	// than the request. The idle pool holds as many connections as a
	// fleet apply keeps busy.
	c := consulapi.DefaultConfig()
	c.Transport.MaxIdleConnsPerHost = MaxIdleConns
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

// Preflight checks that Consul answers, has a leader and is a supported
// version.
func (c *Client) Preflight(ctx context.Context) error {
	q := (&consulapi.QueryOptions{}).WithContext(ctx)
	self, err := c.api.Agent().Self()
	if err != nil {
		return exit.Because(fmt.Errorf("consul: unreachable: %w", err), exit.Unreachable, CauseUnreachable)
	}
	if _, _, err := c.api.Health().State(consulapi.HealthAny, q); err != nil {
		return exit.Because(fmt.Errorf("consul: read health: %w", err), exit.Unreachable, CauseForbidden)
	}
	version, _ := self["Config"]["Version"].(string)
	if err := compat.Check("consul", version); err != nil {
		return exit.Wrap(fmt.Errorf("consul: %w", err), exit.Unreachable, "upgrade Consul to 1.14 or newer")
	}
	return nil
}
