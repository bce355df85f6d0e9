package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

func (a *app) statusCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "status",
		Usage:     "show a tenant's record, jobs, allocations, deployments, service health and credential leases (all tenants without an id)",
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
		return writeJSON(a.Stdout, st)
	}
	r := st.Record
	fmt.Fprintf(a.Stdout, "tenant %s (%s)  host %s  plan %s  profile %s\n", r.Tenant, r.Name, r.Host, r.Plan, r.Profile)
	fmt.Fprintf(a.Stdout, "status %s  last apply %s  spec %s\n", r.Status, r.LastApply.Format(time.RFC3339), r.SpecVersion)
	if r.Error != "" {
		fmt.Fprintf(a.Stdout, "last error at step %s: %s\n", r.LastStep, r.Error)
	}
	w := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nJOB\tSTATUS\tVERSION\tALLOCS\tDEPLOYMENT\tUI")
	for _, k := range slices.Sorted(maps.Keys(st.Jobs)) {
		j := st.Jobs[k]
		status := j.Status
		if !j.Found {
			status = "absent"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\n", k, status, j.Version, allocSummary(j.ByClientStatus), dash(j.Deployment), st.Links[k])
	}
	fmt.Fprintln(w, "\nSERVICE\tINSTANCES\tPASSING")
	for _, k := range slices.Sorted(maps.Keys(st.Services)) {
		fmt.Fprintf(w, "%s\t%d\t%d\n", k, len(st.Services[k]), len(consul.Passing(st.Services[k])))
	}
	fmt.Fprintln(w, "\nCREDENTIAL\tLEASE\tISSUED\tEXPIRES")
	for _, l := range st.Leases {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", l.Role, l.Lease, l.Issued.Format(time.RFC3339), l.Expires.Format(time.RFC3339))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if st.LeasesError != "" {
		fmt.Fprintf(a.Stdout, "credential leases unknown: %s\n", st.LeasesError)
	}
	if b := st.LastBackup; b != nil {
		fmt.Fprintf(a.Stdout, "last backup %s  %s  %s  (%d in all; `tenantctl backups list %s`)\n",
			b.ID, b.Created.Format(time.RFC3339), tenant.HumanSize(b.Size()), st.Backups, id)
	} else {
		fmt.Fprintf(a.Stdout, "no backups yet (`tenantctl backup %s` takes one)\n", id)
	}
	return nil
}

// allocSummary is "2 running, 1 failed" for a job's allocation counts.
func allocSummary(by map[string]int) string {
	if len(by) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(by)) {
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
