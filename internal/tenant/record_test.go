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

func TestMoveJobIndex(t *testing.T) {
	r := Record{Jobs: "acme--app@10 acme--worker@11"}
	moved, ok := r.MoveJobIndex("acme--app", 10, 15)
	if !ok || moved.Jobs != "acme--app@15 acme--worker@11" {
		t.Errorf("move from the recorded index: got %q, %v", moved.Jobs, ok)
	}
	// From another index than the recorded one: nothing moves, since the
	// job changed in between in a way the caller did not see.
	if got, ok := r.MoveJobIndex("acme--app", 12, 15); ok || got.Jobs != r.Jobs {
		t.Errorf("move from another index: got %q, %v; want unchanged", got.Jobs, ok)
	}
	if got, ok := r.MoveJobIndex("acme--redis", 10, 15); ok || got.Jobs != r.Jobs {
		t.Errorf("move of a job not recorded: got %q, %v; want unchanged", got.Jobs, ok)
	}
	if r.Jobs != "acme--app@10 acme--worker@11" {
		t.Errorf("the receiver changed: %q", r.Jobs)
	}
}
