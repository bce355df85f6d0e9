package contract

import "testing"

// TestContract runs the suite against the double, or against the real agent
// named by TENANTCTL_TEST_NOMAD_ADDR.
func TestContract(t *testing.T) {
	Run(t, DefaultTarget(t))
}
