package jobspec

import (
	"regexp"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/jobspecs"
)

// profileVariable is the variable each profile has of its own; every other
// variable block is the same in both.
var profileVariable = map[tenant.Profile]string{tenant.ProfileDocker: "images", tenant.ProfileExec: "exec"}

var variableStart = regexp.MustCompile(`(?m)^variable "([a-z_]+)" \{$`)

// variableBlocks returns the text of every top-level variable block of src
// (from `variable "x" {` to its closing brace at the start of a line), by
// name, and the names in order.
func variableBlocks(t *testing.T, file string, src []byte) (map[string]string, []string) {
	t.Helper()
	s := string(src)
	blocks := map[string]string{}
	var order []string
	for _, m := range variableStart.FindAllStringSubmatchIndex(s, -1) {
		name := s[m[2]:m[3]]
		end := strings.Index(s[m[0]:], "\n}\n")
		if end < 0 {
			t.Fatalf("%s: variable %q has no closing brace at the start of a line", file, name)
		}
		blocks[name] = s[m[0] : m[0]+end+3]
		order = append(order, name)
	}
	if len(order) == 0 {
		t.Fatalf("%s: no variable blocks", file)
	}
	return blocks, order
}

// TestJobspecHeadersAreIdentical keeps the shared `variable` header of the
// tenant jobspecs byte for byte the same across files: types, descriptions
// and validations, not only names. Within a profile every block is
// identical, in the same order; across profiles every block but the
// profile's own (images or exec) is. Change one file's header and this test
// says which block to copy where.
func TestJobspecHeadersAreIdentical(t *testing.T) {
	common := map[string]string{} // block text shared by both profiles
	commonFrom := map[string]string{}
	for _, profile := range tenant.Profiles {
		r, err := NewRenderer(jobspecs.FS, profile)
		if err != nil {
			t.Fatal(err)
		}
		var firstFile string
		var first map[string]string
		var firstOrder []string
		for _, c := range tenant.Components() {
			src := r.sources[c.Name]
			blocks, order := variableBlocks(t, src.file, src.data)
			if first == nil {
				firstFile, first, firstOrder = src.file, blocks, order
			} else {
				if strings.Join(order, ",") != strings.Join(firstOrder, ",") {
					t.Errorf("%s declares %v; %s declares %v: want the same variables in the same order", src.file, order, firstFile, firstOrder)
				}
				for name, text := range blocks {
					if want, ok := first[name]; ok && text != want {
						t.Errorf("variable %q of %s differs from %s's:\n%s\nwant\n%s", name, src.file, firstFile, text, want)
					}
				}
			}
			if _, ok := blocks[profileVariable[profile]]; !ok {
				t.Errorf("%s lacks its profile's variable %q", src.file, profileVariable[profile])
			}
		}
		for name, text := range first {
			if name == profileVariable[profile] {
				continue
			}
			if want, ok := common[name]; !ok {
				common[name], commonFrom[name] = text, firstFile
			} else if text != want {
				t.Errorf("variable %q of %s differs from %s's:\n%s\nwant\n%s", name, firstFile, commonFrom[name], text, want)
			}
		}
	}
	if len(common) < 5 {
		t.Errorf("got %d shared variable blocks; want the header's (tenant_id, names, resources, …)", len(common))
	}
}
