package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/exit"
)

func TestRenderWritesJobsAndVarFile(t *testing.T) {
	for _, profile := range []string{"docker", "exec"} {
		out := filepath.Join(t.TempDir(), "acme")
		code, stdout, stderr := runCLI(t, nil, "render", "acme", "--out", out, "--profile", profile,
			"--name", `ACME "Corp" %{x} $x`, "--plan", "medium", "--var", "resources.app_count=4").parts()
		if code != exit.OK {
			t.Fatalf("%s: exit %d; want 0 (stderr %q)", profile, code, stderr)
		}
		want := []string{"postgres.nomad.hcl", "redis.nomad.hcl", "migrate.nomad.hcl", "app.nomad.hcl", "worker.nomad.hcl",
			"backup.nomad.hcl", "restore.nomad.hcl", "acme.vars.hcl"} // no scheduled-backup: no schedule
		var printed []string
		for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
			printed = append(printed, filepath.Base(line))
			if filepath.Dir(line) != out {
				t.Errorf("%s: printed %q; want a path in %s", profile, line, out)
			}
		}
		if !slices.Equal(printed, want) {
			t.Errorf("%s: printed %v; want %v", profile, printed, want)
		}
		entries, _ := os.ReadDir(out)
		if len(entries) != len(want) {
			t.Errorf("%s: %d files in %s; want %d (no leftovers)", profile, len(entries), out, len(want))
		}
		vars, err := os.ReadFile(filepath.Join(out, "acme.vars.hcl"))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{`tenant_name  = "ACME \"Corp\" %%{x} $x"`, "app_count                = 4", `host         = "acme.tenants.localhost.test"`} {
			if !strings.Contains(string(vars), s) {
				t.Errorf("%s: var file lacks %q:\n%s", profile, s, vars)
			}
		}
		src, _ := os.ReadFile(filepath.Join(out, "postgres.nomad.hcl"))
		driver := regexp.MustCompile(`driver\s+= "(\w+)"`).FindStringSubmatch(string(src))
		if driver == nil || driver[1] != map[string]string{"docker": "docker", "exec": "raw_exec"}[profile] {
			t.Errorf("%s: postgres.nomad.hcl is not the %s profile's", profile, profile)
		}
	}
}

func TestRenderJSONManifest(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, nil, "render", "acme-corp", "--out", out, "--json").parts()
	if code != exit.OK {
		t.Fatalf("exit %d; want 0 (stderr %q)", code, stderr)
	}
	var m renderManifest
	if err := json.Unmarshal([]byte(stdout), &m); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if m.Tenant != "acme-corp" || m.Profile != "docker" || len(m.Jobs) != 7 || m.Jobs[0].JobID != "acme-corp--postgres" ||
		m.VarFile != filepath.Join(out, "acme-corp.vars.hcl") {
		t.Fatalf("manifest %+v; want tenant acme-corp, docker, 7 jobs, postgres first", m)
	}
}

// TestRenderBadInput checks that every invalid input exits 2 with Error: and
// Try: lines and writes nothing.
func TestRenderBadInput(t *testing.T) {
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.hcl")
	if err := os.WriteFile(badConfig, []byte(`docker { app_image = "app\"; evil" }`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]string{
		"no id":             {"render"},
		"two ids":           {"render", "acme", "other"},
		"upper-case id":     {"render", "ACME"},
		"quote id":          {"render", `acme"`},
		"interpolation id":  {"render", "${var.x}"},
		"directive id":      {"render", "%{x}"},
		"newline id":        {"render", "acme\nx"},
		"semicolon id":      {"render", "acme;x"},
		"backtick id":       {"render", "acme`x`"},
		"traversal id":      {"render", "../acme"},
		"look-alike id":     {"render", "аcme"},
		"long id":           {"render", strings.Repeat("a", 300)},
		"empty id":          {"render", ""},
		"leading hyphen":    {"render", "-acme"},
		"trailing hyphen":   {"render", "acme-"},
		"reserved id":       {"render", "vault"},
		"newline name":      {"render", "acme", "--name", "ACME\nCorp"},
		"long name":         {"render", "acme", "--name", strings.Repeat("x", 300)},
		"empty name":        {"render", "acme", "--name", ""},
		"bidi name":         {"render", "acme", "--name", "ACME\u202e"},
		"bad host":          {"render", "acme", "--host", "acme.example.com;evil"},
		"upper host":        {"render", "acme", "--host", "ACME.example.com"},
		"traversal host":    {"render", "acme", "--host", "../etc"},
		"bad plan":          {"render", "acme", "--plan", "huge"},
		"bad profile":       {"render", "acme", "--profile", "podman"},
		"unknown var":       {"render", "acme", "--var", "nosuch=1"},
		"fixed var":         {"render", "acme", "--var", "names.namespace=default"},
		"bad var value":     {"render", "acme", "--var", "images.app=x\"; evil"},
		"var without =":     {"render", "acme", "--var", "resources.app_count"},
		"bad number":        {"render", "acme", "--var", "resources.app_count=-1"},
		"maxmemory too big": {"render", "acme", "--var", "resources.redis_maxmemory=100000"},
		// --var obeys the config file's limits (plan ranges, update order).
		"app_count over plan limit": {"render", "acme", "--var", "resources.app_count=1000"},
		"cpu under plan limit":      {"render", "acme", "--var", "resources.postgres_cpu=1"},
		"pg memory under limit":     {"render", "acme", "--var", "resources.postgres_memory=16"},
		"max_connections over":      {"render", "acme", "--var", "resources.postgres_max_connections=100000"},
		"update order":              {"render", "acme", "--var", "update.min_healthy_time=10m"},
		"interpolating name":        {"render", "acme", "--name", "ACME ${node.unique.name}"},
		"app user root":             {"render", "acme", "--profile", "exec", "--var", "exec.app_user=root"},
		"app uid root":              {"render", "acme", "--profile", "exec", "--var", "exec.app_uid=0"},
		"bad config":                {"--config", badConfig, "render", "acme"},
		"missing config":            {"--config", filepath.Join(dir, "missing.hcl"), "render", "acme"},
		"bad jobspecs dir":          {"render", "acme", "--jobspecs-dir", filepath.Join(dir, "nope")},
		"empty jobspecs":            {"render", "acme", "--jobspecs-dir", t.TempDir()},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, stdout, stderr := runCLI(t, nil, append(args, "--out", out)...).parts()
			if code != exit.Usage {
				t.Fatalf("exit %d; want %d (stderr %q)", code, exit.Usage, stderr)
			}
			if !strings.HasPrefix(stderr, "Error: ") || !strings.Contains(stderr, "\nTry: ") {
				t.Errorf("stderr %q; want Error: and Try: lines", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q; want nothing", stdout)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s exists; want nothing written", out)
			}
		})
	}
}

// BenchmarkRenderCommand1000Tenants runs `tenantctl render` for 1,000
// tenants end to end: config, validation, rendering and writing 6,000 files.
func BenchmarkRenderCommand1000Tenants(b *testing.B) {
	dir := b.TempDir()
	b.ReportAllocs()
	for n := range b.N {
		for i := range 1000 {
			id := fmt.Sprintf("tenant-%04d", i)
			var stdout, stderr bytes.Buffer
			err := Run(context.Background(), []string{"tenantctl", "render", id, "--name", "Tenant " + id,
				"--out", filepath.Join(dir, strconv.Itoa(n), id)}, Streams{Stdout: &stdout, Stderr: &stderr})
			if err != nil {
				b.Fatalf("%s: %v: %s", id, err, stderr.String())
			}
		}
	}
}
