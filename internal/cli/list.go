package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/fleet"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

func (a *app) listCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "list",
		Usage: "list tenants: status, app version, spec digest, last apply, health and drift",
		Description: "One line per tenant on the cluster. DRIFT says whether the tenant differs from what this\n" +
			"tenantctl would render for it now (\"tenantctl\": another version, config or jobspecs applied it) and,\n" +
			"with -f, from the fleet file (\"file\"; \"orphaned\": not in the file; \"absent\": in the file, not on the\n" +
			"cluster). \"-\" means no drift.",
		Flags:  append([]ucli.Flag{jsonFlag(), fileFlag("compare each tenant with this fleet file (tenants.hcl)")}, dirFlags()...),
		Action: a.list,
	}
}

// listEntry is one line of list: the record, its health and its drift.
type listEntry struct {
	tenant.Record
	// Health is "healthy", or why not ("service acme--app has no passing
	// instance"); "absent" for a tenant of the file that is not on the
	// cluster.
	Health string `json:"health"`
	// Drift lists how the tenant differs: "tenantctl" (this tenantctl
	// would render another desired state for its record), "file" (the
	// fleet file wants another one), "orphaned" (not in the file),
	// "absent" (in the file only). Empty: no drift.
	Drift []string `json:"drift"`
}

func (a *app) list(c *ucli.Context) error {
	var (
		cfg config.Config
		f   *fleet.File
		err error
	)
	if c.String("file") != "" {
		cfg, f, err = loadFleet(c, a.opts.ConfigFile)
	} else {
		cfg, err = loadConfig(a.opts.ConfigFile)
	}
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
	entries := []listEntry{}
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.Tenant] = true
		e := listEntry{Record: r, Drift: []string{}}
		if id, err := tenant.ParseID(r.Tenant); err == nil {
			why, err := provision.Health(c.Context, env, id)
			switch {
			case err != nil:
				e.Health = "unknown: " + firstLine(err.Error())
			case why == "":
				e.Health = "healthy"
			default:
				e.Health = why
			}
		}
		if spec, err := r.Spec(); err != nil {
			e.Drift = append(e.Drift, "tenantctl")
		} else if d, err := provision.Digest(env, spec); err != nil || d != r.SpecVersion {
			e.Drift = append(e.Drift, "tenantctl")
		}
		if f != nil {
			spec, ok := f.Spec(r.Tenant)
			switch {
			case !ok:
				e.Drift = append(e.Drift, "orphaned")
			default:
				d, err := provision.Digest(env, spec)
				if err != nil || d != r.SpecVersion || spec.App.Version != r.AppVersion {
					e.Drift = append(e.Drift, "file")
				}
			}
		}
		entries = append(entries, e)
	}
	if f != nil {
		for _, spec := range f.Tenants {
			if !seen[spec.ID.String()] {
				entries = append(entries, listEntry{Record: tenant.Record{Tenant: spec.ID.String(), Name: spec.Name.String(),
					Host: spec.Host.String(), Plan: string(spec.Plan), Profile: string(spec.Profile), AppVersion: spec.App.Version},
					Health: "absent", Drift: []string{"absent"}})
			}
		}
	}
	if wantJSON(c) {
		return writeJSON(a.Stdout, entries)
	}
	w := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TENANT\tSTATUS\tAPP\tSPEC\tLAST APPLY\tHEALTH\tDRIFT\tHOST\tPLAN")
	for _, e := range entries {
		last := "-"
		if !e.LastApply.IsZero() {
			last = e.LastApply.Format(time.RFC3339)
		}
		drift := "-"
		if len(e.Drift) > 0 {
			drift = strings.Join(e.Drift, ",")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Tenant, dash(string(e.Status)), dash(e.AppVersion), dash(e.SpecVersion),
			last, e.Health, drift, e.Host, e.Plan)
	}
	return w.Flush()
}
