variable "tenant" {
  type        = string
  description = "Tenant id."
  validation {
    condition     = var.tenant != "" && regex_replace(var.tenant, "^[a-z][a-z0-9-]*$", "") == ""
    error_message = "The tenant id must be lowercase letters, digits and dashes."
  }
}

variable "image" {
  type    = string
  default = "ghcr.io/tenantctl/tenant-app:1.0.0"
}

variable "count" {
  type    = number
  default = 2
}

variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
}

variable "domain" {
  type = string
}

locals {
  name      = "${var.tenant}-app"
  host      = "${var.tenant}.${var.domain}"
  namespace = "tenant-${var.tenant}"
}

job "app" {
  namespace   = local.namespace
  datacenters = var.datacenters
  type        = "service"
  priority    = 60
  node_pool   = "default"

  meta {
    tenant  = var.tenant
    version = 3
  }

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  update {
    max_parallel      = 1
    min_healthy_time  = "5s"
    healthy_deadline  = "2m"
    progress_deadline = "5m"
    auto_revert       = true
    canary            = 0
    stagger           = "30s"
  }

  group "web" {
    count = var.count

    network {
      mode = "host"
      port "http" {
        to = 8080
      }
      port "admin" {
        static = 9090
      }
    }

    restart {
      attempts = 3
      interval = "5m"
      delay    = "15s"
      mode     = "fail"
    }

    reschedule {
      attempts       = 5
      interval       = "1h"
      delay          = "30s"
      delay_function = "exponential"
      max_delay      = "10m"
      unlimited      = false
    }

    volume "data" {
      type      = "host"
      source    = "tenant-data"
      read_only = false
    }

    shutdown_delay = "5s"

    service {
      name     = local.name
      port     = "http"
      provider = "consul"
      tags     = ["tenant=${var.tenant}", "host=${local.host}"]

      meta {
        tenant = var.tenant
      }

      check {
        name     = "http"
        type     = "http"
        path     = "/healthz"
        interval = "10s"
        timeout  = "2s"
        header {
          Host = [local.host]
        }
        check_restart {
          limit = 3
          grace = "30s"
        }
      }
    }

    task "app" {
      driver       = "docker"
      kill_timeout = "20s"
      kill_signal  = "SIGTERM"

      config {
        image = var.image
        ports = ["http"]
        args  = ["--listen", ":${NOMAD_PORT_http}", "--node", "${node.unique.name}"]
        mount {
          type   = "bind"
          source = "local/app.conf"
          target = "/etc/app.conf"
        }
        labels {
          tenant = var.tenant
        }
      }

      env {
        TENANT    = var.tenant
        ENV_FILE  = "${NOMAD_SECRETS_DIR}/tenant.env"
        VERSION   = "${NOMAD_META_version}"
        FROM_ENV  = "${env["HOME"]}"
        RACK      = "${meta.rack}"
      }

      vault {
        role          = "${var.tenant}-app"
        change_mode   = "signal"
        change_signal = "SIGHUP"
      }

      identity {
        env  = true
        file = true
      }

      identity {
        name = "vault_default"
        aud  = ["vault.io"]
        ttl  = "1h"
      }

      template {
        destination = "${NOMAD_SECRETS_DIR}/tenant.env"
        env         = true
        change_mode = "restart"
        splay       = "5s"
        perms       = "0600"
        data        = <<-EOT
          {{ with secret "database/creds/${var.tenant}-app" }}
          DATABASE_URL=postgres://{{ .Data.username }}:{{ .Data.password }}@db/app
          {{ end }}
          LITERAL=$${NOMAD_ALLOC_ID} %%{ not a directive }
          EOT
        wait {
          min = "2s"
          max = "10s"
        }
      }

      volume_mount {
        volume      = "data"
        destination = "/data"
      }

      resources {
        cpu        = 200
        memory     = 256
        memory_max = 512
      }

      logs {
        max_files     = 5
        max_file_size = 10
      }
    }
  }
}
