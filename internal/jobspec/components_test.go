package jobspec

import (
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/jobspecs"
)

// clusterJobspecs are jobspecs in jobspecs/ that are not a tenant's
// components: they run once per cluster.
var clusterJobspecs = map[string]bool{"router": true}

// TestEveryComponentIsWired checks the jobspec side of docs/jobspecs.md's
// "Adding a component": every jobspec file is a tenant component (or a
// cluster job), every component has a file for every profile whose job id,
// service and volume are the ones tenant.Names derives, and the docs list it.
func TestEveryComponentIsWired(t *testing.T) {
	files, err := fs.Glob(jobspecs.FS, "*.nomad.hcl")
	if err != nil {
		t.Fatal(err)
	}
	isComponent := map[string]bool{}
	for _, c := range tenant.Components() {
		isComponent[c.Name] = true
	}
	for _, f := range files {
		name, _, _ := strings.Cut(f, ".")
		if !isComponent[name] && !clusterJobspecs[name] {
			t.Errorf("jobspecs/%s is neither a tenant component (tenant.Components) nor a cluster job; wire it as docs/jobspecs.md \"Adding a component\" says", f)
		}
	}
	docs, err := os.ReadFile("../../docs/jobspecs.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range tenant.Components() {
		if !strings.Contains(string(docs), "| `"+c.Name+"` |") {
			t.Errorf("docs/jobspecs.md has no row for component %s in its table of jobs", c.Name)
		}
		for _, profile := range tenant.Profiles {
			r, err := NewRenderer(jobspecs.FS, profile)
			if err != nil {
				t.Fatal(err)
			}
			src := string(r.sources[c.Name].data)
			file := r.sources[c.Name].file
			refs := func(attr string) bool {
				return regexp.MustCompile(`var\.names\.` + attr + `\b`).MatchString(src)
			}
			key := Key(c)
			if !regexp.MustCompile(`(?m)^\s*id\s*=\s*var\.names\.` + key + `_job\b`).MatchString(src) {
				t.Errorf("%s: want the job id var.names.%s_job", file, key)
			}
			if !strings.Contains(src, `"tenantctl.component"`) || !strings.Contains(src, `= "`+c.Name+`"`) {
				t.Errorf("%s: want job meta tenantctl.component = %q", file, c.Name)
			}
			if c.Service != refs(c.Name+"_service") {
				t.Errorf("%s: references var.names.%s_service: %v; want %v (tenant.Component.Service)", file, c.Name, !c.Service, c.Service)
			}
			if c.Volume && profile == tenant.ProfileDocker && !refs(c.Name+"_volume") {
				t.Errorf("%s: want its volume var.names.%s_volume (tenant.Component.Volume)", file, c.Name)
			}
		}
	}
}
