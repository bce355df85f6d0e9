# Nomad agent config of the local dev cluster (scripts/dev-cluster.sh, `go tool task dev`).
#
# Used as `nomad agent -dev -config <state dir>/nomad.hcl`: -dev runs one server and one
# client in this process, with the server's state in memory. The script writes this file
# to the state dir with its three placeholders (these names between at-signs) replaced:
#
#   DATA_DIR     <state dir>/nomad, created with mode 0755 (see below)
#   CONSUL_ADDR  127.0.0.1:8500, the Consul dev agent the script starts
#   VAULT_ADDR   http://127.0.0.1:8200, the Vault dev server the script starts
#
# Needs Nomad 1.10 or newer (the vault block below is the workload-identity form; 1.10
# removed the token-based one). See docs/dev-cluster.md.

# The client's state and allocation directories live under data_dir (client/, alloc/).
# The exec profile's Postgres task runs as the postgres user, which must be able to
# traverse every directory above its task directory: the script creates data_dir with
# mode 0755 and checks, before starting, that the postgres user can reach it.
data_dir  = "@DATA_DIR@"
bind_addr = "127.0.0.1"
log_level = "INFO"

client {
  enabled = true

  options = {
    # Without cloud metadata, the cloud fingerprinters can stop a dev agent from starting
    # ("failed to setup IMDS client" from env_aws).
    "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean"
  }
}

# The exec profile runs host binaries (postgres, redis-server, tenant-app, tenantctl,
# nginx) with raw_exec. -dev enables it too; this makes it explicit.
plugin "raw_exec" {
  config {
    enabled = true
  }
}

# Tasks with a `vault { role = … }` block get a workload identity JWT (signed by the
# keys at <nomad addr>/.well-known/jwks.json) and log in with it at Vault's jwt auth
# mount jwt-nomad, which `tenantctl cluster init` configures. The audience matches the
# jwt roles tenantctl writes (bound_audiences = vault.io).
vault {
  enabled               = true
  address               = "@VAULT_ADDR@"
  jwt_auth_backend_path = "jwt-nomad"

  default_identity {
    aud = ["vault.io"]
    ttl = "1h"
  }
}

# Services register in Consul (provider = "consul"), where the templates find the
# tenant's Postgres and Redis and the router finds the apps. The dev Consul agent runs
# without ACLs, so no service_identity / task_identity blocks are needed; with Consul
# ACLs you would add them and a Consul jwt auth method.
consul {
  address = "@CONSUL_ADDR@"
}
