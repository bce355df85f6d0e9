package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
)

// testserversBin is where scripts/testservers.sh leaves the binaries it builds.
func testserversBin() string {
	if dir := os.Getenv("TENANTCTL_TESTSERVERS_CACHE"); dir != "" {
		return filepath.Join(dir, "bin")
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "tenantctl", "testservers", "bin")
}

// builtBinary returns the cached build of name at version.
func builtBinary(name, version string) (string, error) {
	path := filepath.Join(testserversBin(), name+"-"+version)
	if st, err := os.Stat(path); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
		return path, nil
	}
	return "", fmt.Errorf("%s %s is not built at %s; build it with: scripts/testservers.sh %s (or: go tool task testservers)",
		name, version, path, name)
}

// debianBinary finds a binary from a Debian package on PATH or in extra dirs.
func debianBinary(name, pkg string, extraDirs ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range extraDirs {
		matches, _ := filepath.Glob(filepath.Join(dir, name))
		sort.Sort(sort.Reverse(sort.StringSlice(matches))) // newest version first
		for _, m := range matches {
			if st, err := os.Stat(m); err == nil && st.Mode()&0o111 != 0 {
				return m, nil
			}
		}
	}
	return "", fmt.Errorf("%s not found; install it with: apt-get install -y %s", name, pkg)
}

func must(tb testing.TB, path string, err error) string {
	tb.Helper()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return path
}

// VaultBinary returns the path of the pinned Vault build.
func VaultBinary(tb testing.TB) string {
	tb.Helper()
	p, err := builtBinary("vault", VaultVersion)
	return must(tb, p, err)
}

// ConsulBinary returns the path of the pinned Consul build.
func ConsulBinary(tb testing.TB) string {
	tb.Helper()
	p, err := builtBinary("consul", ConsulVersion)
	return must(tb, p, err)
}

// ConsulTemplateBinary returns the path of the pinned consul-template build.
func ConsulTemplateBinary(tb testing.TB) string {
	tb.Helper()
	p, err := builtBinary("consul-template", ConsulTemplateVersion)
	return must(tb, p, err)
}

// NginxBinary returns the path of nginx.
func NginxBinary(tb testing.TB) string {
	tb.Helper()
	p, err := debianBinary("nginx", "nginx-light", "/usr/sbin")
	return must(tb, p, err)
}

// postgresBinary finds a PostgreSQL server program (initdb, postgres).
func postgresBinary(name string) (string, error) {
	return debianBinary(name, "postgresql", "/usr/lib/postgresql/*/bin")
}

// RedisBinary returns the path of redis-server.
func RedisBinary(tb testing.TB) string {
	tb.Helper()
	p, err := debianBinary("redis-server", "redis-server")
	return must(tb, p, err)
}
