package backup

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

func TestIDs(t *testing.T) {
	now := time.Date(2026, 12, 2, 3, 15, 0, 0, time.FixedZone("x", 3600))
	id, err := NewID(now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "20261202T021500Z-") || ValidateID(id) != nil {
		t.Errorf("NewID = %q; want 20261202T021500Z-<6 hex>, valid", id)
	}
	later, _ := NewID(now.Add(time.Second))
	if later <= id {
		t.Errorf("ids do not sort by time: %q then %q", id, later)
	}
	for _, bad := range []string{"", "..", "../20261202T021500Z-abcdef", "20261202T021500Z-abcdef/..", "20261202T021500Z-ABCDEF",
		"20261202T021500Z-abcde", "20261202T021500Z-abcdef0", "20261302T021500Z-abcdef", "20261202T021500-abcdef",
		"20261202T021500Z-abcdef\n", " 20261202T021500Z-abcdef", "20261202t021500z-abcdef"} {
		if ValidateID(bad) == nil {
			t.Errorf("ValidateID(%q) = nil; want an error", bad)
		}
	}
}

// fakeBackup writes a directory with a manifest naming tenant owner.
func fakeBackup(t *testing.T, dir, id, owner string, created time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, id), 0o700); err != nil {
		t.Fatal(err)
	}
	m := Manifest{Format: FormatVersion, ID: id, Tenant: owner, Created: created,
		Files: []File{{Name: PostgresFile}, {Name: RedisFile}}}
	data, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, id, ManifestFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestListAndPrune(t *testing.T) {
	root := t.TempDir()
	const tn = tenant.ID("acme")
	dir := filepath.Join(root, "acme")
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 4 {
		at := base.Add(time.Duration(i) * time.Hour)
		id, _ := NewID(at)
		ids = append(ids, id)
		fakeBackup(t, dir, id, "acme", at)
	}
	// Things that are not acme's complete backups: all must survive.
	foreignID, _ := NewID(base.Add(-time.Hour))
	fakeBackup(t, dir, foreignID, "acme-corp", base.Add(-time.Hour))
	noManifest, _ := NewID(base.Add(-2 * time.Hour))
	mustMkdir(t, filepath.Join(dir, noManifest))
	badJSON, _ := NewID(base.Add(-3 * time.Hour))
	mustMkdir(t, filepath.Join(dir, badJSON))
	_ = os.WriteFile(filepath.Join(dir, badJSON, ManifestFile), []byte("{"), 0o600)
	mustMkdir(t, filepath.Join(dir, partialPrefix+ids[0]+"-00000000"))
	mustMkdir(t, filepath.Join(dir, "notes"))
	_ = os.WriteFile(filepath.Join(dir, "README"), []byte("x"), 0o600)
	// Another tenant's directory beside it.
	otherID, _ := NewID(base)
	fakeBackup(t, filepath.Join(root, "acme-corp"), otherID, "acme-corp", base)

	l, err := List(root, tn)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range l.Backups {
		got = append(got, m.ID)
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Errorf("List = %v; want %v (newest first)", got, want)
	}
	if len(l.Skipped) != 6 {
		t.Errorf("skipped %d entries: %+v; want 6", len(l.Skipped), l.Skipped)
	}

	deleted, err := Prune(root, tn, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(deleted, []string{ids[1], ids[0]}) {
		t.Errorf("Prune deleted %v; want %v", deleted, []string{ids[1], ids[0]})
	}
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	wantLeft := []string{partialPrefix + ids[0] + "-00000000", ids[2], ids[3], badJSON, noManifest, foreignID, "README", "notes"}
	slices.Sort(wantLeft)
	slices.Sort(left)
	if !slices.Equal(left, wantLeft) {
		t.Errorf("left %v; want %v", left, wantLeft)
	}
	if _, err := os.Stat(filepath.Join(root, "acme-corp", otherID, ManifestFile)); err != nil {
		t.Errorf("another tenant's backup: %v", err)
	}
	if deleted, _ := Prune(root, tn, 0); len(deleted) != 0 {
		t.Errorf("keep 0 deleted %v; want nothing", deleted)
	}
	if l, _ := List(root, "nobody"); len(l.Backups) != 0 {
		t.Errorf("List of a tenant without backups: %+v; want empty", l)
	}
	if _, err := List(root, "../acme"); err == nil {
		t.Error("List of an invalid tenant id: nil error; want one")
	}
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
}

func TestParsePGKeepsPasswordOutOfConninfo(t *testing.T) {
	for _, in := range []string{
		"postgres://bob:s3cr3t-pw@db.internal:5432/acme__app?sslmode=disable",
		"postgres://bob@db.internal:5432/acme__app?sslmode=disable&password=s3cr3t-pw",
		"host=db.internal port=5432 user=bob password=s3cr3t-pw dbname=acme__app sslmode=disable",
		"host=db.internal user=bob password='s3cr3t-pw' dbname=acme__app",
	} {
		c, err := parsePG(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if strings.Contains(c.conninfo, "s3cr3t") || c.password != "s3cr3t-pw" || !strings.Contains(c.conninfo, "bob") {
			t.Errorf("parsePG(%q): conninfo %q password %q; want the password apart", in, c.conninfo, c.password)
		}
	}
	_, err := parsePG("postgres://bob:s3cr3t-pw@db.internal:notaport/x")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("bad URL: got %v; want an error without the password", err)
	}
}
