package testenv

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestUnmountUnder: the mounts a stopped Nomad agent leaves in its data
// directory (tmpfs secrets dirs, one nested in another here, one path with a
// space) are detached, so the directory can be removed; a mount outside it
// is not touched.
func TestUnmountUnder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	outside := t.TempDir()
	var mounted []string
	for _, p := range []string{
		filepath.Join(dir, "data", "alloc", "a1", "app", "secrets"),
		filepath.Join(dir, "data", "alloc", "a1", "app", "secrets", "inner"),
		filepath.Join(dir, "data", "alloc", "a 2", "private"),
		outside,
	} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mount("tmpfs", p, "tmpfs", 0, "size=64k"); err != nil {
			t.Skipf("mount tmpfs: %v", err)
		}
		mounted = append(mounted, p)
	}
	t.Cleanup(func() {
		for i := len(mounted) - 1; i >= 0; i-- {
			_ = syscall.Unmount(mounted[i], syscall.MNT_DETACH)
		}
	})
	if got := mountsUnder(dir); len(got) != 3 {
		t.Fatalf("mounts under the agent's directory: got %q; want 3", got)
	}
	unmountUnder(t, dir)
	if got := mountsUnder(dir); len(got) != 0 {
		t.Fatalf("after unmountUnder: %q still mounted", got)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatalf("remove the agent's directory: %v", err)
	}
	if got := mountsUnder(filepath.Dir(outside)); len(got) == 0 {
		t.Fatalf("the mount outside the agent's directory was detached too")
	}
}
