package cli

import (
	"fmt"
	"strings"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/vault"
)

// clusterInitResult is what `cluster init --json` prints.
type clusterInitResult struct {
	DryRun  bool           `json:"dry_run"`
	Changes []vault.Change `json:"changes"`
}

func (a *app) clusterCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "cluster",
		Usage: "one-time, cluster-wide setup",
		Subcommands: []*ucli.Command{{
			Name:  "init",
			Usage: "configure Vault for tenantctl: Nomad workload-identity auth, KV v2 and database mounts",
			Description: "Idempotently enables, at the paths of the project config (vault { … }):\n" +
				"   - a jwt auth mount (default jwt-nomad) trusting Nomad's workload identities\n" +
				"     (jwks_url = <nomad addr>/.well-known/jwks.json, RS256 and EdDSA);\n" +
				"   - a KV version 2 mount (default tenantctl) for tenants' bootstrap secrets;\n" +
				"   - a database secrets engine mount (default database).\n" +
				"Prints what it changed, or \"no changes\". Vault fetches the JWKS URL when it is configured,\n" +
				"so Nomad must be reachable from Vault. See docs/vault.md.",
			Flags: []ucli.Flag{
				&ucli.StringFlag{Name: "nomad-jwks-url", Usage: "Nomad's JWKS URL as Vault reaches it (default <nomad-addr>/.well-known/jwks.json)"},
				&ucli.StringFlag{Name: "default-role", Usage: "default role of the jwt auth mount (default none)"},
				&ucli.BoolFlag{Name: "dry-run", Usage: "print what would change and change nothing"},
				&ucli.BoolFlag{Name: "json", Usage: "print JSON"},
			},
			Action: a.clusterInit,
		}},
	}
}

func (a *app) clusterInit(c *ucli.Context) error {
	if c.Args().Present() {
		return exit.UsageError("tenantctl cluster init --dry-run", "cluster init takes no arguments, got %q", c.Args().First())
	}
	cfg, err := loadConfig(a.opts.ConfigFile)
	if err != nil {
		return err
	}
	jwks := c.String("nomad-jwks-url")
	if jwks == "" {
		jwks = strings.TrimRight(a.opts.NomadAddr, "/") + "/.well-known/jwks.json"
	}
	if !strings.HasPrefix(jwks, "http://") && !strings.HasPrefix(jwks, "https://") {
		return exit.UsageError("tenantctl cluster init --nomad-jwks-url https://nomad.example.com:4646/.well-known/jwks.json",
			"invalid JWKS URL %q: it must start with http:// or https://", jwks)
	}
	v, err := a.vaultAdapter(cfg)
	if err != nil {
		return err
	}
	dry := c.Bool("dry-run")
	changes, err := v.EnsureCluster(c.Context, vault.ClusterConfig{JWKSURL: jwks, DefaultRole: c.String("default-role")}, dry)
	if err != nil {
		return vaultError(err, a.opts.VaultAddr)
	}
	if wantJSON(c) {
		if changes == nil {
			changes = []vault.Change{}
		}
		return writeJSON(a.Stdout, clusterInitResult{DryRun: dry, Changes: changes})
	}
	if len(changes) == 0 {
		fmt.Fprintln(a.Stdout, "Vault: no changes")
		return nil
	}
	verb := ""
	if dry {
		verb = "would "
	}
	for _, ch := range changes {
		fmt.Fprintf(a.Stdout, "Vault: %s%s %s: %s\n", verb, ch.Action, ch.Object, ch.Detail)
	}
	if dry {
		fmt.Fprintf(a.Stdout, "dry run: %d changes not made\n", len(changes))
	}
	return nil
}

// vaultAdapter returns the Vault adapter for the global flags and the
// project config's mounts and TTLs.
func (a *app) vaultAdapter(cfg config.Config) (*vault.Client, error) {
	if a.opts.VaultToken == "" {
		return nil, exit.UsageError("set VAULT_TOKEN or pass --vault-token", "no Vault token")
	}
	vc := vaultapi.DefaultConfig()
	if vc.Error != nil {
		return nil, exit.Wrap(fmt.Errorf("vault: client config: %w", vc.Error), exit.Usage, "check the VAULT_* environment variables")
	}
	vc.Address = a.opts.VaultAddr
	api, err := vaultapi.NewClient(vc)
	if err != nil {
		return nil, exit.Wrap(fmt.Errorf("vault: client: %w", err), exit.Usage, "check --vault-addr (VAULT_ADDR)")
	}
	api.SetToken(a.opts.VaultToken)
	mounts := vault.Mounts{JWT: cfg.Vault.JWTAuthPath, KV: cfg.Vault.KVMount, Database: cfg.Vault.DatabaseMount}
	ttl := func(s string) time.Duration {
		d, _ := time.ParseDuration(s) // validated by config.Load
		return d
	}
	return vault.New(api, mounts, a.log).WithTTLs(vault.TTLs{
		CredsDefault: ttl(cfg.Vault.CredsTTL),
		CredsMax:     ttl(cfg.Vault.CredsMaxTTL),
		TokenPeriod:  ttl(cfg.Vault.TokenTTL),
	}), nil
}

// vaultError gives Vault errors an exit code and a remedy.
func vaultError(err error, addr string) error {
	switch {
	case exit.CodeOf(err) != exit.Failure:
		return err
	case vault.IsUnreachable(err):
		return exit.Wrap(err, exit.Unreachable, fmt.Sprintf("check that Vault answers at %s (--vault-addr, VAULT_ADDR)", addr))
	case vault.IsPermissionDenied(err):
		return exit.Wrap(err, exit.Unreachable, "use a Vault token with the operator policy in docs/vault.md (--vault-token, VAULT_TOKEN)")
	}
	return err
}
