package compat

import "testing"

func TestCheck(t *testing.T) {
	tests := []struct {
		system, version string
		ok              bool
	}{
		{"nomad", "1.10.0", true},
		{"nomad", "v2.0.5", true},
		{"nomad", "1.9.7", false},
		{"nomad", "1.10.0-beta.1", true},
		{"consul", "1.14.11", true},
		{"consul", "1.13.9", false},
		{"vault", "1.13.0", true},
		{"vault", "1.12.3+ent", false},
		{"vault", "2.1.0", true},
		{"vault", "banana", false},
		{"vault", "", false},
		{"etcd", "3.5.0", false},
	}
	for _, tt := range tests {
		err := Check(tt.system, tt.version)
		if (err == nil) != tt.ok {
			t.Errorf("Check(%q, %q) = %v; want ok=%v", tt.system, tt.version, err, tt.ok)
		}
	}
}
