package nomadparse

import (
	"strconv"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/jobspec"
	"github.com/tenantctl/tenantctl/internal/nomadtest/jobhcl"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/jobspecs"
)

// TestCredentialFilesAreOwnerOnly: in both profiles, every template that
// renders into secrets/ is 0400, and no task gets Nomad's 0666
// secrets/vault_token file; the app and worker never run as root, and
// their credential file belongs to their user (exec: the configured user,
// here a non-default one; docker: 65532, the images' user). internal/e2e checks the
// same on a real agent's files and processes.
func TestCredentialFilesAreOwnerOnly(t *testing.T) {
	cfg := config.Default()
	cfg.Exec.AppUser, cfg.Exec.AppUID, cfg.Exec.AppGID = "tenantapp", 4321, 4322
	for _, profile := range tenant.Profiles {
		jobs, err := jobspec.Render(jobspecs.FS, cfg, mustSpec(t, "acme", "ACME", profile))
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			job, err := jobhcl.Parse(j.Source, j.Vars, nil, true)
			if err != nil {
				t.Fatalf("%s: %v", j.SourceFile, err)
			}
			for _, tg := range job.TaskGroups {
				for _, task := range tg.Tasks {
					where := j.SourceFile + ": task " + task.Name
					if task.Vault != nil && (task.Vault.DisableFile == nil || !*task.Vault.DisableFile) {
						t.Errorf("%s: vault block without disable_file = true; Nomad would write secrets/vault_token world-readable (0666)", where)
					}
					for _, tp := range task.Templates {
						if !strings.HasPrefix(deref(tp.DestPath), "secrets/") {
							continue
						}
						if got := deref(tp.Perms); got != "0400" {
							t.Errorf("%s: %s has perms %q; want 0400", where, deref(tp.DestPath), got)
						}
					}
					if j.Name != "app" && j.Name != "worker" {
						continue
					}
					wantUser, wantUID, wantGID := "65532:65532", 65532, 65532
					if profile == tenant.ProfileExec {
						wantUser, wantUID, wantGID = "tenantapp", 4321, 4322
					}
					if task.User != wantUser {
						t.Errorf("%s runs as user %q; want %q", where, task.User, wantUser)
					}
					for _, tp := range task.Templates {
						if tp.Uid == nil || *tp.Uid != wantUID || tp.Gid == nil || *tp.Gid != wantGID {
							t.Errorf("%s: %s is owned by %s:%s; want %d:%d", where, deref(tp.DestPath), idString(tp.Uid), idString(tp.Gid), wantUID, wantGID)
						}
					}
				}
			}
		}
	}
}

func idString(p *int) string {
	if p == nil {
		return "(agent's user)"
	}
	return strconv.Itoa(*p)
}
