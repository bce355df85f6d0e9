package cli

import (
	"fmt"
	"io"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// specFlags describe a tenant's desired state (up and plan).
func specFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "name", Usage: "display name of the tenant (default: the recorded one, else the tenant id)"},
		&ucli.StringFlag{Name: "host", Usage: "public host (default: the recorded one, else <tenant>.<base_domain>)"},
		&ucli.StringFlag{Name: "plan", Usage: "plan: small, medium or large (default: the recorded one, else small)"},
		&ucli.StringFlag{Name: "profile", Usage: "runtime profile: docker or exec (default: the recorded one, else the config's profile)"},
	}
}

func lockFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.DurationFlag{Name: "lock-timeout", Value: 30 * time.Second, Usage: "how long to wait for another operator's lock on the tenant"},
	}
}

func jsonFlag() ucli.Flag { return &ucli.BoolFlag{Name: "json", Usage: "machine-readable output"} }

// oneTenant parses the single positional tenant id of a command.
func oneTenant(c *ucli.Context) (tenant.ID, error) {
	args, err := interspersedFlags(c)
	if err != nil {
		return "", err
	}
	example := fmt.Sprintf("tenantctl %s %s", c.Command.Name, tenant.ExampleID)
	if len(args) != 1 {
		return "", exit.UsageError(example, "%s needs exactly one tenant id, got %d arguments", c.Command.Name, len(args))
	}
	id, err := tenant.ParseID(args[0])
	if err != nil {
		return "", invalidInput(err)
	}
	return id, nil
}

// desiredSpec builds the tenant spec from the command's flags; a flag not
// given takes the tenant's recorded value (rec; nil for a new tenant or
// offline), else the config's or the built-in default. A changed value is
// reported by up and plan; a changed profile is refused by them.
func desiredSpec(c *ucli.Context, id tenant.ID, cfg config.Config, rec *tenant.Record) (tenant.Spec, error) {
	in := tenant.SpecInput{ID: id.String(), Plan: string(tenant.PlanSmall), Profile: string(cfg.Profile)}
	if rec != nil {
		r := rec.Input()
		for _, f := range []struct {
			dst *string
			v   string
		}{
			{&in.Name, r.Name}, {&in.Host, r.Host}, {&in.Plan, r.Plan}, {&in.Profile, r.Profile},
		} {
			if f.v != "" {
				*f.dst = f.v
			}
		}
	}
	in.BaseDomain = cfg.BaseDomain
	for _, f := range []struct {
		flag string
		dst  *string
	}{{"name", &in.Name}, {"host", &in.Host}, {"plan", &in.Plan}, {"profile", &in.Profile}} {
		if c.IsSet(f.flag) && c.String(f.flag) != "" {
			*f.dst = c.String(f.flag)
		}
	}
	spec, err := tenant.NewSpec(in)
	if err != nil {
		return spec, invalidInput(err)
	}
	return spec, nil
}

// target is what a command acting on one tenant starts from.
type target struct {
	id   tenant.ID
	spec tenant.Spec // zero unless asked for
	cfg  config.Config
	env  provision.Env
}

// prepare parses the tenant id (and, with withSpec, the desired spec), loads
// the config and connects the adapters, reporting progress to sink.
func (a *app) prepare(c *ucli.Context, withSpec bool, sink provision.Sink) (target, error) {
	var t target
	var err error
	if t.id, err = oneTenant(c); err != nil {
		return t, err
	}
	if t.cfg, err = loadConfig(a.opts.ConfigFile); err != nil {
		return t, err
	}
	if withSpec {
		// Bad flags are refused before anything is contacted.
		if _, err := desiredSpec(c, t.id, t.cfg, nil); err != nil {
			return t, err
		}
	}
	if t.env, err = a.provisionEnv(c, t.cfg, sink); err != nil || !withSpec {
		return t, err
	}
	rec, err := t.env.Consul.ReadRecord(c.Context, tenant.NamesFor(t.id).KVPrefix)
	if err != nil {
		if perr := t.env.Consul.Preflight(c.Context); perr != nil {
			return t, perr
		}
		return t, err
	}
	t.spec, err = desiredSpec(c, t.id, t.cfg, rec)
	return t, err
}

func (a *app) progressFor(c *ucli.Context) *progress {
	return newProgress(a.progressWriter(c), wantJSON(c), isTerminal(a.Stderr), a.color(a.Stderr))
}

// progressWriter: JSON events go to stdout (they are the result stream);
// human progress goes to stderr.
func (a *app) progressWriter(c *ucli.Context) io.Writer {
	if wantJSON(c) {
		return a.Stdout
	}
	return a.Stderr
}

// finish prints a report's outcome for commands without their own summary.
func (a *app) finish(c *ucli.Context, id tenant.ID, rep provision.Report, err error, verb string) error {
	if wantJSON(c) {
		return a.jsonResult(rep, err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.Stdout, "%s: %s (%s)\n", id, verb, round(rep.Duration))
	return nil
}

// tenantCommand is a command that acts on one tenant:
// `tenantctl <name> <tenant> [flags]`.
func tenantCommand(name, usage, description string, flags []ucli.Flag, action ucli.ActionFunc) *ucli.Command {
	return &ucli.Command{Name: name, Usage: usage, ArgsUsage: "<tenant>", Description: description, Flags: flags, Action: action,
		// Flags after the tenant id (`up acme --json`) must be applied before
		// the action looks at any of them, e.g. to choose the output format.
		Before: func(c *ucli.Context) error {
			_, err := interspersedFlags(c)
			return err
		}}
}

// timeoutFlag is --timeout, ten minutes unless given; usage says what it bounds.
func timeoutFlag(usage string) ucli.Flag {
	return &ucli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, Usage: usage}
}

// holder names this process, running c's command on tenant id, in the
// tenant's lock.
func holder(c *ucli.Context, id tenant.ID) consul.Holder {
	return consul.CurrentHolder(c.Command.Name+" "+id.String(), time.Now())
}
