package cli

import (
	"time"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/provision"
	ucli "github.com/urfave/cli/v2"
)

func (a *app) migrateCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "migrate",
		Usage:     "dispatch the tenant's migration job and wait for it to complete",
		ArgsUsage: "<tenant>",
		Flags: append(append(append(specFlags(), lockFlags()...), dirFlags()...),
			&ucli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, Usage: "deadline of the migration run"},
			jsonFlag()),
		Action: func(c *ucli.Context) error {
			t, err := a.prepare(c, true, a.progressFor(c))
			if err != nil {
				return err
			}
			id, spec, env := t.id, t.spec, t.env
			rep, err := provision.Migrate(c.Context, env, provision.MigrateOptions{
				Spec: spec, Timeout: c.Duration("timeout"), LockTimeout: c.Duration("lock-timeout"),
				Holder: consul.CurrentHolder("migrate "+id.String(), time.Now()),
			})
			return a.finish(c, id, rep, err, "migrated")
		},
	}
}
