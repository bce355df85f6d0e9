package cli

import (
	"fmt"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

func (a *app) backupCommand() *ucli.Command {
	return tenantCommand("backup", "take a backup of a tenant's Postgres and Redis with its backup job and record it",
		"Dispatches the tenant's backup job for a new backup id, waits for it, and records the backup (id, time,\n"+
			"sizes, checksums, schema version; no secret) in the tenant's backup catalogue, which `backups list`\n"+
			"and `status` show. The files go to the config's backup root (backup { dir } / { volume }).",
		append(append(lockFlags(), dirFlags()...), timeoutFlag("deadline of the backup run"), jsonFlag()),
		func(c *ucli.Context) error {
			t, err := a.prepare(c, true, a.progressFor(c))
			if err != nil {
				return err
			}
			res, err := provision.Backup(c.Context, t.env, provision.BackupOptions{
				Spec: t.spec, Timeout: c.Duration("timeout"), LockTimeout: c.Duration("lock-timeout"), Holder: holder(c, t.id),
			})
			if wantJSON(c) {
				return a.jsonResult(res, err)
			}
			if err != nil {
				return err
			}
			b := res.Backup
			fmt.Fprintf(a.Stdout, "%s: backup %s  %s  %s  schema version %d  %d redis keys (%s)\n", t.id, b.ID,
				b.Created.Format(time.RFC3339), tenant.HumanSize(b.Size()), b.SchemaVersion, b.Redis.Keys, round(res.Duration))
			return nil
		})
}
