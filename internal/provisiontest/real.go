package provisiontest

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/testenv"
)

// Real is the Nomad side of the opt-in real-Nomad suite: a Nomad dev agent
// started by testenv.StartNomad, wired to the harness's Consul and Vault,
// that runs the jobspecs itself. tenantctl talks to it through a counting
// proxy, so a test can assert that a converged command wrote nothing.
type Real struct {
	*testenv.Nomad
	proxy  *Proxy
	client *nomadapi.Client
}

var _ Nomad = (*Real)(nil)

// RealNomad returns a WithNomad factory that starts a real agent with opts
// (Consul and Vault are filled in from the harness's servers) and stores it
// in *out for the test's own use.
func RealNomad(opts testenv.NomadOptions, out **Real) func(testing.TB, Servers) Nomad {
	return func(tb testing.TB, s Servers) Nomad {
		tb.Helper()
		opts.Consul, opts.Vault = s.Consul, s.Vault
		n := testenv.StartNomad(tb, opts)
		r := &Real{Nomad: n, proxy: newProxy(tb, n.Addr), client: n.Client(tb)}
		if out != nil {
			*out = r
		}
		return r
	}
}

// Addr is the proxy in front of the agent: tenantctl's Nomad address.
func (r *Real) Addr() string { return r.proxy.URL() }

// JWKSURL is the agent's workload-identity keys as tenantctl sees them
// (through the proxy), so `tenantctl cluster init` run by a test finds the
// harness's own setup converged.
func (r *Real) JWKSURL() string { return r.Addr() + "/.well-known/jwks.json" }

// Proxy is the counting proxy in front of the agent.
func (r *Real) Proxy() *Proxy { return r.proxy }

// Client is an API client straight to the agent, for the tests' reads.
func (r *Real) Client() *nomadapi.Client { return r.client }

// AddTenant has nothing to do: the agent runs the tenant's tasks itself.
func (r *Real) AddTenant(*Harness, string) {}

// Postgres returns a URL to database db of tenant id's Postgres (the
// instance Nomad runs, found through Consul) as a migrate user that Vault
// issues with the root token: it owns the schema, which is what the tests
// observe. The user's lease ends with Vault's max TTL.
func (r *Real) Postgres(h *Harness, id, db string) (string, error) {
	n := Names(h.t, id)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr, err := h.passingAddr(ctx, n.ServicePostgres)
	if err != nil {
		return "", err
	}
	secret, err := h.vaultRoot.Logical().ReadWithContext(ctx, h.cfg.Vault.DatabaseMount+"/creds/"+n.DBRoleMigrate)
	if err != nil {
		return "", fmt.Errorf("vault: migrate credentials of %s: %w", id, err)
	}
	if secret == nil || secret.Data == nil {
		return "", fmt.Errorf("vault: no migrate credentials for %s", id)
	}
	user, _ := secret.Data["username"].(string)
	pass, _ := secret.Data["password"].(string)
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, pass), Host: addr, Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String(), nil
}

// Redis returns the address of tenant id's Redis (the instance Nomad runs,
// found through Consul) and an ACL user that Vault issues with the root token
// from the app's Redis role, for observations. Issuing it proves Vault can
// log in to Redis as its (rotated) admin.
func (r *Real) Redis(h *Harness, id string) (addr, user, pass string, err error) {
	n := Names(h.t, id)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr, err = h.passingAddr(ctx, n.ServiceRedis)
	if err != nil {
		return "", "", "", err
	}
	secret, err := h.vaultRoot.Logical().ReadWithContext(ctx, h.cfg.Vault.DatabaseMount+"/creds/"+n.RedisRoleApp)
	if err != nil {
		return "", "", "", fmt.Errorf("vault: redis credentials of %s: %w", id, err)
	}
	if secret == nil || secret.Data == nil {
		return "", "", "", fmt.Errorf("vault: no redis credentials for %s", id)
	}
	user, _ = secret.Data["username"].(string)
	pass, _ = secret.Data["password"].(string)
	return addr, user, pass, nil
}
