package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestRotationTTLs: the config accepts exactly the credential TTLs whose
// renewal margin covers the rotation budget, and says what would be safe.
func TestRotationTTLs(t *testing.T) {
	if got := RotationBudget(); got != 20*time.Second {
		t.Errorf("RotationBudget: got %s; want 20s (update docs/vault.md when it changes)", got)
	}
	for _, tc := range []struct {
		ttl, max string
		ok       bool
	}{
		{"1h", "24h", true},
		{"200s", "24h", true},
		{"199s", "24h", false},
		{"75s", "75s", true},
		{"74s", "74s", false},
		{"75s", "76s", false}, // a longer max: only ttl/10 is guaranteed
		{"20s", "40s", false}, // the failing setup
		{"5m", "5m", true},
	} {
		src := `vault {
  creds_ttl     = "` + tc.ttl + `"
  creds_max_ttl = "` + tc.max + `"
}`
		_, err := Parse([]byte(src), "t.hcl")
		if tc.ok {
			if err != nil {
				t.Errorf("creds_ttl %s, creds_max_ttl %s: got %v; want accepted", tc.ttl, tc.max, err)
			}
			continue
		}
		var ce *Error
		if !errors.As(err, &ce) || ce.Field != "vault.creds_ttl" {
			t.Errorf("creds_ttl %s, creds_max_ttl %s: got %v; want a vault.creds_ttl error", tc.ttl, tc.max, err)
			continue
		}
		if !strings.Contains(ce.Example, `"200s"`) || !strings.Contains(ce.Example, `"75s"`) {
			t.Errorf("example: got %q; want the safe TTLs 200s and 75s", ce.Example)
		}
		// The example's TTLs are themselves accepted.
		for _, safe := range [][2]time.Duration{{200 * time.Second, 24 * time.Hour}, {75 * time.Second, 75 * time.Second}} {
			if err := checkRotation(safe[0], safe[1]); err != nil {
				t.Errorf("suggested %v: %v", safe, err)
			}
		}
	}
}
