package cli

import (
	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/nomad"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/vault"
)

// remedyFor words the remedy of an adapter's error cause (exit.Cause) in
// this CLI's terms: its flags and the environment variables behind them. The
// adapters know neither; this is the one place that does.
func remedyFor(c exit.Cause) string {
	switch c {
	case nomad.CauseUnreachable:
		return "check NOMAD_ADDR / --nomad-addr and that the Nomad agent is running"
	case nomad.CauseForbidden:
		return "check NOMAD_TOKEN / --nomad-token: the token needs agent:read and the tenant namespaces' job capabilities"
	case consul.CauseUnreachable:
		return "check CONSUL_HTTP_ADDR / --consul-addr and that the Consul agent is running"
	case consul.CauseForbidden:
		return "check CONSUL_HTTP_TOKEN / --consul-token: tenantctl needs read access to the catalog and health"
	case consul.CauseLocked:
		return "wait for that command to finish, or raise --lock-timeout; the lock of a killed tenantctl is taken over at once on its own machine, elsewhere it frees within 30s"
	case consul.CauseLockLost:
		return "another operator may be changing the tenant now: check `tenantctl status` and who holds the lock, then run the same command again (every step is idempotent)"
	case provision.CauseFinalBackup:
		return "fix what the log tail above shows and run `down --purge-data` again; or purge without a final backup with --no-final-backup (`tenantctl backups list <tenant>` shows the earlier backups)"
	case vault.CauseUnreachable:
		return "check --vault-addr (VAULT_ADDR) and that Vault is running"
	case vault.CauseForbidden:
		return "check --vault-token (VAULT_TOKEN)"
	}
	return ""
}

// withRemedy gives err the CLI's remedy for its cause when it has no remedy
// yet. provision.Env.Remedy is this function, so a failed step's remedy is
// worded here too.
func withRemedy(err error) error {
	if err == nil || exit.HintOf(err) != "" {
		return err
	}
	if hint := remedyFor(exit.CauseOf(err)); hint != "" {
		return exit.Wrap(err, exit.CodeOf(err), hint)
	}
	return err
}
