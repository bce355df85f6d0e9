package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/fleet"
	"github.com/tenantctl/tenantctl/internal/jobspec"
	"github.com/tenantctl/tenantctl/jobspecs"
)

// fileFlag is -f/--file, the fleet file (tenants.hcl) of render, plan, apply
// and list.
func fileFlag(usage string) ucli.Flag {
	return &ucli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: usage}
}

// loadFleet loads the project config and the fleet file named by --file;
// every problem with either is a usage error naming the file, line and
// setting.
func loadFleet(c *ucli.Context, configFile string) (config.Config, *fleet.File, error) {
	cfg, err := loadConfig(configFile)
	if err != nil {
		return cfg, nil, err
	}
	path := c.String("file")
	f, err := fleet.Load(path, cfg)
	var ce *config.Error
	switch {
	case errors.As(err, &ce):
		return cfg, nil, exit.UsageError("set it like: "+ce.Example+" (docs/fleet.md describes the file)", "%s", ce.Error())
	case errors.Is(err, fs.ErrNotExist):
		return cfg, nil, exit.Wrap(err, exit.Usage, "pass an existing fleet file with -f, such as tenants.hcl (docs/fleet.md)")
	case err != nil:
		return cfg, nil, exit.Wrap(err, exit.Usage, "pass a readable fleet file with -f")
	}
	return cfg, f, nil
}

// noTenantWithFile refuses a tenant id next to -f: the file names the
// tenants.
func noTenantWithFile(c *ucli.Context) error {
	args, err := interspersedFlags(c)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		return exit.UsageError(fmt.Sprintf("tenantctl %s -f %s (without a tenant id)", c.Command.Name, c.String("file")),
			"%s -f takes its tenants from the file; got the argument %q too", c.Command.Name, args[0])
	}
	return nil
}

// renderFleet is `render -f tenants.hcl --out DIR`: every tenant's files in
// DIR/<tenant>/, offline.
func (a *app) renderFleet(c *ucli.Context) error {
	if err := noTenantWithFile(c); err != nil {
		return err
	}
	for _, fl := range []string{"name", "host", "plan", "profile", "var"} {
		if c.IsSet(fl) {
			return exit.UsageError("set it in the fleet file's tenant block (docs/fleet.md)", "render -f does not take --%s", fl)
		}
	}
	cfg, f, err := loadFleet(c, a.opts.ConfigFile)
	if err != nil {
		return err
	}
	fsys, err := dirOrEmbedded(c, "jobspecs-dir", jobspecs.FS)
	if err != nil {
		return err
	}
	out := c.String("out")
	if out == "" {
		out = "rendered"
	}
	// Render every tenant before writing any, so a bad value writes nothing.
	type tenantFiles struct {
		dir   string
		files []renderedFile
	}
	var all []tenantFiles
	for _, spec := range f.Tenants {
		jobs, err := jobspec.Render(fsys, cfg, spec)
		if err != nil {
			return exit.Wrap(fmt.Errorf("tenant %s: %w", spec.ID, err), exit.Usage, "check the tenant's block in "+f.Path)
		}
		tf := tenantFiles{dir: filepath.Join(out, spec.ID.String())}
		for _, j := range jobs {
			tf.files = append(tf.files, renderedFile{name: j.File, data: j.Source})
		}
		tf.files = append(tf.files, renderedFile{name: jobspec.VarFileName(spec.ID), data: []byte(jobs[0].Vars)})
		all = append(all, tf)
	}
	type written struct {
		Tenant string   `json:"tenant"`
		Dir    string   `json:"dir"`
		Files  []string `json:"files"`
	}
	var manifest []written
	for i, tf := range all {
		if err := writeFiles(tf.dir, tf.files); err != nil {
			return err
		}
		w := written{Tenant: f.Tenants[i].ID.String(), Dir: tf.dir}
		for _, file := range tf.files {
			w.Files = append(w.Files, filepath.Join(tf.dir, file.name))
		}
		manifest = append(manifest, w)
	}
	if wantJSON(c) {
		return writeJSON(a.Stdout, manifest)
	}
	for _, w := range manifest {
		fmt.Fprintf(a.Stdout, "%s\t%s (%d files)\n", w.Tenant, w.Dir, len(w.Files))
	}
	return nil
}

// planFleet is `plan -f tenants.hcl`: per tenant create, change (which jobs,
// in place or destructive) or untouched; exit 3 when anything would change.
func (a *app) planFleet(c *ucli.Context) error {
	if err := noTenantWithFile(c); err != nil {
		return err
	}
	cfg, f, err := loadFleet(c, a.opts.ConfigFile)
	if err != nil {
		return err
	}
	env, err := a.provisionEnv(c, cfg, nil)
	if err != nil {
		return err
	}
	if _, err := env.Nomad.Preflight(c.Context); err != nil {
		return err
	}
	res, err := fleet.Plan(c.Context, env, f)
	if err != nil {
		return err
	}
	if wantJSON(c) {
		if err := writeJSON(a.Stdout, res); err != nil {
			return err
		}
	} else {
		w := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "TENANT\tACTION\tAPP\tJOBS")
		for _, t := range res.Tenants {
			var jobs []string
			for _, j := range t.Jobs {
				jobs = append(jobs, fmt.Sprintf("%s (%s, %s)", j.Job, strings.ToLower(j.Diff), j.Update))
			}
			detail := strings.Join(jobs, ", ")
			if t.Action == fleet.ActionCreate {
				detail = fmt.Sprintf("%d new jobs", len(t.Jobs))
			}
			if t.Reason != "" {
				detail = strings.TrimPrefix(detail+"; "+t.Reason, "; ")
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.Tenant, t.Action, dash(t.AppVersion), dash(detail))
		}
		_ = w.Flush()
	}
	if res.Changed() {
		return &exit.Error{Code: exit.Changes, Err: fmt.Errorf("the fleet in %s has changes to apply", f.Path),
			Hint: fmt.Sprintf("tenantctl apply -f %s", f.Path)}
	}
	return nil
}
