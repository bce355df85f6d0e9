package nomadparse

import (
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/jobspec"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// hostileName is a display name full of characters that would break HCL,
// shell, SQL or Go templates if they were not escaped.
const hostileName = `ACME "Corp" $var.tenant_id $ {x} %{ if true }x%{ endif } \ ; DROP TABLE x; ` + "`id`" + ` {{ .Data }} ../ Ünï`

func mustSpec(t testing.TB, id, name string, profile tenant.Profile) tenant.Spec {
	t.Helper()
	s, err := tenant.NewSpec(tenant.SpecInput{ID: id, Name: name, BaseDomain: "tenants.example.com", Plan: "small", Profile: string(profile)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// checkJob checks the parts of a parsed job that tenantctl and the router
// rely on.
func checkJob(t *testing.T, j jobspec.Job, job *api.Job, spec tenant.Spec) {
	t.Helper()
	names := tenant.NamesFor(spec.ID)
	if j.Name == "migrate" {
		if deref(job.Type) != "batch" || job.ParameterizedJob == nil || !slices.Contains(job.ParameterizedJob.MetaRequired, "version") {
			t.Errorf("%s: want a parameterized batch job requiring meta version", j.SourceFile)
		}
		tg := job.TaskGroups[0]
		if tg.RestartPolicy == nil || deref(tg.RestartPolicy.Attempts) != 0 || tg.ReschedulePolicy == nil || deref(tg.ReschedulePolicy.Attempts) != 0 || deref(tg.ReschedulePolicy.Unlimited) {
			t.Errorf("%s: want restart and reschedule attempts 0", j.SourceFile)
		}
		// The runner runs as the schema owner and grants the app group.
		env := tg.Tasks[0].Env
		if env["TENANTCTL_DB_OWNER_ROLE"] != names.OwnerRole || env["TENANTCTL_DB_APP_ROLE"] != names.AppGroupRole {
			t.Errorf("%s: migrate env owner/app roles = %q/%q; want %q/%q", j.SourceFile,
				env["TENANTCTL_DB_OWNER_ROLE"], env["TENANTCTL_DB_APP_ROLE"], names.OwnerRole, names.AppGroupRole)
		}
	} else if j.Name == "backup" || j.Name == "restore" || j.Name == "scheduled-backup" {
		checkBackupJob(t, j, job, spec)
	} else {
		if job.Update == nil || !deref(job.Update.AutoRevert) || deref(job.Update.HealthCheck) != "checks" {
			t.Errorf("%s: want an update block with health checks and auto_revert", j.SourceFile)
		}
	}
	for _, tg := range job.TaskGroups {
		if len(tg.Services) > 0 && tg.ShutdownDelay == nil {
			t.Errorf("%s: group %s has services but no shutdown_delay", j.SourceFile, deref(tg.Name))
		}
		for _, s := range tg.Services {
			if s.Provider != "consul" || len(s.Checks) == 0 {
				t.Errorf("%s: service %s: want provider consul with checks", j.SourceFile, s.Name)
			}
			for _, tag := range []string{"tenantctl", "tenantctl.tenant=" + spec.ID.String(), "tenantctl.host=" + spec.Host.String()} {
				if !slices.Contains(s.Tags, tag) {
					t.Errorf("%s: service %s tags %v; want %q", j.SourceFile, s.Name, s.Tags, tag)
				}
			}
		}
		for _, task := range tg.Tasks {
			for _, tpl := range task.Templates {
				data := deref(tpl.EmbeddedTmpl)
				if strings.Contains(data, "secret ") && !deref(tpl.ErrMissingKey) {
					t.Errorf("%s: task %s: a template reading secrets without error_on_missing_key", j.SourceFile, task.Name)
				}
				if strings.Contains(data, "${") {
					t.Errorf("%s: task %s: template still holds an HCL interpolation: %q", j.SourceFile, task.Name, data)
				}
			}
			// Every task logs in with its own component's identity, never
			// another component's.
			if task.Vault != nil {
				want := ""
				for _, c := range tenant.Components() {
					if c.Name == j.Name {
						want = names.Identity(c)
					}
				}
				if task.Vault.Role != want {
					t.Errorf("%s: task %s: vault role %q; want %q", j.SourceFile, task.Name, task.Vault.Role, want)
				}
			}
		}
	}
	want := map[string]string{"app": names.ServiceApp, "worker": names.ServiceWorker, "postgres": names.ServicePostgres, "redis": names.ServiceRedis}
	if svc, ok := want[j.Name]; ok {
		if len(job.TaskGroups[0].Services) == 0 || job.TaskGroups[0].Services[0].Name != svc {
			t.Errorf("%s: want service %q", j.SourceFile, svc)
		}
	}
}

// checkBackupJob checks the backup components' jobs: batch, never retried,
// backup and restore parameterized on the meta tenantctl dispatches with,
// the scheduled backup periodic without overlap, each reading only its own
// credential roles, and the runner's environment.
func checkBackupJob(t *testing.T, j jobspec.Job, job *api.Job, spec tenant.Spec) {
	t.Helper()
	if deref(job.Type) != "batch" {
		t.Errorf("%s: type %q; want batch", j.SourceFile, deref(job.Type))
	}
	tg := job.TaskGroups[0]
	if tg.RestartPolicy == nil || deref(tg.RestartPolicy.Attempts) != 0 || tg.ReschedulePolicy == nil || deref(tg.ReschedulePolicy.Attempts) != 0 {
		t.Errorf("%s: want restart and reschedule attempts 0", j.SourceFile)
	}
	env := tg.Tasks[0].Env
	if env["TENANT_ID"] != spec.ID.String() || env["TENANTCTL_BACKUP_DIR"] == "" {
		t.Errorf("%s: env %v; want TENANT_ID and TENANTCTL_BACKUP_DIR", j.SourceFile, env)
	}
	switch j.Name {
	case "backup":
		if job.ParameterizedJob == nil || !slices.Equal(job.ParameterizedJob.MetaRequired, []string{"backup_id"}) || job.Periodic != nil {
			t.Errorf("%s: want a parameterized job requiring meta backup_id", j.SourceFile)
		}
		if env["TENANTCTL_BACKUP_ID"] != "${NOMAD_META_backup_id}" || env["TENANTCTL_BACKUP_KEEP"] == "" {
			t.Errorf("%s: env %v; want the backup id from meta and the retention", j.SourceFile, env)
		}
	case "restore":
		if job.ParameterizedJob == nil || !slices.Equal(job.ParameterizedJob.MetaRequired, []string{"backup_id", "source_tenant"}) {
			t.Errorf("%s: want a parameterized job requiring meta backup_id and source_tenant", j.SourceFile)
		}
		if env["TENANTCTL_RESTORE_FROM"] != "${NOMAD_META_backup_id}" || env["TENANTCTL_RESTORE_SOURCE_TENANT"] != "${NOMAD_META_source_tenant}" {
			t.Errorf("%s: env %v; want the backup id and source tenant from meta", j.SourceFile, env)
		}
	case "scheduled-backup":
		if job.ParameterizedJob != nil || job.Periodic == nil || !deref(job.Periodic.ProhibitOverlap) || len(job.Periodic.Specs) != 1 {
			t.Errorf("%s: want a periodic job with one cron and prohibit_overlap", j.SourceFile)
		}
		if _, ok := env["TENANTCTL_BACKUP_ID"]; ok {
			t.Errorf("%s: a scheduled run's backup id is the runner's to generate", j.SourceFile)
		}
	}
	// Only the component's own credential roles.
	names := tenant.NamesFor(spec.ID)
	key := jobspec.Key(tenant.Component{Name: j.Name})
	for _, tpl := range tg.Tasks[0].Templates {
		data := deref(tpl.EmbeddedTmpl)
		if !strings.Contains(data, "secret ") {
			continue
		}
		if !strings.Contains(data, "/creds/"+names.ID.String()+"--"+strings.ReplaceAll(key, "_", "-")+`"`) &&
			!strings.Contains(data, "/creds/"+names.ID.String()+"--redis-"+strings.ReplaceAll(key, "_", "-")+`"`) {
			t.Errorf("%s: a template reads a role not of its own: %q", j.SourceFile, data)
		}
	}
}
