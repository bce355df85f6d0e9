package nomadparse

import (
	"regexp"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/jobspec"
	"github.com/tenantctl/tenantctl/internal/nomadtest/jobhcl"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/jobspecs"
)

// TestVarFileBounds: the jobspecs' own validations keep the length limits of
// names, hosts and images exactly at their bounds. They are written as
// strlen plus an unbounded pattern, not as a bounded repetition such as
// {0,127}, whose regular expression Nomad compiles anew for every value:
// that made each /v1/jobs/parse ~45 ms instead of ~15 ms on a real agent,
// and a converged up parses every job.
func TestVarFileBounds(t *testing.T) {
	for _, profile := range tenant.Profiles {
		t.Run(string(profile), func(t *testing.T) {
			jobs, err := jobspec.Render(jobspecs.FS, config.Default(), mustSpec(t, "acme", "ACME", profile))
			if err != nil {
				t.Fatal(err)
			}
			j := jobs[0]
			type bound struct {
				line, value string
				ok          bool
			}
			cases := []bound{
				{`host`, "a" + strings.Repeat("b", 251) + "c", true}, // 253
				{`host`, "a" + strings.Repeat("b", 252) + "c", false},
				{`host`, "a", false},
				{`host`, "-a", false},
				{`host`, "a.", false},
				{`database`, strings.Repeat("a", 128), true},
				{`database`, strings.Repeat("a", 129), false},
				{`database`, "_a", false},
				{`database`, "", false},
			}
			if profile == tenant.ProfileDocker {
				cases = append(cases,
					bound{`app`, "r" + strings.Repeat("e", 254), true}, // 255
					bound{`app`, "r" + strings.Repeat("e", 255), false},
					bound{`app`, "Registry/app", false},
				)
			}
			for _, c := range cases {
				re := regexp.MustCompile(`(?m)^(\s*` + c.line + `\s*= )"[^"\n]*"$`)
				if len(re.FindAllString(j.Vars, -1)) != 1 {
					t.Fatalf("the var-file has no single %s line:\n%s", c.line, j.Vars)
				}
				vars := re.ReplaceAllString(j.Vars, `${1}"`+c.value+`"`)
				_, err := jobhcl.Parse(j.Source, vars, nil, true)
				switch {
				case c.ok && err != nil:
					t.Errorf("%s = %q (%d chars): %v; want it accepted", c.line, c.value, len(c.value), err)
				case !c.ok && (err == nil || !strings.Contains(err.Error(), "Invalid value for varfile variable")):
					t.Errorf("%s = %q (%d chars): got %v; want the variable's validation to refuse it", c.line, c.value, len(c.value), err)
				}
			}
		})
	}
}
