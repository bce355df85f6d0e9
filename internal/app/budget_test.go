package app

import (
	"testing"

	"github.com/tenantctl/tenantctl/internal/config"
)

// TestRotationBudgetMatchesApp keeps the rotation budget the project config
// checks credential TTLs against (config.RotationBudget) true to this app:
// its reload timeout, and the longest a request or a worker batch holds the
// connections it started with.
func TestRotationBudgetMatchesApp(t *testing.T) {
	if ReloadTimeout != config.ReloadTimeout {
		t.Errorf("ReloadTimeout: got %s; want config.ReloadTimeout %s", ReloadTimeout, config.ReloadTimeout)
	}
	if requestTimeout > config.HoldMax {
		t.Errorf("request timeout %s exceeds config.HoldMax %s", requestTimeout, config.HoldMax)
	}
	worker := WorkerOptions{}.withDefaults().Block + requestTimeout // one read, then one batch
	if worker > config.HoldMax {
		t.Errorf("a worker read and batch take up to %s; exceeds config.HoldMax %s", worker, config.HoldMax)
	}
}
