package e2e

import (
	"os"
	"regexp"
	"testing"
)

// TestRealNomadDownUpKeepsData is down (data kept) then up of one tenant on
// a real agent, through the CLI: every task logs in to Vault with its own
// component's role (dispatched migration runs included); a row written
// through the app and a Redis key come back after down and up, read through
// the new app allocation and with fresh Redis credentials. No router: this
// is about the data and Vault.
func TestRealNomadDownUpKeepsData(t *testing.T) {
	w := newWorld(t)
	h := w.h
	cfg, err := os.ReadFile(w.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg = regexp.MustCompile(`(?m)^router_address\s*=.*$`).ReplaceAll(cfg, nil)
	if err := os.WriteFile(w.cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}

	r := w.must("up", "keep", "--json", "--timeout", "5m")
	reportSteps("keep/up", r)
	h.WaitPassing("keep")
	h.AssertOwnVaultRoles("keep")
	data := h.WriteData("keep")

	r = w.must("down", "keep", "--yes", "--json")
	reportSteps("keep/down", r)
	h.AssertGone("keep")
	if got := h.KeptKeys("keep"); len(got) != 3 {
		t.Errorf("after down: got kept keys %v; want both connections and the bootstrap secret", got)
	}

	r = w.must("up", "keep", "--json", "--timeout", "5m")
	reportSteps("keep/up-again", r)
	h.WaitPassing("keep")
	if err := h.CheckData("keep", data); err != nil {
		t.Errorf("after down and up: %v", err)
	}
	h.AssertOwnVaultRoles("keep")

	w.must("down", "keep", "--yes", "--purge-data")
	h.AssertPurged("keep")
}
