package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/jobspec"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/jobspecs"
)

// renderManifest is what `render --json` prints.
type renderManifest struct {
	Tenant  string              `json:"tenant"`
	Name    string              `json:"name"`
	Host    string              `json:"host"`
	Plan    string              `json:"plan"`
	Profile string              `json:"profile"`
	OutDir  string              `json:"out_dir"`
	VarFile string              `json:"var_file"`
	Jobs    []renderManifestJob `json:"jobs"`
}

type renderManifestJob struct {
	Name   string `json:"name"`
	JobID  string `json:"job_id"`
	File   string `json:"file"`
	Source string `json:"source"`
}

func (a *app) renderCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "render",
		Usage:     "write a tenant's Nomad jobspecs and var file, offline",
		ArgsUsage: "<tenant>",
		Description: "Writes the tenant's jobspecs (postgres, redis, migrate, app, worker) and one var file to --out,\n" +
			"without contacting any cluster. Each job then runs by hand exactly as `tenantctl up` submits it:\n\n" +
			"   nomad job run -var-file=<tenant>.vars.hcl postgres.nomad.hcl\n\n" +
			"Every input is validated before anything is written. See docs/jobspecs.md.",
		Flags: append(specFlags(),
			&ucli.StringFlag{Name: "out", Usage: "directory to write to (default rendered/<tenant>)"},
			&ucli.StringSliceFlag{Name: "var", Usage: "override a variable, as path=value (e.g. resources.app_count=3); repeatable"},
			jobspecsDirFlag(),
			&ucli.BoolFlag{Name: "json", Usage: "print a JSON manifest of what was written"},
			fileFlag("render every tenant of this fleet file (tenants.hcl) into --out/<tenant>/"),
		),
		Action: a.render,
	}
}

func (a *app) render(c *ucli.Context) error {
	args, err := interspersedFlags(c)
	if err != nil {
		return err
	}
	if c.String("file") != "" {
		return a.renderFleet(c)
	}
	if len(args) != 1 {
		return exit.UsageError("tenantctl render acme-corp --out ./rendered/acme-corp",
			"render needs exactly one tenant id, got %d arguments", len(args))
	}
	cfg, err := loadConfig(a.opts.ConfigFile)
	if err != nil {
		return err
	}
	id, err := tenant.ParseID(args[0])
	if err != nil {
		return invalidInput(err)
	}
	spec, err := desiredSpec(c, id, cfg, nil) // offline: no record
	if err != nil {
		return err
	}
	if c.IsSet("name") && c.String("name") == "" {
		return invalidInput(&tenant.InvalidError{What: "display name", Reason: "it is empty",
			Example: fmt.Sprintf("%q, or leave out --name to use the tenant id", tenant.ExampleName)})
	}

	fsys, err := dirOrEmbedded(c, "jobspecs-dir", jobspecs.FS)
	if err != nil {
		return err
	}
	r, err := jobspec.NewRenderer(fsys, spec.Profile)
	if err != nil {
		if c.IsSet("jobspecs-dir") {
			return exit.Wrap(err, exit.Usage, "copy the missing jobspec into --jobspecs-dir (the built-in ones are in jobspecs/)")
		}
		return err
	}
	vals := jobspec.ValuesFor(cfg, spec)
	for _, kv := range c.StringSlice("var") {
		path, raw, ok := strings.Cut(kv, "=")
		if !ok {
			return exit.UsageError("--var resources.app_count=3", "--var %q is not path=value", kv)
		}
		if err := vals.Set(path, raw); err != nil {
			return invalidInput(err)
		}
	}
	jobs, err := r.RenderValues(spec, vals)
	if err != nil {
		return invalidInput(err)
	}

	out := c.String("out")
	if out == "" {
		out = filepath.Join("rendered", spec.ID.String())
	}
	files := make([]renderedFile, 0, len(jobs)+1)
	for _, j := range jobs {
		files = append(files, renderedFile{name: j.File, data: j.Source})
	}
	varFile := jobspec.VarFileName(spec.ID)
	files = append(files, renderedFile{name: varFile, data: []byte(jobs[0].Vars)})
	if err := writeFiles(out, files); err != nil {
		return err
	}
	a.log.Info("rendered tenant", "tenant", spec.ID.String(), "profile", string(spec.Profile), "dir", out)

	if wantJSON(c) {
		m := renderManifest{
			Tenant: spec.ID.String(), Name: spec.Name.String(), Host: spec.Host.String(), Plan: string(spec.Plan),
			Profile: string(spec.Profile), OutDir: out, VarFile: filepath.Join(out, varFile),
		}
		for _, j := range jobs {
			m.Jobs = append(m.Jobs, renderManifestJob{Name: j.Name, JobID: j.JobID, File: filepath.Join(out, j.File), Source: j.SourceFile})
		}
		return writeJSON(a.Stdout, m)
	}
	for _, f := range files {
		fmt.Fprintln(a.Stdout, filepath.Join(out, f.name))
	}
	return nil
}

// interspersedFlags applies the flags that follow the positional arguments
// (urfave/cli v2 stops parsing flags at the first argument, but
// `tenantctl render acme --out dir` is the documented form) and returns the
// positional arguments.
func interspersedFlags(c *ucli.Context) ([]string, error) {
	bools := map[string]bool{}
	known := map[string]string{} // name or alias → the flag's name
	for _, f := range c.Command.Flags {
		_, isBool := f.(*ucli.BoolFlag)
		for _, n := range f.Names() {
			known[n], bools[n] = f.Names()[0], isBool
		}
	}
	var pos []string
	rest := c.Args().Slice()
	for i := 0; i < len(rest); i++ {
		tok := rest[i]
		if tok == "--" {
			pos = append(pos, rest[i+1:]...)
			break
		}
		if !strings.HasPrefix(tok, "-") || tok == "-" {
			pos = append(pos, tok)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(tok, "-"), "=")
		if known[name] == "" {
			return nil, exit.UsageError(fmt.Sprintf("run `tenantctl %s --help`", c.Command.Name), "%s: unknown flag %q", c.Command.Name, tok)
		}
		switch {
		case bools[name] && !hasValue:
			value = "true"
		case !hasValue:
			if i+1 >= len(rest) {
				return nil, exit.UsageError(fmt.Sprintf("run `tenantctl %s --help`", c.Command.Name), "%s: flag %s needs a value", c.Command.Name, tok)
			}
			i++
			value = rest[i]
		}
		if err := c.Set(known[name], value); err != nil {
			return nil, exit.UsageError(fmt.Sprintf("run `tenantctl %s --help`", c.Command.Name), "%s: flag %s: %v", c.Command.Name, tok, err)
		}
	}
	return pos, nil
}

// loadConfig loads the project config; every problem with it is a usage
// error naming the setting and a valid example.
func loadConfig(path string) (config.Config, error) {
	cfg, err := config.Load(path)
	var ce *config.Error
	switch {
	case errors.As(err, &ce):
		return cfg, exit.UsageError("set it like: "+ce.Example, "%s", ce.Error())
	case err != nil:
		return cfg, exit.Wrap(err, exit.Usage, "pass an existing file with --config, or leave it out to use ./tenantctl.hcl or the defaults")
	}
	return cfg, nil
}

// invalidInput turns a validation error into a usage error whose remedy
// shows a valid value.
func invalidInput(err error) error {
	var ie *tenant.InvalidError
	if errors.As(err, &ie) {
		return exit.UsageError("use a valid "+ie.What+" such as "+ie.Example, "%s", ie.Error())
	}
	var se *jobspec.SetError
	if errors.As(err, &se) {
		return exit.UsageError(se.Example, "%s", se.Error())
	}
	return exit.Wrap(err, exit.Usage, "run `tenantctl render --help`")
}

type renderedFile struct {
	name string
	data []byte
}

// writeFiles writes each file into dir atomically (a temporary file in dir,
// then a rename), creating dir when needed.
func writeFiles(dir string, files []renderedFile) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("render: create %s: %w", dir, err)
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data); err != nil {
			return err
		}
	}
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	// The temporary name is unique per process; O_EXCL refuses a leftover.
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp"+strconv.Itoa(os.Getpid()))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("render: write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("render: write %s: %w", path, err)
	}
	return nil
}
