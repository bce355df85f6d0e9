package cli

import (
	"fmt"
	"maps"
	"slices"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/provision"
)

func (a *app) planCommand() *ucli.Command {
	return tenantCommand("plan", "show what up would change in each of a tenant's jobs (exit 0: none, 3: changes)", "",
		append(append(specFlags(), dirFlags()...), jsonFlag(),
			fileFlag("plan every tenant of this fleet file (tenants.hcl): create, change or untouched")), a.plan)
}

func (a *app) plan(c *ucli.Context) error {
	if c.String("file") != "" {
		return a.planFleet(c)
	}
	t, err := a.prepare(c, true, nil)
	if err != nil {
		return err
	}
	id, spec, env := t.id, t.spec, t.env
	if _, err := env.Nomad.Preflight(c.Context); err != nil {
		return err
	}
	res, err := provision.Plan(c.Context, env, spec)
	if err != nil {
		return err
	}
	if wantJSON(c) {
		if err := writeJSON(a.Stdout, res); err != nil {
			return err
		}
	} else {
		for _, ch := range res.Changes {
			fmt.Fprintf(a.Stdout, "tenant %s: %s\n", id, ch)
		}
		w := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "JOB\tDIFF\tPLACE\tIN-PLACE\tDESTRUCTIVE\tSTOP")
		for _, k := range slices.Sorted(maps.Keys(res.Jobs)) {
			j := res.Jobs[k]
			t := j.Totals()
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\n", k, j.DiffType, t.Place, t.InPlace, t.Destructive, t.Stop)
		}
		_ = w.Flush()
	}
	if res.Changed() {
		return &exit.Error{Code: exit.Changes, Err: fmt.Errorf("tenant %s has changes to apply", id),
			Hint: fmt.Sprintf("tenantctl up %s", id)}
	}
	return nil
}
