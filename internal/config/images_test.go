package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/version"
)

// TestDefaultImagesAreTheBuiltOnes: the default app and tenantctl images are
// the ones `go tool task images` (scripts/images.sh) tags, which reads the
// version from internal/version itself.
func TestDefaultImagesAreTheBuiltOnes(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	cmd := exec.Command("bash", filepath.Join("..", "..", "scripts", "images.sh"), "--print")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()} // no TENANTCTL_IMAGE_PREFIX
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/images.sh --print: %v", err)
	}
	built := strings.Fields(string(out))
	d := Default().Docker
	for _, img := range []string{d.AppImage, d.TenantctlImage} {
		if !slices.Contains(built, img) {
			t.Errorf("default image %s: not among the images scripts/images.sh builds %q", img, built)
		}
		if !strings.HasSuffix(img, ":"+version.Version) {
			t.Errorf("default image %s: got another tag; want :%s", img, version.Version)
		}
	}
}
