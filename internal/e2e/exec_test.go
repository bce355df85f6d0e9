package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/nomadtest/contract"
	"github.com/tenantctl/tenantctl/internal/testenv"
)

// TestRealNomadContract runs the Nomad contract suite against a real agent
// the harness starts (with the harness's Consul and Vault): the behaviours
// the double promises, checked on Nomad itself. Cases that need the
// double's scripting skip, saying so.
func TestRealNomadContract(t *testing.T) {
	bin := testenv.NomadBinary(t)
	n := testenv.StartNomad(t, testenv.NomadOptions{Bin: bin, Consul: testenv.SharedConsul(t), Vault: testenv.SharedVault(t)})
	t.Logf("real Nomad %s at %s", n.Version, n.Addr)
	contract.Run(t, contract.Target{Name: "nomad " + n.Version + " at " + n.Addr, Client: n.Client(t)})
}

// TestRealNomadExecCycle is the whole exec-profile cycle a user runs, on a
// real Nomad agent: cluster init, the router job, up of two tenants, a
// request routed by Host header, a converged up that writes nothing, plan
// with no change, migrate, rotate with the route answering throughout,
// status --json, and down of one tenant with the other untouched.
func TestRealNomadExecCycle(t *testing.T) {
	w := newWorld(t)
	h := w.h

	// cluster init was applied by the harness; the CLI finds it converged.
	if r := w.must("cluster", "init"); !strings.Contains(r.stdout+r.stderr, "no changes") {
		t.Errorf("cluster init on an initialised cluster: got %q; want it to say no changes", r.stdout+r.stderr)
	}
	w.startRouter()

	// A new tenant, alone on the cluster: the figure the docs quote.
	r := w.must("up", "acme", "--name", "ACME Corporation", "--json", "--timeout", "5m")
	reportSteps("up/new-tenant", r)
	w.reportTimeline("up/new-tenant", "acme", minHealthy(t), r)
	w.assertRouted("acme")
	w.assertCredentialFiles("acme")

	// A second tenant while the first serves.
	r = w.must("up", "acme-corp", "--json", "--timeout", "5m")
	reportSteps("up/second-tenant", r)
	w.reportTimeline("up/second-tenant", "acme-corp", minHealthy(t), r)
	w.assertRouted("acme-corp")
	w.assertRouted("acme")

	w.convergedUp("up/converged", "acme", "--name", "ACME Corporation")

	if r := w.run("plan", "acme", "--name", "ACME Corporation"); r.code != exit.OK {
		t.Errorf("plan of a converged tenant: got exit %d; want 0\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	r = w.must("migrate", "acme")
	report("migrate/converged", r.took)

	// Rotate while a client asks the router every 200 ms.
	stop := w.probe("acme")
	time.Sleep(time.Second)
	r = w.must("rotate", "acme", "--json")
	reportSteps("rotate", r)
	time.Sleep(2 * time.Second)
	ok, fails := stop()
	if ok == 0 || len(fails) > 0 {
		t.Errorf("requests through the router during rotate: %d answered, %d failed; want none failed:\n%s",
			ok, len(fails), strings.Join(fails, "\n"))
		w.dumpRouter()
	}
	w.assertRouted("acme")

	// rotate's scales were its own: the record follows them, and an up
	// right after it still plans no job.
	w.convergedUp("up/converged-after-rotate", "acme", "--name", "ACME Corporation")

	r = w.must("status", "acme", "--json")
	var st struct {
		Tenant string `json:"tenant"`
		Record *struct {
			Status string `json:"status"`
		} `json:"record"`
		Services map[string][]struct {
			Status string `json:"status"`
		} `json:"services"`
	}
	if err := json.Unmarshal([]byte(lastLine(r.stdout)), &st); err != nil || st.Record == nil {
		t.Errorf("status --json: got %.300q (%v); want the tenant's status as one JSON object", r.stdout, err)
	} else if st.Tenant != "acme" || st.Record.Status != "ready" || len(st.Services["acme--app"]) == 0 {
		t.Errorf("status --json of a healthy tenant: got tenant %q, record status %q, %d app instances; want acme, ready, ≥ 1",
			st.Tenant, st.Record.Status, len(st.Services["acme--app"]))
	}

	// down of one tenant leaves the other exactly as it was.
	before := h.Snapshot("acme")
	r = w.must("down", "acme-corp", "--yes", "--json")
	reportSteps("down", r)
	h.AssertGone("acme-corp")
	if after := h.Snapshot("acme"); after != before {
		t.Errorf("acme after down acme-corp:\n got %s\nwant %s", after, before)
	}
	w.assertRouted("acme")
	if code, _, err := w.routed("acme-corp", "/api/ready"); err == nil && code == 200 {
		t.Errorf("acme-corp after down: the router still answers 200 for its host")
	}
}

// convergedUp runs up on a converged tenant and checks what it costs: no
// write to Nomad or Vault (the lock is its only Consul write) and no parse
// or plan either, Nomad still holding every job at the modify index the
// tenant's record has for it.
func (w *world) convergedUp(name string, args ...string) {
	w.t.Helper()
	nomadW, vaultW, consulW := w.real.Proxy().Writes(), w.h.VaultProxy().Writes(), w.h.ConsulProxy().Writes()
	plans := w.real.Proxy().ParsesAndPlans()
	r := w.must(append(append([]string{"up"}, args...), "--json")...)
	reportSteps(name, r)
	if d := w.real.Proxy().Writes() - nomadW; d != 0 {
		w.t.Errorf("%s: got %d writes to Nomad; want 0", name, d)
	}
	if d := w.real.Proxy().ParsesAndPlans() - plans; d != 0 {
		w.t.Errorf("%s: got %d parse and plan requests to Nomad; want 0 (every job at its recorded index)\n%s", name, d, r.stdout)
	}
	if d := w.h.VaultProxy().Writes() - vaultW; d != 0 {
		w.t.Errorf("%s: got %d writes to Vault; want 0", name, d)
	}
	w.t.Logf("%s: %d Consul writes (the tenant lock)", name, w.h.ConsulProxy().Writes()-consulW)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
