package cli

import (
	"fmt"
	"io"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

func (a *app) downCommand() *ucli.Command {
	return tenantCommand("down", "remove a tenant: jobs, Vault objects, Consul record, namespace (data only with --purge-data)",
		"Removes the tenant in the reverse order of up. Asks for confirmation on a terminal; elsewhere it\n"+
			"refuses without --yes. The data volumes stay unless --purge-data is given; --purge-data first takes a\n"+
			"final backup with the tenant's backup job and deletes nothing if it fails. --no-final-backup skips it:\n"+
			"on a terminal it asks for the tenant id once more, elsewhere it needs --yes.",
		append(lockFlags(),
			&ucli.BoolFlag{Name: "purge-data", Usage: "also delete the tenant's Postgres and Redis data volumes (after a final backup)"},
			&ucli.BoolFlag{Name: "no-final-backup", Usage: "with --purge-data: purge without taking a final backup first"},
			timeoutFlag("deadline of the final backup's run"),
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
	purge, noFinal := c.Bool("purge-data"), c.Bool("no-final-backup")
	if noFinal && !purge {
		return exit.UsageError(fmt.Sprintf("tenantctl down %s (data kept), or tenantctl down %s --purge-data --no-final-backup", id, id),
			"--no-final-backup applies only with --purge-data")
	}
	if !c.Bool("yes") {
		if err := a.confirm(id, purge); err != nil {
			return err
		}
	}
	if purge && noFinal && isTerminal(a.Stdin) && isTerminal(a.Stderr) {
		// Asked even with --yes: this is the last chance to keep a copy.
		if err := a.confirmNoFinalBackup(id); err != nil {
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
	var final *tenant.Spec
	if purge && !noFinal {
		if rec == nil {
			return exit.UsageError(fmt.Sprintf("tenantctl down %s --purge-data --no-final-backup", id),
				"tenant %s has no record, so no final backup can be taken of it", id)
		}
		spec, err := rec.Spec()
		if err != nil {
			return err
		}
		final = &spec
	}
	rep, err := provision.Down(c.Context, env, provision.DownOptions{
		ID: id, Profile: profile, PurgeData: purge, FinalBackup: final, Timeout: c.Duration("timeout"),
		LockTimeout: c.Duration("lock-timeout"), Holder: holder(c, id),
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

// confirmNoFinalBackup asks for the tenant id a second time before data is
// purged without a final backup.
func (a *app) confirmNoFinalBackup(id tenant.ID) error {
	fmt.Fprintf(a.Stderr, "No final backup will be taken: once purged, %s's data is gone for good unless an earlier backup (`tenantctl backups list %s`) is enough.\nType the tenant id again to purge without a final backup: ", id, id)
	line := readLine(a.Stdin)
	if strings.TrimSpace(line) != id.String() {
		return exit.UsageError("type the tenant id exactly, or drop --no-final-backup to take a final backup first", "not confirmed; nothing was changed")
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
	line := readLine(a.Stdin)
	if strings.TrimSpace(line) != id.String() {
		return exit.UsageError("type the tenant id exactly, or pass --yes", "not confirmed; nothing was changed")
	}
	return nil
}

// readLine reads one line from r a byte at a time, so a second question
// finds its answer still unread (a buffered reader would swallow it).
func readLine(r io.Reader) string {
	var b strings.Builder
	var c [1]byte
	for b.Len() < 1024 {
		n, err := r.Read(c[:])
		if n == 1 {
			if c[0] == '\n' {
				break
			}
			b.WriteByte(c[0])
		}
		if err != nil {
			break
		}
	}
	return b.String()
}
