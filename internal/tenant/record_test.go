package tenant

import "testing"

func TestJobIndexesRoundTrip(t *testing.T) {
	ids := []string{"acme--postgres", "acme--app"}
	s := FormatJobIndexes(ids, map[string]uint64{"acme--postgres": 12, "acme--app": 340, "other": 9})
	if s != "acme--postgres@12 acme--app@340" {
		t.Fatalf("format: got %q", s)
	}
	got := Record{Jobs: s}.JobIndexes()
	if len(got) != 2 || got["acme--postgres"] != 12 || got["acme--app"] != 340 {
		t.Errorf("read back: got %v", got)
	}
	// A job without an index makes the whole field empty: no job may pass as
	// converged on a partial record.
	if s := FormatJobIndexes(ids, map[string]uint64{"acme--postgres": 12}); s != "" {
		t.Errorf("format with a job missing: got %q; want empty", s)
	}
	if s := FormatJobIndexes(ids, map[string]uint64{"acme--postgres": 12, "acme--app": 0}); s != "" {
		t.Errorf("format with a zero index: got %q; want empty", s)
	}
	// Malformed entries are dropped, so their jobs are planned.
	got = Record{Jobs: "a@1 b@x @3 c 4@ d@0 e@7"}.JobIndexes()
	if len(got) != 2 || got["a"] != 1 || got["e"] != 7 {
		t.Errorf("malformed: got %v; want a@1 and e@7 only", got)
	}
}
