# Nomad agent config added by `go tool task dev -- --docker` (scripts/dev-cluster.sh up
# --docker) on top of nomad.hcl: the docker driver, for tenantctl's docker profile. The
# script replaces the two placeholders (names between at-signs):
#
#   DOCKER_ENDPOINT  unix:// address of the Docker engine (the one DOCKER_HOST names, or
#                    the dockerd the script starts with its state in the state dir)
#   BRIDGE           that engine's default bridge, docker0
#   BACKUPS_DIR      the backup root in the state dir: the docker profile's backup jobs mount
#                    the host volume "tenantctl-backups" (backup.volume in tenantctl.hcl)
#
# See docs/dev-cluster.md.

client {
  # A dev agent publishes mapped ports and registers services on the loopback
  # interface, which a container cannot reach (its 127.0.0.1 is its own). On the
  # engine's bridge, the tenant's app container reaches Postgres and Redis at the
  # addresses Consul has for them, and the host (Vault, the router) does too.
  network_interface = "@BRIDGE@"

  # The backup root of the docker profile's backup, restore and scheduled-backup
  # jobs (docs/backups.md); the script makes it writable by their uid, 65532.
  host_volume "tenantctl-backups" {
    path      = "@BACKUPS_DIR@"
    read_only = false
  }
}

plugin "docker" {
  config {
    endpoint = "@DOCKER_ENDPOINT@"

    # The host volumes the jobs mount are Nomad's own (dynamic host volumes);
    # this allows the router job's docker_volumes too.
    volumes {
      enabled = true
    }

    # The images are built locally by `go tool task images -- --all`; keep them.
    gc {
      image = false
    }
  }
}
