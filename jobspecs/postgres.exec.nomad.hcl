# postgres.exec.nomad.hcl: the tenant's PostgreSQL, data on a volume that outlives the job
# (exec profile: host binaries run by raw_exec, no Docker needed).
#
# Plain Nomad HCL2, identical for every tenant: everything tenant-specific is a
# variable, and every jobspec of a profile declares the same variables, so one
# var file per tenant serves them all. `tenantctl render <tenant>` writes it:
#
#   nomad job run -var-file=<tenant>.vars.hcl postgres.nomad.hcl
#
# submits what `tenantctl up` submits. No variable ever holds a secret: tasks
# read credentials from Vault with their workload identity. See docs/jobspecs.md.

variable "tenant_id" {
  type        = string
  description = "Tenant id: a DNS label such as acme-corp."

  validation {
    condition     = var.tenant_id != "" && regex_replace(var.tenant_id, "^[a-z][a-z0-9-]{0,30}[a-z0-9]$", "") == ""
    error_message = "The tenant id must be 2-32 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "tenant_name" {
  type        = string
  description = "Display name (any text up to 100 characters); shown in meta and to the app, never interpreted."

  validation {
    condition     = var.tenant_name != "" && regex_replace(var.tenant_name, "^.{1,100}$", "") == ""
    error_message = "The display name must be 1-100 characters."
  }
}

variable "host" {
  type        = string
  description = "Public host of the tenant, such as acme.tenants.example.com; the router matches it."

  validation {
    condition     = strlen(var.host) <= 253 && regex_replace(var.host, "^[a-z0-9][a-z0-9.-]*[a-z0-9]$", "") == ""
    error_message = "The host must be a lower-case DNS name."
  }
}

variable "datacenters" {
  type        = list(string)
  description = "Datacenters the job may run in."

  validation {
    condition     = length(var.datacenters) > 0
    error_message = "At least one datacenter is required."
  }
}

variable "node_pool" {
  type        = string
  description = "Node pool the job runs in."

  validation {
    condition     = var.node_pool != "" && regex_replace(var.node_pool, "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", "") == ""
    error_message = "The node pool must be a name of letters, digits, underscores and hyphens."
  }
}

variable "spec_version" {
  type        = string
  description = "Version of the tenantctl jobspec set, recorded in job meta."

  validation {
    condition     = var.spec_version != "" && regex_replace(var.spec_version, "^[0-9]+$", "") == ""
    error_message = "The spec version must be a number."
  }
}

variable "names" {
  type        = object({
    namespace                   = string
    postgres_vault_role         = string
    redis_vault_role            = string
    migrate_vault_role          = string
    app_vault_role              = string
    worker_vault_role           = string
    backup_vault_role           = string
    restore_vault_role          = string
    scheduled_backup_vault_role = string
    bootstrap_path              = string
    database                    = string
    postgres_job                = string
    redis_job                   = string
    migrate_job                 = string
    app_job                     = string
    worker_job                  = string
    backup_job                  = string
    restore_job                 = string
    scheduled_backup_job        = string
    postgres_service            = string
    redis_service               = string
    app_service                 = string
    worker_service              = string
    postgres_volume             = string
    redis_volume                = string
    redis_admin_user            = string
    redis_aclsave_user          = string
    db_role_migrate             = string
    db_role_app                 = string
    db_role_worker              = string
    db_role_backup              = string
    db_role_restore             = string
    db_role_scheduled_backup    = string
    db_owner_role               = string
    db_app_role                 = string
    redis_role_app              = string
    redis_role_worker           = string
    redis_role_backup           = string
    redis_role_restore          = string
    redis_role_scheduled_backup = string
  })
  description = "Names of the tenant's resources, from tenantctl's prefix-safe naming scheme: namespace, Vault identity (jwt role and policy) of each component, KV path of the bootstrap secret, database, job ids, Consul services, volumes, Redis admin and ACL-save users, Vault database roles."

  validation {
    condition     = length([for v in values(var.names) : v if v == "" || strlen(v) > 128 || regex_replace(v, "^[a-z0-9][a-z0-9_/-]*$", "") != ""]) == 0
    error_message = "Every name must be lower-case letters, digits, hyphens, underscores or slashes."
  }
}

variable "vault" {
  type        = object({
    kv_mount       = string
    database_mount = string
  })
  description = "Vault mounts: kv_mount (KV v2, holds the bootstrap secret) and database_mount (issues Postgres and Redis credentials)."

  validation {
    condition     = length([for v in values(var.vault) : v if v == "" || regex_replace(v, "^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*$", "") != ""]) == 0
    error_message = "Each mount must be a Vault path such as database."
  }
}

variable "update" {
  type        = object({
    min_healthy_time  = string
    healthy_deadline  = string
    progress_deadline = string
  })
  description = "Deployment timings of service jobs."

  validation {
    condition     = length([for v in values(var.update) : v if v == "" || regex_replace(v, "^([0-9]+(ms|s|m|h))+$", "") != ""]) == 0
    error_message = "Each timing must be a duration such as 5s or 3m."
  }
}

variable "resources" {
  type        = object({
    postgres_cpu             = number
    postgres_memory          = number
    postgres_max_connections = number
    redis_cpu                = number
    redis_memory             = number
    redis_maxmemory          = number
    app_count                = number
    app_cpu                  = number
    app_memory               = number
    worker_count             = number
    worker_cpu               = number
    worker_memory            = number
    migrate_cpu              = number
    migrate_memory           = number
  })
  description = "Sizes from the tenant plan: CPU in MHz, memory and redis_maxmemory in MiB, instance counts, Postgres max_connections."

  validation {
    condition     = length([for v in values(var.resources) : v if v < 1]) == 0
    error_message = "Every size must be at least 1."
  }
}

variable "backup" {
  type        = object({
    dir      = string
    volume   = string
    schedule = string
    keep     = number
  })
  description = "Backups: dir is the backup root on the client (exec profile), volume the host volume holding it (docker profile), schedule the cron expression of the scheduled backup (empty: none), keep how many backups the backup jobs keep per tenant (0: all)."

  validation {
    condition     = regex_replace(var.backup.dir, "^(/[A-Za-z0-9._+-]+)+$", "") == "" && var.backup.dir != "" && regex_replace(var.backup.volume, "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", "") == "" && var.backup.volume != ""
    error_message = "The backup dir must be an absolute path and the volume a host volume name."
  }

  validation {
    condition     = regex_replace(var.backup.schedule, "^(@[a-z]+|[A-Za-z0-9*/,?#-]+( [A-Za-z0-9*/,?#-]+){4,6})?$", "") == "" && var.backup.keep >= 0 && var.backup.keep == floor(var.backup.keep)
    error_message = "The schedule must be empty or a cron expression, and keep a whole number of at least 0."
  }
}

variable "exec" {
  type        = object({
    postgres_bin_dir  = string
    postgres_user     = string
    postgres_data_dir = string
    redis_server      = string
    redis_cli         = string
    redis_data_dir    = string
    tenant_app        = string
    tenantctl         = string
    app_user          = string
    app_uid           = number
    app_gid           = number
  })
  description = "Host binaries and directories of the exec profile; the data directories outlive the jobs. The app and worker run as app_user (never root), whose ids app_uid and app_gid own their credential files."

  validation {
    condition     = length([for k, v in var.exec : v if !contains(["app_uid", "app_gid"], k) && (v == "" || regex_replace(v, "^(/[A-Za-z0-9._+-]+)+$|^[a-z_][a-z0-9_-]{0,31}$", "") != "")]) == 0
    error_message = "Each entry must be an absolute path (postgres_user, app_user: an OS user name)."
  }

  validation {
    condition     = var.exec.app_user != "root" && var.exec.app_uid >= 1 && var.exec.app_gid >= 1 && var.exec.app_uid == floor(var.exec.app_uid) && var.exec.app_gid == floor(var.exec.app_gid)
    error_message = "The app and worker must not run as root: app_user is not root, app_uid and app_gid are whole numbers of at least 1."
  }
}

job "postgres" {
  id          = var.names.postgres_job
  name        = var.names.postgres_job
  namespace   = var.names.namespace
  type        = "service"
  datacenters = var.datacenters
  node_pool   = var.node_pool

  meta = {
    "tenantctl.tenant"       = var.tenant_id
    "tenantctl.name"         = var.tenant_name
    "tenantctl.spec-version" = var.spec_version
    "tenantctl.component"    = "postgres"
  }

  update {
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = var.update.min_healthy_time
    healthy_deadline  = var.update.healthy_deadline
    progress_deadline = var.update.progress_deadline
    auto_revert       = true
  }

  group "postgres" {
    count          = 1
    shutdown_delay = "5s"

    network {
      port "db" {}
    }

    service {
      provider = "consul"
      name     = var.names.postgres_service
      port     = "db"
      tags = [
        "tenantctl",
        "tenantctl.tenant=${var.tenant_id}",
        "tenantctl.host=${var.host}",
        "tenantctl.component=postgres",
      ]

      check {
        name     = "postgres-tcp"
        type     = "tcp"
        interval = "1s"
        timeout  = "1s"

        # One failed run is not enough: critical after two in a row (~2 s),
        # as fast as one failure of a 2 s check, without its start-up stagger.
        failures_before_critical = 2
      }
    }

    # Prestart, as the Nomad client's user (root): create and initialise the
    # data directory, which lives outside the allocation and outlives the job.
    task "init" {
      driver = "raw_exec"

      lifecycle {
        hook    = "prestart"
        sidecar = false
      }

      # Workload identity: the task logs in to Vault with its own JWT. The
      # token stays with Nomad's template runner; the process never sees it.
      vault {
        role        = var.names.postgres_vault_role
        env         = false
        change_mode = "noop"
        disable_file = true # Nomad would write secrets/vault_token 0666
      }

      # The bootstrap superuser password, read once at first boot.
      template {
        data                 = <<-EOT
          {{- with secret "${var.vault.kv_mount}/data/${var.names.bootstrap_path}" }}{{ .Data.data.postgres_password }}{{ end }}
        EOT
        destination          = "secrets/postgres_password"
        perms                = "0400"
        change_mode          = "noop"
        error_on_missing_key = true
      }

      # First boot only: initdb into a scratch directory, create the tenant
      # database, then move it into place, so a failed first boot leaves nothing
      # half made. Later boots find PG_VERSION and do nothing.
      template {
        data        = <<-EOT
          set -eu
          if [ -s "$PGDATA/PG_VERSION" ]; then
            echo "postgres: $PGDATA is initialised"
            exit 0
          fi
          scratch="$PGDATA.init"
          rm -rf "$scratch"
          mkdir -p "$(dirname "$PGDATA")"
          install -d -m 0700 -o "$PGUSER_OS" "$scratch"
          # initdb runs as the Postgres user, who cannot read the secrets
          # dir: hand it a private copy of the password file, removed on exit.
          pwdir="$(mktemp -d)"
          trap 'rm -rf "$pwdir"' EXIT
          install -m 0400 -o "$PGUSER_OS" "$NOMAD_SECRETS_DIR/postgres_password" "$pwdir/pwfile"
          chown "$PGUSER_OS" "$pwdir"
          # --no-sync, then one syncfs of the whole directory: as durable as
          # initdb's own file-by-file fsyncs, in a fraction of the time.
          runuser -u "$PGUSER_OS" -- "$PGBIN/initdb" -D "$scratch" -U postgres -E UTF8 \
            --auth=scram-sha-256 --pwfile="$pwdir/pwfile" --no-sync
          # The same for the database: fsync off (-F) and a file copy of
          # template1, then the syncfs below. Half the time of the default.
          echo "CREATE DATABASE $DATABASE STRATEGY = FILE_COPY;" |
            runuser -u "$PGUSER_OS" -- "$PGBIN/postgres" --single -F -D "$scratch" postgres >/dev/null
          sync -f "$scratch" # on disk before the rename makes it count
          mv "$scratch" "$PGDATA"
          sync -f "$PGDATA"
          echo "postgres: initialised $PGDATA"
        EOT
        destination = "local/init.sh"
        perms       = "0500"
        change_mode = "noop"
      }

      env {
        PGDATA    = var.exec.postgres_data_dir
        PGBIN     = var.exec.postgres_bin_dir
        PGUSER_OS = var.exec.postgres_user
        DATABASE  = var.names.database
      }

      config {
        command = "/bin/sh"
        args    = ["${NOMAD_TASK_DIR}/init.sh"]
      }

      resources {
        cpu    = 100
        memory = 128
      }
    }

    task "postgres" {
      driver       = "raw_exec"
      user         = var.exec.postgres_user
      kill_signal  = "SIGINT"
      kill_timeout = "30s"

      config {
        command = "${var.exec.postgres_bin_dir}/postgres"
        args = [
          "-D", var.exec.postgres_data_dir,
          "-p", "${NOMAD_PORT_db}",
          "-c", "listen_addresses=${NOMAD_IP_db}",
          "-c", "unix_socket_directories=",
          "-c", "max_connections=${var.resources.postgres_max_connections}",
          "-c", "password_encryption=scram-sha-256",
        ]
      }

      resources {
        cpu    = var.resources.postgres_cpu
        memory = var.resources.postgres_memory
      }
    }
  }
}
