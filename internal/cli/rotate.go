package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/provision"
	ucli "github.com/urfave/cli/v2"
)

func (a *app) rotateCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "rotate",
		Usage:     "rotate the tenant's Postgres and Redis root credentials, revoke its leases, roll its tasks",
		ArgsUsage: "<tenant>",
		Flags: append(lockFlags(),
			&ucli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, Usage: "deadline for the tasks to be healthy again"},
			jsonFlag()),
		Action: func(c *ucli.Context) error {
			t, err := a.prepare(c, false, a.progressFor(c))
			if err != nil {
				return err
			}
			id, env := t.id, t.env
			res, err := provision.Rotate(c.Context, env, provision.RotateOptions{
				ID: id, Timeout: c.Duration("timeout"), LockTimeout: c.Duration("lock-timeout"),
				Holder: consul.CurrentHolder("rotate "+id.String(), time.Now()),
			})
			if wantJSON(c) {
				return a.jsonResult(res, err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.Stdout, "%s: rotated %s; revoked %d lease(s); replaced %d allocation(s); healthy (%s)\n",
				id, strings.Join(res.Vault.Rotated, ", "), res.Vault.Revoked(), res.Replaced, round(res.Duration))
			return nil
		},
	}
}
