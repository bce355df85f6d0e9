// Package e2e holds tenantctl's opt-in real-cluster suite: tests that start a
// real Nomad dev agent (TENANTCTL_TEST_NOMAD_BIN names the binary) wired to
// the harness's real Consul and Vault and run what a user runs, end to end.
// Without the variable every test skips, saying how to run it; CI runs the
// same behaviours against the in-repo Nomad double elsewhere.
//
// The suite prints its timings as benchmark-format lines
// (BenchmarkRealNomad/…), which benchstat reads; it asserts behaviour, never
// speed. See docs/testing.md.
package e2e
