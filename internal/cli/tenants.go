package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
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
		&ucli.StringFlag{Name: "name", Usage: "display name of the tenant (default: the tenant id)"},
		&ucli.StringFlag{Name: "host", Usage: "public host (default <tenant>.<base_domain>)"},
		&ucli.StringFlag{Name: "plan", Value: string(tenant.PlanSmall), Usage: "plan: small, medium or large"},
		&ucli.StringFlag{Name: "profile", Usage: "runtime profile: docker or exec (default: the config's profile)"},
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

// desiredSpec builds the tenant spec from the command's flags and config.
func desiredSpec(c *ucli.Context, id tenant.ID, cfg config.Config) (tenant.Spec, error) {
	profile := c.String("profile")
	if profile == "" {
		profile = string(cfg.Profile)
	}
	spec, err := tenant.NewSpec(tenant.SpecInput{
		ID: id.String(), Name: c.String("name"), Host: c.String("host"), BaseDomain: cfg.BaseDomain,
		Plan: c.String("plan"), Profile: profile,
	})
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
		if t.spec, err = desiredSpec(c, t.id, t.cfg); err != nil {
			return t, err
		}
	}
	t.env, err = a.provisionEnv(c, t.cfg, sink)
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

func (a *app) upCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "up",
		Usage:     "create or converge a tenant: namespace, Vault, data services, migrations, app, routing",
		ArgsUsage: "<tenant>",
		Description: "Converges the tenant in order and returns when it is healthy and routable. Re-running it on a\n" +
			"converged tenant writes nothing and says \"no changes\"; after a failure or an interrupt it picks up\n" +
			"where it stopped. With --json it prints one JSON event per line, then the result.",
		Flags: append(append(append(specFlags(), lockFlags()...), dirFlags()...),
			&ucli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, Usage: "deadline of each wait (deployments, migrations, routing)"},
			&ucli.BoolFlag{Name: "detach", Usage: "return once the app and worker are registered, without waiting for them"},
			jsonFlag()),
		Action: a.up,
	}
}

func (a *app) up(c *ucli.Context) error {
	t, err := a.prepare(c, true, a.progressFor(c))
	if err != nil {
		return err
	}
	id, spec, env := t.id, t.spec, t.env
	res, err := provision.Up(c.Context, env, provision.UpOptions{
		Spec: spec, Timeout: c.Duration("timeout"), LockTimeout: c.Duration("lock-timeout"),
		Detach: c.Bool("detach"), Holder: consul.CurrentHolder("up "+id.String(), time.Now()),
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
	a.printSummary(spec, res.Links)
	return nil
}

func (a *app) printSummary(spec tenant.Spec, links map[string]string) {
	w := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "  host\t%s\n", spec.Host)
	fmt.Fprintf(w, "  namespace\t%s\n", spec.Names().Namespace)
	names := make([]string, 0, len(links))
	for k := range links {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(w, "  %s\t%s\n", k, links[k])
	}
	_ = w.Flush()
}

// jsonResult prints a command's result and error as one JSON object and
// returns err, so the exit code still tells what happened.
func (a *app) jsonResult(result any, err error) error {
	if jerr := json.NewEncoder(a.Stdout).Encode(map[string]any{"result": result, "error": errString(err)}); jerr != nil {
		return jerr
	}
	return err
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (a *app) downCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "down",
		Usage:     "remove a tenant: jobs, Vault objects, Consul record, namespace (data only with --purge-data)",
		ArgsUsage: "<tenant>",
		Description: "Removes the tenant in the reverse order of up. Asks for confirmation on a terminal; elsewhere it\n" +
			"refuses without --yes. The data volumes stay unless --purge-data is given.",
		Flags: append(lockFlags(),
			&ucli.BoolFlag{Name: "purge-data", Usage: "also delete the tenant's Postgres and Redis data volumes"},
			&ucli.BoolFlag{Name: "yes", Usage: "do not ask for confirmation"},
			&ucli.StringFlag{Name: "profile", Usage: "the tenant's profile, for --purge-data (default: from its record, else the config's)"},
			jsonFlag()),
		Action: a.down,
	}
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
	profile := tenant.Profile(c.String("profile"))
	if profile == "" {
		profile = cfg.Profile
		if rec, err := env.Consul.ReadRecord(c.Context, tenant.NamesFor(id).KVPrefix); err == nil && rec != nil && rec.Profile != "" {
			profile = tenant.Profile(rec.Profile)
		}
	}
	rep, err := provision.Down(c.Context, env, provision.DownOptions{
		ID: id, Profile: profile, PurgeData: c.Bool("purge-data"), LockTimeout: c.Duration("lock-timeout"),
		Holder: consul.CurrentHolder("down "+id.String(), time.Now()),
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

func (a *app) planCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "plan",
		Usage:     "show what up would change in each of a tenant's jobs (exit 0: none, 3: changes)",
		ArgsUsage: "<tenant>",
		Flags:     append(append(specFlags(), dirFlags()...), jsonFlag()),
		Action:    a.plan,
	}
}

func (a *app) plan(c *ucli.Context) error {
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
		if err := json.NewEncoder(a.Stdout).Encode(res); err != nil {
			return err
		}
	} else {
		w := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "JOB\tDIFF\tPLACE\tIN-PLACE\tDESTRUCTIVE\tSTOP")
		ids := make([]string, 0, len(res.Jobs))
		for k := range res.Jobs {
			ids = append(ids, k)
		}
		sort.Strings(ids)
		for _, k := range ids {
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

func (a *app) statusCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "status",
		Usage:     "show a tenant's record, jobs, allocations, deployments and service health (all tenants without an id)",
		ArgsUsage: "[tenant]",
		Flags:     []ucli.Flag{jsonFlag()},
		Action: func(c *ucli.Context) error {
			args, err := interspersedFlags(c)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				return a.list(c)
			}
			return a.status(c)
		},
	}
}

func (a *app) status(c *ucli.Context) error {
	t, err := a.prepare(c, false, nil)
	if err != nil {
		return err
	}
	id, env := t.id, t.env
	st, err := provision.Status(c.Context, env, id)
	if err != nil {
		return err
	}
	if wantJSON(c) {
		return json.NewEncoder(a.Stdout).Encode(st)
	}
	r := st.Record
	fmt.Fprintf(a.Stdout, "tenant %s (%s)  host %s  plan %s  profile %s\n", r.Tenant, r.Name, r.Host, r.Plan, r.Profile)
	fmt.Fprintf(a.Stdout, "status %s  last apply %s  spec %s\n", r.Status, r.LastApply.Format(time.RFC3339), r.SpecVersion)
	if r.Error != "" {
		fmt.Fprintf(a.Stdout, "last error at step %s: %s\n", r.LastStep, r.Error)
	}
	w := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nJOB\tSTATUS\tVERSION\tALLOCS\tDEPLOYMENT\tUI")
	jobs := make([]string, 0, len(st.Jobs))
	for k := range st.Jobs {
		jobs = append(jobs, k)
	}
	sort.Strings(jobs)
	for _, k := range jobs {
		j := st.Jobs[k]
		status := j.Status
		if !j.Found {
			status = "absent"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\n", k, status, j.Version, allocSummary(j.ByClientStatus), dash(j.Deployment), st.Links[k])
	}
	fmt.Fprintln(w, "\nSERVICE\tINSTANCES\tPASSING")
	svcs := make([]string, 0, len(st.Services))
	for k := range st.Services {
		svcs = append(svcs, k)
	}
	sort.Strings(svcs)
	for _, k := range svcs {
		fmt.Fprintf(w, "%s\t%d\t%d\n", k, len(st.Services[k]), len(consul.Passing(st.Services[k])))
	}
	return w.Flush()
}

func (a *app) listCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "list",
		Usage:  "list tenants with their status",
		Flags:  []ucli.Flag{jsonFlag()},
		Action: a.list,
	}
}

func (a *app) list(c *ucli.Context) error {
	cfg, err := loadConfig(a.opts.ConfigFile)
	if err != nil {
		return err
	}
	env, err := a.provisionEnv(c, cfg, nil)
	if err != nil {
		return err
	}
	recs, err := provision.List(c.Context, env)
	if err != nil {
		return exit.Because(err, exit.Unreachable, consul.CauseUnreachable)
	}
	if wantJSON(c) {
		if recs == nil {
			recs = []tenant.Record{}
		}
		return json.NewEncoder(a.Stdout).Encode(recs)
	}
	w := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TENANT\tNAME\tHOST\tPLAN\tPROFILE\tSTATUS\tLAST APPLY")
	for _, r := range recs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Tenant, r.Name, r.Host, r.Plan, r.Profile, r.Status, r.LastApply.Format(time.RFC3339))
	}
	return w.Flush()
}

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

// allocSummary is "2 running, 1 failed" for a job's allocation counts.
func allocSummary(by map[string]int) string {
	if len(by) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", by[k], k))
	}
	return strings.Join(parts, ", ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
