# app.docker.nomad.hcl: the tenant's web app (tenant-app serve), routed by host
# (docker profile: images run by the docker driver).
#
# Plain Nomad HCL2, identical for every tenant: everything tenant-specific is a
# variable, and every jobspec of a profile declares the same variables, so one
# var file per tenant serves them all. `tenantctl render <tenant>` writes it:
#
#   nomad job run -var-file=<tenant>.vars.hcl app.nomad.hcl
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

variable "images" {
  type        = object({
    postgres  = string
    redis     = string
    app       = string
    tenantctl = string
    backup    = string
  })
  description = "Images of the docker profile: postgres, redis, app (tenant-app on its PATH), tenantctl (tenantctl on its PATH) and backup (tenantctl and the PostgreSQL client tools on its PATH)."

  validation {
    condition     = length([for v in values(var.images) : v if v == "" || strlen(v) > 255 || regex_replace(v, "^[a-z0-9][A-Za-z0-9._/:@-]*$", "") != ""]) == 0
    error_message = "Each image must be an image reference such as postgres:15."
  }
}

job "app" {
  id          = var.names.app_job
  name        = var.names.app_job
  namespace   = var.names.namespace
  type        = "service"
  datacenters = var.datacenters
  node_pool   = var.node_pool

  meta = {
    "tenantctl.tenant"       = var.tenant_id
    "tenantctl.name"         = var.tenant_name
    "tenantctl.spec-version" = var.spec_version
    "tenantctl.component"    = "app"
  }

  update {
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = var.update.min_healthy_time
    healthy_deadline  = var.update.healthy_deadline
    progress_deadline = var.update.progress_deadline
    auto_revert       = true
  }

  group "app" {
    count          = var.resources.app_count
    shutdown_delay = "5s"

    network {
      port "http" {
        to = 8080
      }
    }

    # Consul service, routed by the nginx router through its tags.
    service {
      provider = "consul"
      name     = var.names.app_service
      port     = "http"
      tags = [
        "tenantctl",
        "tenantctl.tenant=${var.tenant_id}",
        "tenantctl.host=${var.host}",
        "tenantctl.component=app",
      ]

      check {
        name     = "app-health"
        type     = "http"
        path     = "/api/health"
        interval = "1s"
        timeout  = "1s"

        # One failed run is not enough: critical after two in a row (~2 s),
        # as fast as one failure of a 2 s check, without its start-up stagger.
        failures_before_critical = 2

        check_restart {
          limit = 15 # 14 intervals critical: ~16 s after the first failure
          grace = "30s"
        }
      }

      check {
        name     = "app-ready"
        type     = "http"
        path     = "/api/ready"
        interval = "1s"
        timeout  = "1s"

        # One failed run is not enough: critical after two in a row (~2 s),
        # as fast as one failure of a 2 s check, without its start-up stagger.
        failures_before_critical = 2
      }
    }

    task "app" {
      driver       = "docker"
      # The images of `go tool task images` run as 65532; the job says so
      # itself, so the credential file (0400, below) is readable by the
      # process whatever the image's USER.
      user         = "65532:65532"
      kill_timeout = "20s"

      # Workload identity: the task logs in to Vault with its own JWT. The
      # token stays with Nomad's template runner; the process never sees it.
      vault {
        role        = var.names.app_vault_role
        env         = false
        change_mode = "noop"
        disable_file = true # Nomad would write secrets/vault_token 0666
      }

      # Credentials for the app: one template per credential, each into its own
      # file, so a new Postgres user is written the moment it is issued and a
      # Redis renewal or move never re-renders (or delays) the Postgres file,
      # nor the other way round. `wait` bounds how long a change waits before
      # it is written (Nomad's client default is min 5s, max 4m); the
      # credential TTLs leave more than that for the rotation (docs/vault.md,
      # "Rotation without failed requests"). The process reloads on SIGHUP,
      # sent at once: splay 0s, where Nomad's default would add a random
      # 0-5s the rotation budget does not hold.
      template {
        data                 = <<-EOT
          {{- with secret "${var.vault.database_mount}/creds/${var.names.db_role_app}" }}
          {{- $user := .Data.username }}{{ $pass := .Data.password }}
          {{- range service "${var.names.postgres_service}" }}
          DATABASE_URL=postgres://{{ $user }}:{{ $pass }}@{{ .Address }}:{{ .Port }}/${var.names.database}?sslmode=disable
          {{- end }}
          {{- end }}
        EOT
        destination          = "secrets/postgres.env"
        perms                = "0400"
        uid                  = 65532 # the task's user, below
        gid                  = 65532
        change_mode          = "signal"
        change_signal        = "SIGHUP"
        splay                = "0s"
        error_on_missing_key = true

        wait {
          min = "1s"
          max = "2s"
        }
      }

      template {
        data                 = <<-EOT
          {{- range service "${var.names.redis_service}" }}
          REDIS_ADDR={{ .Address }}:{{ .Port }}
          {{- end }}
          {{- with secret "${var.vault.database_mount}/creds/${var.names.redis_role_app}" }}
          REDIS_USERNAME={{ .Data.username }}
          REDIS_PASSWORD={{ .Data.password }}
          {{- end }}
        EOT
        destination          = "secrets/redis.env"
        perms                = "0400"
        uid                  = 65532 # the task's user, below
        gid                  = 65532
        change_mode          = "signal"
        change_signal        = "SIGHUP"
        splay                = "0s"
        error_on_missing_key = true

        wait {
          min = "1s"
          max = "2s"
        }
      }

      env {
        TENANT_ID           = var.tenant_id
        TENANT_NAME         = var.tenant_name
        TENANT_HOST         = var.host
        TENANT_APP_ENV_FILE = "${NOMAD_SECRETS_DIR}/postgres.env:${NOMAD_SECRETS_DIR}/redis.env"
      }

      config {
        image      = var.images.app
        ports      = ["http"]
        entrypoint = ["tenant-app"]
        args       = ["serve"]
      }

      resources {
        cpu    = var.resources.app_cpu
        memory = var.resources.app_memory
      }
    }
  }
}
