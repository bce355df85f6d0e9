package vault

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// TestBackupRoles: the backup jobs' credential roles grant what the runner
// needs and nothing more: the backup users read-only (the backup group, no
// owner), the restore users the owner's rights; their Redis users exactly
// their commands; and their jwt roles accept their dispatched or periodic
// runs.
func TestBackupRoles(t *testing.T) {
	n := tenant.NamesFor("acme")
	pg := map[string]roleSpec{}
	for _, r := range postgresRoles(n) {
		pg[r.name] = r
	}
	for _, name := range []string{n.DBRoleBackup, n.DBRoleScheduledBackup} {
		stmts := pg[name].creation
		// The group role first (tenants prepared before backups lack it),
		// then the user, a member of it alone.
		if len(stmts) < 2 || !strings.Contains(stmts[0], "CREATE ROLE \""+n.DBBackupRole+"\" NOLOGIN") {
			t.Errorf("role %s: creation %q; want the backup group role ensured first", name, stmts)
			continue
		}
		c := stmts[len(stmts)-1]
		if !strings.HasSuffix(c, "BYPASSRLS IN ROLE "+n.DBBackupRole) || strings.Contains(c, n.OwnerRole) || strings.Contains(c, "SUPERUSER") {
			t.Errorf("role %s: creation %q; want a BYPASSRLS member of %s only", name, c, n.DBBackupRole)
		}
	}
	if c := strings.Join(pg[n.DBRoleRestore].creation, ";"); !strings.Contains(c, "BYPASSRLS IN ROLE "+n.OwnerRole) || !strings.Contains(c, "SET role = '"+n.OwnerRole+"'") {
		t.Errorf("restore role: creation %q; want a BYPASSRLS member of the owner that runs as the owner", c)
	}
	redis := map[string][]string{}
	for _, r := range redisRoles(n) {
		var rules []string
		if err := json.Unmarshal([]byte(r.creation[0]), &rules); err != nil {
			t.Fatal(err)
		}
		redis[r.name] = rules
	}
	for role, want := range map[string][]string{
		n.RedisRoleBackup:          {"~*", "-@all", "+ping", "+scan", "+dump", "+pttl"},
		n.RedisRoleScheduledBackup: {"~*", "-@all", "+ping", "+scan", "+dump", "+pttl"},
		n.RedisRoleRestore:         {"~*", "-@all", "+ping", "+flushdb", "+restore", "+dbsize"},
	} {
		if !slices.Equal(redis[role], want) {
			t.Errorf("redis role %s: got %v; want %v", role, redis[role], want)
		}
	}
	for _, c := range tenant.Components() {
		jobs := boundJobs(n, c)
		switch c.Stage {
		case tenant.StageOnDemand, tenant.StageMigrate:
			if !slices.Equal(jobs, []string{n.Job(c), n.Job(c) + "/dispatch-*"}) {
				t.Errorf("%s: bound jobs %v; want the job and its dispatched runs", c.Name, jobs)
			}
		case tenant.StageScheduled:
			if !slices.Equal(jobs, []string{n.Job(c), n.Job(c) + "/periodic-*"}) {
				t.Errorf("%s: bound jobs %v; want the job and its periodic runs", c.Name, jobs)
			}
		default:
			if !slices.Equal(jobs, []string{n.Job(c)}) {
				t.Errorf("%s: bound jobs %v; want the job only", c.Name, jobs)
			}
		}
	}
}
