package jobspec

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/jobspecs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// hostileName would break HCL, shell, SQL or Go templates if it were not
// escaped.
const hostileName = `A "Co" $var.tenant_id %{ if 1 }x%{ endif } $$ {x} \ ; DROP x; ` + "`id`" + ` {{ .Data }} ../ Ünï`

func mustSpec(t testing.TB, id, name string, profile tenant.Profile) tenant.Spec {
	t.Helper()
	s, err := tenant.NewSpec(tenant.SpecInput{ID: id, Name: name, BaseDomain: "tenants.example.com", Plan: "small", Profile: string(profile)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestQuoteRoundTrips(t *testing.T) {
	for _, s := range []string{
		"", "plain", `"`, `\`, `\"`, "${var.x}", "$${x}", "$$${x}", "%{if true}", "%%{x}", "$", "%", "a$", "{", "}",
		"new\nline", "cr\r", "tab\t", "nul\x00", "bell\a", "\u2028", "Ünïcödé 株式会社", `'; DROP TABLE x; --`, "`id`", hostileName,
	} {
		q := Quote(s)
		expr, diags := hclsyntax.ParseExpression([]byte(q), "q.hcl", hcl.Pos{Line: 1, Column: 1})
		if diags.HasErrors() {
			t.Errorf("Quote(%q) = %s: parse: %v", s, q, diags)
			continue
		}
		v, diags := expr.Value(nil)
		if diags.HasErrors() {
			t.Errorf("Quote(%q) = %s: evaluate: %v", s, q, diags)
			continue
		}
		if got := v.AsString(); got != s {
			t.Errorf("Quote(%q) = %s evaluates to %q; want the input", s, q, got)
		}
		if strings.ContainsAny(q, "\n\r") {
			t.Errorf("Quote(%q) = %s spans lines", s, q)
		}
	}
}

// declared returns the variables a jobspec declares and the var.X roots it
// references.
func declared(t *testing.T, name string, src []byte) (decl, refs []string) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig(src, name, hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		t.Fatalf("%s: %v", name, diags)
	}
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type == "variable" {
			decl = append(decl, b.Labels[0])
		}
	}
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`var\.([a-z_]+)`).FindAllStringSubmatch(string(src), -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			refs = append(refs, m[1])
		}
	}
	return decl, refs
}

// TestEveryJobspecDeclaresTheVarFile checks the contract that makes one var
// file per tenant work with strict parsers: every jobspec of a profile
// declares exactly the variables of the var file, and references no other.
func TestEveryJobspecDeclaresTheVarFile(t *testing.T) {
	for _, profile := range tenant.Profiles {
		spec := mustSpec(t, "acme", "ACME", profile)
		vals := ValuesFor(config.Default(), spec)
		var want []string
		for _, v := range vals.list {
			want = append(want, v.Name)
		}
		sort.Strings(want)
		jobs, err := Render(jobspecs.FS, config.Default(), spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			decl, refs := declared(t, j.SourceFile, j.Source)
			sort.Strings(decl)
			if !slices.Equal(decl, want) {
				t.Errorf("%s declares %v; want %v", j.SourceFile, decl, want)
			}
			for _, r := range refs {
				if !slices.Contains(want, r) {
					t.Errorf("%s references var.%s, which the var file lacks", j.SourceFile, r)
				}
			}
			if !strings.Contains(j.SourceFile, "."+string(profile)+".") {
				t.Errorf("%s is not the %s file", j.SourceFile, profile)
			}
		}
	}
}

func TestVarFileParses(t *testing.T) {
	for _, profile := range tenant.Profiles {
		vals := ValuesFor(config.Default(), mustSpec(t, "acme", hostileName, profile))
		f, diags := hclsyntax.ParseConfig([]byte(vals.File()), "acme.vars.hcl", hcl.Pos{Line: 1, Column: 1})
		if diags.HasErrors() {
			t.Fatalf("%s: %v", profile, diags)
		}
		attrs, diags := f.Body.JustAttributes()
		if diags.HasErrors() {
			t.Fatalf("%s: %v", profile, diags)
		}
		name, diags := attrs["tenant_name"].Expr.Value(nil)
		if diags.HasErrors() || name.AsString() != hostileName {
			t.Fatalf("%s: tenant_name = %#v, %v; want the hostile name unchanged", profile, name, diags)
		}
		res, _ := attrs["resources"].Expr.Value(nil)
		if got := res.GetAttr("app_count").AsBigFloat().String(); got != "1" {
			t.Errorf("%s: resources.app_count = %s; want 1", profile, got)
		}
	}
}

func TestSet(t *testing.T) {
	spec := mustSpec(t, "acme", "ACME", tenant.ProfileDocker)
	vals := ValuesFor(config.Default(), spec)
	for path, raw := range map[string]string{
		"resources.app_count": "3", "images.app": "registry.example.com/app:2.0", "datacenters": "dc1,dc2",
		"node_pool": "tenants", "update.min_healthy_time": "10s", "vault.kv_mount": "kv/tenantctl",
	} {
		if err := vals.Set(path, raw); err != nil {
			t.Errorf("Set(%s, %s): %v", path, raw, err)
		}
	}
	if v, _ := vals.Get("resources.app_count"); v.Num != 3 {
		t.Errorf("resources.app_count = %d; want 3", v.Num)
	}
	if v, _ := vals.Get("datacenters"); !slices.Equal(v.Items, []string{"dc1", "dc2"}) {
		t.Errorf("datacenters = %v; want [dc1 dc2]", v.Items)
	}
	if other := ValuesFor(config.Default(), spec); func() int { v, _ := other.Get("resources.app_count"); return v.Num }() != 1 {
		t.Errorf("Set changed another tenant's values")
	}
	for path, raw := range map[string]string{
		"nosuch": "x", "resources.nosuch": "1", "tenant_id": "evil", "tenant_name": "x", "names.namespace": "default",
		"names": "x", "resources.app_count": "0", "resources.app_cpu": "lots", "images.app": `app"; evil`,
		"images.postgres": "${var.x}", "datacenters": "dc1,", "update.healthy_deadline": "soon", "exec.tenant_app": "/x",
		"vault.database_mount": "../root",
	} {
		err := vals.Set(path, raw)
		var se *SetError
		if !errors.As(err, &se) || se.Example == "" {
			t.Errorf("Set(%s, %q) = %v; want a *SetError with an example", path, raw, err)
		}
	}
	if err := vals.Set("resources.redis_maxmemory", "4096"); err != nil {
		t.Fatal(err)
	}
	if err := vals.Validate(); err == nil {
		t.Errorf("Validate with redis_maxmemory above redis_memory: got nil; want an error")
	}
}

func TestNewRendererMissingFile(t *testing.T) {
	fsys := fstest.MapFS{"postgres.docker.nomad.hcl": {Data: []byte("job \"x\" {}\n")}}
	_, err := NewRenderer(fsys, tenant.ProfileDocker)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "redis") {
		t.Fatalf("got %v; want a not-exist error naming redis", err)
	}
	// A profile-independent <job>.nomad.hcl is used when there is no
	// profile-specific file.
	for _, c := range tenant.Components() {
		fsys[c.Name+".nomad.hcl"] = &fstest.MapFile{Data: []byte(c.Name)}
	}
	r, err := NewRenderer(fsys, tenant.ProfileDocker)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := r.Render(config.Default(), mustSpec(t, "acme", "", tenant.ProfileDocker))
	if err != nil {
		t.Fatal(err)
	}
	if jobs[0].SourceFile != "postgres.docker.nomad.hcl" || jobs[1].SourceFile != "redis.nomad.hcl" {
		t.Fatalf("got %s, %s; want postgres.docker.nomad.hcl, redis.nomad.hcl", jobs[0].SourceFile, jobs[1].SourceFile)
	}
	if _, err := r.Render(config.Default(), mustSpec(t, "acme", "", tenant.ProfileExec)); err == nil {
		t.Fatalf("rendering an exec tenant with a docker renderer: got nil; want an error")
	}
}

// TestGolden compares the rendered var files and job list of both profiles
// with testdata/; run with -update to rewrite them.
func TestGolden(t *testing.T) {
	for _, profile := range tenant.Profiles {
		spec := mustSpec(t, "acme-corp", hostileName, profile)
		jobs, err := Render(jobspecs.FS, config.Default(), spec)
		if err != nil {
			t.Fatal(err)
		}
		var manifest strings.Builder
		for _, j := range jobs {
			fmt.Fprintf(&manifest, "%-8s %-20s %-12s <- %s\n", j.Name, j.JobID, j.File, j.SourceFile)
		}
		golden(t, filepath.Join("testdata", string(profile), "acme-corp.vars.hcl"), jobs[0].Vars)
		golden(t, filepath.Join("testdata", string(profile), "jobs.txt"), manifest.String())
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s: got\n%s\nwant\n%s\n(run go test -update after checking the difference)", path, got, want)
	}
}

// BenchmarkRender1000Tenants renders the jobs of 1,000 tenants (both
// halves of the work render does before writing: values and var files).
func BenchmarkRender1000Tenants(b *testing.B) {
	cfg := config.Default()
	r, err := NewRenderer(jobspecs.FS, tenant.ProfileDocker)
	if err != nil {
		b.Fatal(err)
	}
	specs := make([]tenant.Spec, 1000)
	for i := range specs {
		specs[i] = mustSpec(b, fmt.Sprintf("tenant-%04d", i), fmt.Sprintf("Tenant %d \"Inc\"", i), tenant.ProfileDocker)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		n := 0
		for _, s := range specs {
			jobs, err := r.Render(cfg, s)
			if err != nil {
				b.Fatal(err)
			}
			n += len(jobs[0].Vars)
		}
		if n == 0 {
			b.Fatal("nothing rendered")
		}
	}
}
