package cli

import (
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

func (a *app) restoreCommand() *ucli.Command {
	return tenantCommand("restore", "restore a tenant from one of its backups, in place or into a new tenant (--to)",
		"In place: stops the app and worker (their jobs stay registered), restores Postgres and Redis with the\n"+
			"tenant's restore job, runs the migrations up to the current set, starts the app and worker again and\n"+
			"verifies health and routing as up does. It replaces the tenant's data, so it asks for the tenant id on a\n"+
			"terminal and needs --yes elsewhere.\n"+
			"With --to NEW: creates tenant NEW with up's steps (its own namespace, credentials and database) and\n"+
			"restores the backup into it before its app is deployed; the original is untouched. --name, --host,\n"+
			"--plan and --profile then describe NEW (default: the original's plan and profile, NEW's own host).\n"+
			"Refuses, before changing anything, an id that is not one of the tenant's backups and a backup whose\n"+
			"schema is newer than this tenantctl's migrations.",
		append(append(append(append(specFlags(), lockFlags()...), dirFlags()...),
			&ucli.StringFlag{Name: "from", Usage: "the backup id (`tenantctl backups list <tenant>`)"},
			&ucli.StringFlag{Name: "to", Usage: "restore into this new tenant instead, leaving the original untouched"},
			&ucli.BoolFlag{Name: "yes", Usage: "do not ask for confirmation of an in-place restore"},
			timeoutFlag("deadline of each wait (restore run, migrations, deployments, routing)")), jsonFlag()),
		a.restore)
}

func (a *app) restore(c *ucli.Context) error {
	source, err := oneTenant(c)
	if err != nil {
		return err
	}
	from := c.String("from")
	if from == "" {
		return exit.UsageError(fmt.Sprintf("tenantctl restore %s --from <backup id> (`tenantctl backups list %s` lists them)", source, source),
			"restore needs --from")
	}
	if err := tenant.ValidateBackupID(from); err != nil {
		return exit.UsageError(fmt.Sprintf("`tenantctl backups list %s` lists its backups' ids", source), "%v", err)
	}
	var to tenant.ID
	if c.IsSet("to") {
		if to, err = tenant.ParseID(c.String("to")); err != nil {
			return invalidInput(err)
		}
		if to == source {
			return exit.UsageError(fmt.Sprintf("tenantctl restore %s --from %s (in place), or --to a new tenant id", source, from),
				"--to names the tenant being restored")
		}
	}
	cfg, err := loadConfig(a.opts.ConfigFile)
	if err != nil {
		return err
	}
	p := a.progressFor(c)
	env, err := a.provisionEnv(c, cfg, p)
	if err != nil {
		return err
	}
	rec, err := env.Consul.ReadRecord(c.Context, tenant.NamesFor(source).KVPrefix)
	if err != nil {
		if perr := env.Consul.Preflight(c.Context); perr != nil {
			return perr
		}
		return err
	}
	target := source
	base := rec
	if to != "" {
		target = to
		if rec != nil {
			// The copy keeps the original's plan and profile; its name and
			// host are its own.
			cp := *rec
			cp.Name, cp.Host = "", ""
			base = &cp
		}
		if own, err := env.Consul.ReadRecord(c.Context, tenant.NamesFor(to).KVPrefix); err != nil {
			return err
		} else if own != nil {
			base = own
		}
	} else if rec == nil {
		return exit.New(exit.Usage, fmt.Sprintf("`tenantctl backups list %s` lists its backups; restore them into a new tenant with --to", source),
			"tenant %q does not exist", source)
	}
	spec, err := desiredSpec(c, target, cfg, base)
	if err != nil {
		return err
	}
	migVer, err := provision.MigrationsVersion(env.Migrations)
	if err != nil {
		return err
	}
	// Refusals first: nothing is asked about a backup that cannot be used.
	if _, err := provision.FindBackup(c.Context, env, source, from, migVer); err != nil {
		return err
	}
	if to == "" && !c.Bool("yes") {
		if err := a.confirmRestore(source, from); err != nil {
			return err
		}
	}
	res, err := provision.Restore(c.Context, env, provision.RestoreOptions{
		Spec: spec, Source: source, From: from, To: to != "", Timeout: c.Duration("timeout"),
		LockTimeout: c.Duration("lock-timeout"), Holder: holder(c, target),
	})
	if wantJSON(c) {
		return a.jsonResult(res, err)
	}
	if err != nil {
		return err
	}
	if to != "" {
		fmt.Fprintf(a.Stdout, "%s: created from backup %s of %s (%s)\n", to, from, source, round(res.Duration))
		a.printSummary(spec, nil)
		return nil
	}
	fmt.Fprintf(a.Stdout, "%s: restored from backup %s (%s)\n", source, from, round(res.Duration))
	return nil
}

// confirmRestore asks the operator to type the tenant id before its data
// is replaced; off a terminal it refuses.
func (a *app) confirmRestore(id tenant.ID, from string) error {
	if !isTerminal(a.Stdin) || !isTerminal(a.Stderr) {
		return exit.UsageError(fmt.Sprintf("tenantctl restore %s --from %s --yes", id, from),
			"restore replaces tenant %s's data with backup %s and needs confirmation; not on a terminal", id, from)
	}
	fmt.Fprintf(a.Stderr, "This stops tenant %s's app and worker and REPLACES ITS DATA (Postgres and Redis) with backup %s.\nType the tenant id to confirm: ", id, from)
	line := readLine(a.Stdin)
	if strings.TrimSpace(line) != id.String() {
		return exit.UsageError("type the tenant id exactly, or pass --yes", "not confirmed; nothing was changed")
	}
	return nil
}
