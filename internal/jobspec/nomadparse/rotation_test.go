package nomadparse

import (
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/app"
	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/jobspec"
	"github.com/tenantctl/tenantctl/internal/nomadtest/jobhcl"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/jobspecs"
)

// TestCredentialTemplates checks what the rotation argument of docs/vault.md
// assumes of the app's and worker's jobspecs: one template per credential
// (each reads exactly one Vault secret), each with its own `wait` whose max is
// config.TemplateWaitMax, signalling SIGHUP at once (splay 0s); and TENANT_APP_ENV_FILE names
// exactly those templates' files.
func TestCredentialTemplates(t *testing.T) {
	secretRe := regexp.MustCompile(`secret "([^"]+)"`)
	for _, profile := range tenant.Profiles {
		jobs, err := jobspec.Render(jobspecs.FS, config.Default(), mustSpec(t, "acme", "ACME", profile))
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, j := range jobs {
			if j.Name != "app" && j.Name != "worker" {
				continue
			}
			job, err := jobhcl.Parse(j.Source, j.Vars, nil, false)
			if err != nil {
				t.Fatalf("%s: %v", j.SourceFile, err)
			}
			task := job.TaskGroups[0].Tasks[0]
			var files []string
			creds := map[string]bool{}
			for _, tpl := range task.Templates {
				dest := deref(tpl.DestPath)
				paths := secretRe.FindAllStringSubmatch(deref(tpl.EmbeddedTmpl), -1)
				if len(paths) != 1 {
					t.Errorf("%s: template %s reads %d Vault secrets; want exactly one", j.SourceFile, dest, len(paths))
					continue
				}
				creds[paths[0][1]] = true
				if tpl.Wait == nil || tpl.Wait.Max == nil || tpl.Wait.Min == nil {
					t.Errorf("%s: template %s has no wait block; want max %s", j.SourceFile, dest, config.TemplateWaitMax)
				} else if *tpl.Wait.Max != config.TemplateWaitMax || *tpl.Wait.Min > *tpl.Wait.Max {
					t.Errorf("%s: template %s waits min %s max %s; want max %s (config.TemplateWaitMax)",
						j.SourceFile, dest, *tpl.Wait.Min, *tpl.Wait.Max, config.TemplateWaitMax)
				}
				if tpl.Splay == nil || *tpl.Splay != 0 {
					// Nomad's default splay (5s) would hold the signal back
					// by a random time the rotation budget does not hold.
					t.Errorf("%s: template %s: splay %v; want 0s", j.SourceFile, dest, tpl.Splay)
				}
				if deref(tpl.ChangeMode) != "signal" || deref(tpl.ChangeSignal) != "SIGHUP" {
					t.Errorf("%s: template %s: change_mode %q signal %q; want signal SIGHUP", j.SourceFile, dest,
						deref(tpl.ChangeMode), deref(tpl.ChangeSignal))
				}
				files = append(files, "${NOMAD_SECRETS_DIR}/"+path.Base(dest))
			}
			if len(creds) != 2 {
				t.Errorf("%s: templates read %d distinct secrets; want 2 (Postgres and Redis)", j.SourceFile, len(creds))
			}
			if got, want := task.Env[app.EnvFileVar], strings.Join(files, ":"); got != want {
				t.Errorf("%s: %s = %q; want %q", j.SourceFile, app.EnvFileVar, got, want)
			}
			checked++
		}
		if checked != 2 {
			t.Errorf("%s: checked %d jobs; want app and worker", profile, checked)
		}
	}
}
