package tenant

import (
	"slices"
	"testing"
)

// TestComponentNamesAreNames checks that every name a component derives is
// one of Names' fields, so the prefix-safety tests above cover it, and that
// the stages hold what the commands expect of them.
func TestComponentNamesAreNames(t *testing.T) {
	n := NamesFor("acme")
	var values []string
	for _, v := range allNames(t, n) {
		values = append(values, v)
	}
	seen := map[string]bool{}
	for _, c := range Components() {
		if seen[c.Name] {
			t.Errorf("component %s is listed twice", c.Name)
		}
		seen[c.Name] = true
		for what, name := range map[string]string{"job": n.Job(c), "service": n.Service(c), "volume": n.Volume(c),
			"vault identity": n.Identity(c), "postgres role": n.DBRole(c), "redis role": n.RedisRole(c)} {
			if name != "" && !slices.Contains(values, name) {
				t.Errorf("the %s of component %s, %q, is not a field of Names; add one to Names and NamesFor", what, c.Name, name)
			}
		}
		if c.Stage != StageData && c.Volume {
			t.Errorf("component %s has a volume but is not a data service; down and the volumes step handle volumes of data services only", c.Name)
		}
	}
	if got := len(ComponentsAt(StageMigrate)); got != 1 {
		t.Errorf("got %d migrate components; want exactly 1 (up dispatches one migration job)", got)
	}
	for _, s := range []Stage{StageData, StageWorkload} {
		if len(ComponentsAt(s)) == 0 {
			t.Errorf("stage %d has no component", s)
		}
	}
	if got, want := n.Jobs(Components()), []string{n.JobPostgres, n.JobRedis, n.JobMigrate, n.JobApp, n.JobWorker, n.JobBackup, n.JobRestore, n.JobScheduledBackup}; !slices.Equal(got, want) {
		t.Errorf("jobs in up's order: got %v; want %v", got, want)
	}
	if got, want := n.Services(Components()), []string{n.ServicePostgres, n.ServiceRedis, n.ServiceApp, n.ServiceWorker}; !slices.Equal(got, want) {
		t.Errorf("services: got %v; want %v", got, want)
	}
	if got, want := n.Volumes(Components()), []string{n.VolumePostgres, n.VolumeRedis}; !slices.Equal(got, want) {
		t.Errorf("volumes: got %v; want %v", got, want)
	}
	if got, want := n.Identities(Components()), []string{n.IdentityPostgres, n.IdentityRedis, n.IdentityMigrate, n.IdentityApp, n.IdentityWorker, n.IdentityBackup, n.IdentityRestore, n.IdentityScheduledBackup}; !slices.Equal(got, want) {
		t.Errorf("vault identities: got %v; want %v", got, want)
	}
	if got, want := n.DBRoles(Components()), []string{n.DBRoleMigrate, n.DBRoleApp, n.DBRoleWorker, n.DBRoleBackup, n.DBRoleRestore, n.DBRoleScheduledBackup}; !slices.Equal(got, want) {
		t.Errorf("postgres roles: got %v; want %v", got, want)
	}
	if got, want := n.RedisRoles(Components()), []string{n.RedisRoleApp, n.RedisRoleWorker, n.RedisRoleBackup, n.RedisRoleRestore, n.RedisRoleScheduledBackup}; !slices.Equal(got, want) {
		t.Errorf("redis roles: got %v; want %v", got, want)
	}
}
