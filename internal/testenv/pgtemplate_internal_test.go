package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TestRemoveOrphanTemplates: only the template of a test binary that has
// exited is deleted; this binary's, a running process's and one without an
// owner stay.
func TestRemoveOrphanTemplates(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	mk := func(name, owner string) string {
		t.Helper()
		dir := filepath.Join(tmp, "tenantctl-pgtemplate-"+name)
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			if err := os.WriteFile(filepath.Join(dir, templateOwnerFile), []byte(owner), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	orphan := mk("orphan", strconv.Itoa(exited.Process.Pid))
	keep := []string{
		mk("self", strconv.Itoa(os.Getpid())),
		mk("running", "1"),
		mk("unknown", ""),
		mk("garbled", "not a pid"),
	}
	removeOrphanTemplates()
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("template of an exited binary: %v; want it removed", err)
	}
	for _, dir := range keep {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("%s: %v; want it kept", filepath.Base(dir), err)
		}
	}
}
