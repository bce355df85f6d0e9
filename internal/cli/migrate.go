package cli

import (
	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/provision"
)

func (a *app) migrateCommand() *ucli.Command {
	return tenantCommand("migrate", "dispatch the tenant's migration job and wait for it to complete", "",
		append(append(append(specFlags(), lockFlags()...), dirFlags()...), timeoutFlag("deadline of the migration run"), jsonFlag()),
		func(c *ucli.Context) error {
			t, err := a.prepare(c, true, a.progressFor(c))
			if err != nil {
				return err
			}
			rep, err := provision.Migrate(c.Context, t.env, provision.MigrateOptions{
				Spec: t.spec, Timeout: c.Duration("timeout"), LockTimeout: c.Duration("lock-timeout"), Holder: holder(c, t.id),
			})
			return a.finish(c, t.id, rep, err, "migrated")
		})
}
