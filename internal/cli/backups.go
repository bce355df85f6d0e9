package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

func (a *app) backupsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "backups",
		Usage: "list a tenant's backups",
		Subcommands: []*ucli.Command{
			tenantCommand("list", "list a tenant's backups, oldest first (also of a tenant that was removed)",
				"Reads the tenant's backup catalogue in Consul and the scheduled backups Nomad still knows.",
				[]ucli.Flag{jsonFlag()}, a.backupsList),
		},
	}
}

func (a *app) backupsList(c *ucli.Context) error {
	t, err := a.prepare(c, false, nil)
	if err != nil {
		return err
	}
	list, err := provision.Backups(c.Context, t.env, t.id)
	if err != nil {
		return err
	}
	if wantJSON(c) {
		return writeJSON(a.Stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintf(a.Stdout, "%s: no backups (`tenantctl backup %s` takes one)\n", t.id, t.id)
		return nil
	}
	w := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tCREATED\tSIZE\tSCHEMA\tREDIS KEYS\tBY\tJOB")
	for _, b := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", b.ID, b.Created.Format(time.RFC3339), tenant.HumanSize(b.Size()),
			b.SchemaVersion, b.Redis.Keys, dash(b.Trigger), dash(b.Job))
	}
	return w.Flush()
}
