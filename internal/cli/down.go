package cli

import (
	"bufio"
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

func (a *app) downCommand() *ucli.Command {
	return tenantCommand("down", "remove a tenant: jobs, Vault objects, Consul record, namespace (data only with --purge-data)",
		"Removes the tenant in the reverse order of up. Asks for confirmation on a terminal; elsewhere it\n"+
			"refuses without --yes. The data volumes stay unless --purge-data is given.",
		append(lockFlags(),
			&ucli.BoolFlag{Name: "purge-data", Usage: "also delete the tenant's Postgres and Redis data volumes"},
			&ucli.BoolFlag{Name: "yes", Usage: "do not ask for confirmation"},
			&ucli.StringFlag{Name: "profile", Usage: "the tenant's profile, docker or exec, for --purge-data (default: from its record, else the config's; a recorded tenant must be given its own)"},
			jsonFlag()),
		a.down)
}

func (a *app) down(c *ucli.Context) error {
	id, err := oneTenant(c)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(a.opts.ConfigFile)
	if err != nil {
		return err
	}
	var given tenant.Profile
	if c.IsSet("profile") {
		// Validated like up's --profile, before anything is asked or contacted.
		if given, err = tenant.ParseProfile(c.String("profile")); err != nil {
			return invalidInput(err)
		}
	}
	if !c.Bool("yes") {
		if err := a.confirm(id, c.Bool("purge-data")); err != nil {
			return err
		}
	}
	p := a.progressFor(c)
	env, err := a.provisionEnv(c, cfg, p)
	if err != nil {
		return err
	}
	profile := cfg.Profile
	rec, err := env.Consul.ReadRecord(c.Context, tenant.NamesFor(id).KVPrefix)
	if err != nil {
		if perr := env.Consul.Preflight(c.Context); perr != nil {
			return perr
		}
		return err
	}
	if rec != nil && rec.Profile != "" {
		profile = tenant.Profile(rec.Profile)
	}
	if given != "" {
		// The tenant's data is where its recorded profile put it.
		if rec != nil {
			if err := provision.CheckProfile(id, rec.Profile, given); err != nil {
				return err
			}
		}
		profile = given
	}
	rep, err := provision.Down(c.Context, env, provision.DownOptions{
		ID: id, Profile: profile, PurgeData: c.Bool("purge-data"), LockTimeout: c.Duration("lock-timeout"),
		Holder: holder(c, id),
	})
	if wantJSON(c) {
		return a.jsonResult(rep, err)
	}
	if err != nil {
		return err
	}
	if rep.Changed() {
		fmt.Fprintf(a.Stdout, "%s: removed (%s)\n", id, round(rep.Duration))
	} else {
		fmt.Fprintf(a.Stdout, "%s: nothing to remove\n", id)
	}
	return nil
}

// confirm asks the operator to type the tenant id; off a terminal it refuses.
func (a *app) confirm(id tenant.ID, purge bool) error {
	what := "its jobs, Vault objects, Consul record and namespace"
	if purge {
		what += ", AND ITS DATA (Postgres and Redis volumes)"
	}
	if !isTerminal(a.Stdin) || !isTerminal(a.Stderr) {
		return exit.UsageError(fmt.Sprintf("tenantctl down %s --yes", id),
			"down removes tenant %s (%s) and needs confirmation; not on a terminal", id, what)
	}
	fmt.Fprintf(a.Stderr, "This removes tenant %s: %s.\nType the tenant id to confirm: ", id, what)
	line, _ := bufio.NewReader(a.Stdin).ReadString('\n')
	if strings.TrimSpace(line) != id.String() {
		return exit.UsageError("type the tenant id exactly, or pass --yes", "not confirmed; nothing was changed")
	}
	return nil
}
