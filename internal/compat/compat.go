// Package compat states which versions of Nomad, Consul and Vault tenantctl
// supports and checks a version string against them.
package compat

import (
	"fmt"
	"strconv"
	"strings"
)

// A Requirement is the oldest supported version of one outside system.
type Requirement struct {
	System  string `json:"system"`
	Minimum string `json:"minimum"`
	// Why explains what the minimum is needed for.
	Why string `json:"why"`
}

// Requirements lists what tenantctl needs, in the order `up` touches them.
var Requirements = []Requirement{
	{System: "nomad", Minimum: "1.10.0", Why: "workload identity for Vault, job submissions, dynamic host volumes"},
	{System: "consul", Minimum: "1.14.0", Why: "sessions, KV and service health"},
	{System: "vault", Minimum: "1.13.0", Why: "jwt auth, KV v2, database secrets engine with the redis plugin (OpenBao 2 also works)"},
}

// Check reports an error when version is older than the minimum for system.
// A version it cannot parse is an error too: preflight must not guess.
func Check(system, version string) error {
	for _, r := range Requirements {
		if r.System != system {
			continue
		}
		got, err := parse(version)
		if err != nil {
			return fmt.Errorf("%s version %q: %w", system, version, err)
		}
		want, _ := parse(r.Minimum)
		if less(got, want) {
			return fmt.Errorf("%s %s is older than the supported minimum %s (needed for %s)", system, version, r.Minimum, r.Why)
		}
		return nil
	}
	return fmt.Errorf("unknown system %q", system)
}

// parse reads "v1.2.3", "1.2.3+ent", "1.2.3-beta1" or "1.2" into three numbers.
func parse(v string) ([3]int, error) {
	var out [3]int
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	if i := strings.IndexAny(v, "-+ "); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return out, fmt.Errorf("not a version")
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return out, fmt.Errorf("not a version")
		}
		out[i] = n
	}
	return out, nil
}

func less(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}
