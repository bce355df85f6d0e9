package cli

import (
	"fmt"
	"io/fs"
	"os"

	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/nomad"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/jobspecs"
	"github.com/tenantctl/tenantctl/migrations"
)

// dirFlags let an operator override the embedded jobspecs and migrations.
func dirFlags() []ucli.Flag {
	return []ucli.Flag{
		jobspecsDirFlag(),
		&ucli.StringFlag{Name: "migrations-dir", Usage: "read migrations from this directory instead of the built-in ones"},
	}
}

func jobspecsDirFlag() ucli.Flag {
	return &ucli.StringFlag{Name: "jobspecs-dir", Usage: "read jobspecs from this directory instead of the built-in ones"}
}

// dirContents says what the directory of a directory flag holds, for the
// remedy of a bad one.
func dirContents(flag string) string {
	if flag == "jobspecs-dir" {
		return "<job>.<profile>.nomad.hcl files"
	}
	return "NNNNN_description.sql files" // --migrations-dir; db's --dir
}

// dirOrEmbedded is the one "directory or embedded" rule: the files of the
// directory the flag names, or the embedded ones when it is not given. A flag
// that names no directory is a usage error.
func dirOrEmbedded(c *ucli.Context, flag string, embedded fs.FS) (fs.FS, error) {
	dir := c.String(flag)
	if dir == "" {
		return embedded, nil
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, exit.UsageError(fmt.Sprintf("pass a directory holding %s, or leave out --%s to use the built-in ones", dirContents(flag), flag),
			"--%s %q is not a directory", flag, dir)
	}
	return os.DirFS(dir), nil
}

// provisionEnv builds the clients and settings a provisioning command needs.
func (a *app) provisionEnv(c *ucli.Context, cfg config.Config, sink provision.Sink) (provision.Env, error) {
	jobspecFS, err := dirOrEmbedded(c, "jobspecs-dir", jobspecs.FS)
	if err != nil {
		return provision.Env{}, err
	}
	migrationFS, err := dirOrEmbedded(c, "migrations-dir", migrations.FS)
	if err != nil {
		return provision.Env{}, err
	}
	nc, err := nomad.New(nomad.Config{Address: a.opts.NomadAddr, Token: a.opts.NomadToken, Region: a.opts.NomadRegion, Logger: a.log})
	if err != nil {
		return provision.Env{}, exit.Wrap(err, exit.Usage, "check --nomad-addr (NOMAD_ADDR)")
	}
	cc, err := consul.New(consul.Config{Address: a.opts.ConsulAddr, Token: a.opts.ConsulToken, Logger: a.log})
	if err != nil {
		return provision.Env{}, exit.Wrap(err, exit.Usage, "check --consul-addr (CONSUL_HTTP_ADDR)")
	}
	vc, err := a.vaultAdapter(cfg)
	if err != nil {
		return provision.Env{}, err
	}
	return provision.Env{
		Nomad: nc,
		Vault: vc,
		// The converged check runs the same Vault adapter in its read-only
		// mode.
		VaultCheck: vc.ReadOnly(),
		Consul:     cc,
		Config:     cfg,
		Jobspecs:   jobspecFS,
		Migrations: migrationFS,
		Sink:       sink,
		Remedy:     withRemedy,
		Logger:     a.log,
	}, nil
}
