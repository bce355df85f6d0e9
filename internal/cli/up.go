package cli

import (
	"fmt"
	"maps"
	"slices"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

func (a *app) upCommand() *ucli.Command {
	return tenantCommand("up", "create or converge a tenant: namespace, Vault, data services, migrations, app, routing",
		"Converges the tenant in order and returns when it is healthy and routable. Re-running it on a\n"+
			"converged tenant writes nothing and says \"no changes\"; after a failure or an interrupt it picks up\n"+
			"where it stopped. With --json it prints one JSON event per line, then the result.",
		append(append(append(specFlags(), lockFlags()...), dirFlags()...),
			timeoutFlag("deadline of each wait (deployments, migrations, routing)"),
			&ucli.BoolFlag{Name: "detach", Usage: "return once the app and worker are registered, without waiting for them"},
			jsonFlag()),
		a.up)
}

func (a *app) up(c *ucli.Context) error {
	t, err := a.prepare(c, true, a.progressFor(c))
	if err != nil {
		return err
	}
	id, spec, env := t.id, t.spec, t.env
	res, err := provision.Up(c.Context, env, provision.UpOptions{
		Spec: spec, Timeout: c.Duration("timeout"), LockTimeout: c.Duration("lock-timeout"),
		Detach: c.Bool("detach"), Holder: holder(c, id),
	})
	if wantJSON(c) {
		return a.jsonResult(res, err)
	}
	if err != nil {
		return err
	}
	if res.NoChanges {
		fmt.Fprintf(a.Stdout, "%s: no changes; the tenant is converged and healthy\n", id)
	} else {
		fmt.Fprintf(a.Stdout, "%s: up (%s)\n", id, round(res.Duration))
	}
	for _, ch := range res.Changes {
		fmt.Fprintf(a.Stdout, "  changed %s\n", ch)
	}
	a.printSummary(spec, res.Links)
	return nil
}

func (a *app) printSummary(spec tenant.Spec, links map[string]string) {
	w := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "  host\t%s\n", spec.Host)
	fmt.Fprintf(w, "  namespace\t%s\n", spec.Names().Namespace)
	for _, k := range slices.Sorted(maps.Keys(links)) {
		fmt.Fprintf(w, "  %s\t%s\n", k, links[k])
	}
	_ = w.Flush()
}
