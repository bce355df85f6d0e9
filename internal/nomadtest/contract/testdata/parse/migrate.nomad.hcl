variable "tenant" {
  type = string
}

variable "runner" {
  type = object({
    command = string
    args    = list(string)
  })
  default = {
    command = "/usr/local/bin/tenantctl"
    args    = ["db", "migrate"]
  }
}

job "migrate" {
  type      = "batch"
  namespace = "tenant-${var.tenant}"

  parameterized {
    payload       = "optional"
    meta_required = ["migration_set"]
    meta_optional = ["dry_run"]
  }

  reschedule {
    attempts  = 0
    unlimited = false
  }

  group "migrate" {
    count = 1

    ephemeral_disk {
      size = 150
    }

    restart {
      attempts = 0
      mode     = "fail"
    }

    task "wait-db" {
      driver = "raw_exec"

      lifecycle {
        hook    = "prestart"
        sidecar = false
      }

      config {
        command = "/bin/sh"
        args    = ["-c", "until pg_isready -h ${NOMAD_UPSTREAM_IP_db}; do sleep 1; done"]
      }
    }

    task "migrate" {
      driver = "raw_exec"
      leader = true
      user   = "nobody"

      dispatch_payload {
        file = "migrations.tar"
      }

      artifact {
        source      = "https://example.com/migrations/${var.tenant}.tar.gz"
        destination = "local/migrations"
        mode        = "dir"
        options {
          checksum = "sha256:abc"
        }
      }

      config {
        command = var.runner.command
        args    = concat(var.runner.args, ["--dir", "${NOMAD_TASK_DIR}/migrations"])
      }

      vault {
        role        = "migrate"
        change_mode = "noop"
      }

      template {
        destination          = "secrets/db.env"
        env                  = true
        error_on_missing_key = true
        left_delimiter       = "[["
        right_delimiter      = "]]"
        once                 = true
        data                 = <<EOT
[[ with secret "database/creds/migrate" ]]PGUSER=[[ .Data.username ]][[ end ]]
EOT
        change_mode = "script"
        change_script {
          command       = "/bin/true"
          args          = ["-x"]
          timeout       = "10s"
          fail_on_error = false
        }
      }

      resources {
        cpu    = 100
        memory = 128
      }

      kill_timeout = "45s"

      logs {
        disabled = false
        max_files = 2
      }
    }
  }
}
