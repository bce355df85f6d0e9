# backup.exec.nomad.hcl: parameterized batch job running tenantctl db backup
# (exec profile: host binaries run by raw_exec): a pg_dump (custom format) of the tenant's
# database and a snapshot of its Redis keys into <backup root>/<tenant>/<backup id>/.
# Dispatched by `tenantctl backup` (and by `down --purge-data` for a final
# backup) with meta backup_id; its Vault identity reads only the backup roles:
# read-only dump rights in Postgres, SCAN/DUMP/PTTL in Redis. See docs/backups.md.
#
# Plain Nomad HCL2, identical for every tenant: everything tenant-specific is a
# variable, and every jobspec of a profile declares the same variables, so one
# var file per tenant serves them all. No variable ever holds a secret: tasks
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


job "backup" {
  id          = var.names.backup_job
  name        = var.names.backup_job
  namespace   = var.names.namespace
  type        = "batch"
  datacenters = var.datacenters
  node_pool   = var.node_pool

  meta = {
    "tenantctl.tenant"       = var.tenant_id
    "tenantctl.name"         = var.tenant_name
    "tenantctl.spec-version" = var.spec_version
    "tenantctl.component"    = "backup"
  }

  # Dispatched once per backup with meta backup_id=<YYYYMMDDTHHMMSSZ-6 hex>.
  parameterized {
    meta_required = ["backup_id"]
    payload       = "forbidden"
  }

  group "backup" {
    count = 1

    # A failed backup is reported, not retried behind the operator's back.
    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "backup" {
      driver = "raw_exec"

      # Workload identity: the task logs in to Vault with its own JWT. The
      # token stays with Nomad's template runner; the process never sees it.
      vault {
        role        = var.names.backup_vault_role
        env         = false
        change_mode = "noop"
        disable_file = true # Nomad would write secrets/vault_token 0666
      }

      # Credentials are query-escaped: the Redis user Vault names after the
      # workload identity holds ':'.
      # DATABASE_URL with the backup role's credentials, as environment.
      template {
        data                 = <<-EOT
          {{- with secret "${var.vault.database_mount}/creds/${var.names.db_role_backup}" }}
          {{- $user := .Data.username }}{{ $pass := .Data.password }}
          {{- range service "${var.names.postgres_service}" }}
          DATABASE_URL=postgres://{{ $user | urlquery }}:{{ $pass | urlquery }}@{{ .Address }}:{{ .Port }}/${var.names.database}?sslmode=disable
          {{- end }}
          {{- end }}
        EOT
        destination          = "secrets/postgres.env"
        perms                = "0400" # read by Nomad itself (env = true)
        env                  = true
        change_mode          = "noop"
        error_on_missing_key = true
      }

      # REDIS_URL with the backup role's Redis ACL user, as environment.
      template {
        data                 = <<-EOT
          {{- with secret "${var.vault.database_mount}/creds/${var.names.redis_role_backup}" }}
          {{- $user := .Data.username }}{{ $pass := .Data.password }}
          {{- range service "${var.names.redis_service}" }}
          REDIS_URL=redis://{{ $user | urlquery }}:{{ $pass | urlquery }}@{{ .Address }}:{{ .Port }}/0
          {{- end }}
          {{- end }}
        EOT
        destination          = "secrets/redis.env"
        perms                = "0400" # read by Nomad itself (env = true)
        env                  = true
        change_mode          = "noop"
        error_on_missing_key = true
      }

      env {
        TENANT_ID             = var.tenant_id
        TENANTCTL_BACKUP_DIR  = var.backup.dir
        TENANTCTL_BACKUP_KEEP = "${var.backup.keep}"
        TENANTCTL_BACKUP_ID   = "${NOMAD_META_backup_id}"
        TENANTCTL_PG_BIN_DIR  = var.exec.postgres_bin_dir
      }

      config {
        command = var.exec.tenantctl
        args    = ["db", "backup"]
      }

      resources {
        cpu    = var.resources.migrate_cpu
        memory = var.resources.migrate_memory
      }
    }
  }
}
