package cli

import (
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/provision"
)

func (a *app) rotateCommand() *ucli.Command {
	return tenantCommand("rotate", "rotate the tenant's Postgres and Redis root credentials, revoke its leases, roll its tasks", "",
		append(lockFlags(), timeoutFlag("deadline for the tasks to be healthy again"), jsonFlag()),
		func(c *ucli.Context) error {
			t, err := a.prepare(c, false, a.progressFor(c))
			if err != nil {
				return err
			}
			res, err := provision.Rotate(c.Context, t.env, provision.RotateOptions{
				ID: t.id, Timeout: c.Duration("timeout"), LockTimeout: c.Duration("lock-timeout"), Holder: holder(c, t.id),
			})
			if wantJSON(c) {
				return a.jsonResult(res, err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.Stdout, "%s: rotated %s; revoked %d lease(s); replaced %d allocation(s); healthy (%s)\n",
				t.id, strings.Join(res.Vault.Rotated, ", "), res.Vault.Revoked(), res.Replaced, round(res.Duration))
			return nil
		})
}
