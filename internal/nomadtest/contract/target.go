// Package contract states, as one test suite, the behaviours of Nomad's HTTP
// API that tenantctl relies on. The same suite runs against the in-repo
// double (internal/nomadtest) by default and against a real Nomad agent when
// TENANTCTL_TEST_NOMAD_ADDR (and optionally TENANTCTL_TEST_NOMAD_TOKEN) is
// set, so a green run against the double means something about Nomad.
//
// Against a real agent, cases that need scripting only the double offers
// (injected faults, scripted task failures, placement failures) are skipped
// with a message saying so; nothing passes silently.
//
// Every other case passed against a real Nomad 2.0.5 dev agent (Consul
// 1.14.11, Vault 1.13.0, the agent's vault block enabled) in about 45 s:
//
//	TENANTCTL_TEST_NOMAD_ADDR=http://127.0.0.1:<port> go test -count=1 ./internal/nomadtest/contract/
//
// AutoRevert (a failed deployment rolled back to the newest stable version,
// and its exact descriptions) was run against the same agent build on its
// own.
//
// ParseErrors holds exact error texts the agent answered; ParseGolden
// compares whole parsed jobs with testdata/parse/*.json, which were recorded
// from the agent (TENANTCTL_TEST_NOMAD_UPDATE=1 with a real agent rewrites
// them; it is refused against the double).
package contract

import (
	"os"
	"testing"

	"github.com/hashicorp/nomad/api"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
)

// Environment variables selecting a real Nomad agent.
const (
	EnvAddr  = "TENANTCTL_TEST_NOMAD_ADDR"
	EnvToken = "TENANTCTL_TEST_NOMAD_TOKEN"
)

// Target is the Nomad a contract run talks to.
type Target struct {
	// Name describes the target in messages ("nomadtest" or the address).
	Name string
	// Client is a Nomad API client for the target, with no namespace set.
	Client *api.Client
	// Double is the in-repo double when the target is one; nil for a real
	// agent. Cases that script outcomes or inject faults need it.
	Double *nomadtest.Server
}

// DefaultTarget returns a real agent when TENANTCTL_TEST_NOMAD_ADDR is set,
// else a fresh double (stopped by t.Cleanup) built with opts.
func DefaultTarget(t testing.TB, opts ...nomadtest.Option) Target {
	t.Helper()
	if addr := os.Getenv(EnvAddr); addr != "" {
		cfg := api.DefaultConfig()
		cfg.Address = addr
		cfg.SecretID = os.Getenv(EnvToken)
		cfg.Namespace = ""
		c, err := api.NewClient(cfg)
		if err != nil {
			t.Fatalf("contract: nomad client for %s: %v", addr, err)
		}
		return Target{Name: addr, Client: c}
	}
	srv := nomadtest.New(t, opts...)
	return Target{Name: "nomadtest", Client: srv.Client(), Double: srv}
}

// needDouble skips a case a real cluster cannot script, saying why.
func (tg Target) needDouble(t *testing.T, what string) *nomadtest.Server {
	t.Helper()
	if tg.Double == nil {
		t.Skipf("real Nomad at %s: cannot script %s; this case runs against the double only", tg.Name, what)
	}
	return tg.Double
}
