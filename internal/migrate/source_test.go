package migrate

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"00002_b.sql": {Data: []byte("-- +goose Up\n-- +goose NO TRANSACTION\nCREATE INDEX CONCURRENTLY x ON t (c);\n")},
		"00001_a.sql": {Data: []byte("-- +goose Up\nSELECT 1;\n")},
		"embed.go":    {Data: []byte("package migrations\n")},
		"README.md":   {Data: []byte("not a migration")},
	}
	migs, copyFS, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(migs) != 2 || migs[0].File != "00001_a.sql" || migs[1].Version != 2 {
		t.Fatalf("migrations = %+v; want 00001_a.sql then version 2", migs)
	}
	if migs[0].NoTransaction || !migs[1].NoTransaction {
		t.Errorf("no-transaction = %v, %v; want false, true", migs[0].NoTransaction, migs[1].NoTransaction)
	}
	// sha256("-- +goose Up\nSELECT 1;\n")
	if len(migs[0].Checksum) != 64 {
		t.Errorf("checksum %q; want 64 hex digits", migs[0].Checksum)
	}
	if _, err := copyFS.Open("embed.go"); err == nil {
		t.Error("the copy handed to goose holds embed.go; want only *.sql")
	}
}

func TestLoadRejects(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"empty":        {},
		"no version":   {"init.sql": {Data: []byte("")}},
		"zero":         {"00000_zero.sql": {Data: []byte("")}},
		"not a number": {"v1_x.sql": {Data: []byte("")}},
		"duplicate":    {"00001_a.sql": {Data: []byte("")}, "1_b.sql": {Data: []byte("")}},
	} {
		_, _, err := Load(fsys)
		var ce *ConfigError
		if err == nil || !asConfigError(err, &ce) {
			t.Errorf("%s: err = %v; want a *ConfigError", name, err)
		}
	}
}

func asConfigError(err error, target **ConfigError) bool {
	ce, ok := err.(*ConfigError)
	*target = ce
	return ok
}

func TestCompare(t *testing.T) {
	at := time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)
	migs := []Migration{
		{Version: 1, File: "00001_a.sql", Checksum: "aa"},
		{Version: 2, File: "00002_b.sql", Checksum: "bb"},
		{Version: 3, File: "00003_c.sql", Checksum: "cc"},
		{Version: 5, File: "00005_e.sql", Checksum: "ee"},
		{Version: 7, File: "00007_g.sql", Checksum: "gg"},
	}
	rows := []appliedRow{
		{Version: 1, Source: "00001_a.sql", Checksum: "aa", AppliedAt: at},
		{Version: 2, Source: "00002_b.sql", Checksum: "XX", AppliedAt: at},
		{Version: 4, Source: "00004_d.sql", Checksum: "dd", AppliedAt: at},
		{Version: 5, Source: "00005_e.sql", Checksum: "", AppliedAt: at}, // recorded without a checksum
	}
	st := compare(migs, rows)
	want := map[int64]State{1: StateApplied, 2: StateModified, 3: StateOutOfOrder, 4: StateMissing, 5: StateApplied, 7: StatePending}
	if len(st.Migrations) != len(want) {
		t.Fatalf("got %d statuses; want %d", len(st.Migrations), len(want))
	}
	for i, m := range st.Migrations {
		if m.State != want[m.Version] {
			t.Errorf("version %d: got %s; want %s", m.Version, m.State, want[m.Version])
		}
		if i > 0 && st.Migrations[i-1].Version >= m.Version {
			t.Errorf("statuses out of order at %d", i)
		}
	}
	if st.CurrentVersion != 5 || st.TargetVersion != 7 || st.Applied != 2 || st.Pending != 1 || st.Drift != 3 {
		t.Errorf("got current %d target %d applied %d pending %d drift %d; want 5 7 2 1 3",
			st.CurrentVersion, st.TargetVersion, st.Applied, st.Pending, st.Drift)
	}
	msg := (&DriftError{Migrations: st.Drifted()}).Error()
	for _, w := range []string{"00002_b.sql was changed", "00004_d.sql is applied", "00003_c.sql is not applied"} {
		if !strings.Contains(msg, w) {
			t.Errorf("drift error %q lacks %q", msg, w)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, secret, keep string }{
		{"postgres://app:s3cret@db:5432/x?sslmode=disable", "s3cret", "postgres://app:xxxxx@db:5432/x"},
		{"connect to postgresql://u:p%40ss@h/d failed", "p%40ss", "u:xxxxx@h/d failed"},
		{"postgres://h/d?user=u&password=hunter2", "hunter2", "password=xxxxx"},
		{"host=h user=u password=hunter2 dbname=d", "hunter2", "password=xxxxx dbname=d"},
		{"host=h password='a b\\'c' dbname=d", "a b", "dbname=d"},
		{"postgres://u@h/d", "", "postgres://u@h/d"},
	} {
		got := RedactURL(tc.in)
		if tc.secret != "" && strings.Contains(got, tc.secret) {
			t.Errorf("RedactURL(%q) = %q; want %q hidden", tc.in, got, tc.secret)
		}
		if !strings.Contains(got, tc.keep) {
			t.Errorf("RedactURL(%q) = %q; want it to keep %q", tc.in, got, tc.keep)
		}
	}
}

func TestValidateRoleName(t *testing.T) {
	for name, ok := range map[string]bool{
		"acme__owner": true, "_x": true, "a": true, strings.Repeat("a", 63): true,
		"": false, "1abc": false, "Acme": false, "acme-owner": false, `a"b`: false, "a b": false,
		strings.Repeat("a", 64): false,
	} {
		if err := ValidateRoleName(name); (err == nil) != ok {
			t.Errorf("ValidateRoleName(%q) = %v; want ok %v", name, err, ok)
		}
	}
}
