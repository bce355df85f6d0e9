package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"
)

// globalOptions are the flags every command shares. Precedence is
// flag > environment > config file > default; the environment variables are
// the ones the Nomad, Consul and Vault CLIs already use.
type globalOptions struct {
	NomadAddr   string
	NomadToken  string
	NomadRegion string
	ConsulAddr  string
	ConsulToken string
	VaultAddr   string
	VaultToken  string
	ConfigFile  string
	JSON        bool
	LogLevel    string
	NoColor     bool
}

// envFlag binds a global flag to an environment variable.
type envFlag struct {
	flag, env string
	secret    bool
}

var envFlags = []envFlag{
	{flag: "nomad-addr", env: "NOMAD_ADDR"},
	{flag: "nomad-token", env: "NOMAD_TOKEN", secret: true},
	{flag: "nomad-region", env: "NOMAD_REGION"},
	{flag: "consul-addr", env: "CONSUL_HTTP_ADDR"},
	{flag: "consul-token", env: "CONSUL_HTTP_TOKEN", secret: true},
	{flag: "vault-addr", env: "VAULT_ADDR"},
	{flag: "vault-token", env: "VAULT_TOKEN", secret: true},
	{flag: "config", env: "TENANTCTL_CONFIG"},
	{flag: "log-level", env: "TENANTCTL_LOG_LEVEL"},
}

func (a *app) globalFlags() []ucli.Flag {
	str := func(name, value, usage string, dest *string) *ucli.StringFlag {
		for _, e := range envFlags {
			if e.flag == name {
				usage = fmt.Sprintf("%s (env %s)", usage, e.env)
			}
		}
		return &ucli.StringFlag{Name: name, Value: value, Usage: usage, Destination: dest}
	}
	o := &a.opts
	return []ucli.Flag{
		str("nomad-addr", "http://127.0.0.1:4646", "Nomad HTTP API address", &o.NomadAddr),
		str("nomad-token", "", "Nomad ACL token", &o.NomadToken),
		str("nomad-region", "", "Nomad region", &o.NomadRegion),
		str("consul-addr", "127.0.0.1:8500", "Consul HTTP API address", &o.ConsulAddr),
		str("consul-token", "", "Consul ACL token", &o.ConsulToken),
		str("vault-addr", "https://127.0.0.1:8200", "Vault address", &o.VaultAddr),
		str("vault-token", "", "Vault token", &o.VaultToken),
		str("config", "", "project config file (default ./tenantctl.hcl when present)", &o.ConfigFile),
		str("log-level", "warn", "log level on stderr: debug, info, warn, error", &o.LogLevel),
		&ucli.BoolFlag{Name: "json", Usage: "machine-readable output on stdout", Destination: &o.JSON},
		&ucli.BoolFlag{Name: "no-color", Usage: "disable colour (also NO_COLOR)", Destination: &o.NoColor},
	}
}

// load fills flags that were not given on the command line from the
// environment.
func (o *globalOptions) load(c *ucli.Context, getenv func(string) string) error {
	for _, e := range envFlags {
		if c.IsSet(e.flag) {
			continue
		}
		if v := getenv(e.env); v != "" {
			if err := c.Set(e.flag, v); err != nil {
				return fmt.Errorf("read %s: %w", e.env, err)
			}
		}
	}
	return nil
}
