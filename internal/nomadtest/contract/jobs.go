package contract

import "fmt"

// serviceHCL is a small service job a real dev agent can run: a raw_exec
// sleep with a Nomad-provider service (so it needs no Consul), healthy by task
// state after one second.
func serviceHCL(ns, id string) string {
	return fmt.Sprintf(`
variable "greeting" {
  type    = string
  default = "hello"
}

variable "tags" {
  type    = list(string)
  default = ["contract"]
}

job %q {
  namespace   = %q
  type        = "service"
  datacenters = ["*"]

  meta {
    purpose = "contract"
  }

  update {
    health_check      = "task_states"
    min_healthy_time  = "1s"
    healthy_deadline  = "1m"
    progress_deadline = "2m"
  }

  group "app" {
    count = 1

    network {
      port "http" {}
    }

    service {
      name     = %q
      provider = "nomad"
      port     = "http"
      tags     = var.tags
    }

    task "server" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "sleep 3600"]
      }

      env {
        GREETING = var.greeting
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
`, id, ns, id)
}

// dispatchHCL is a parameterized batch job requiring meta "tenant"; its
// task runs for a few seconds, so a second dispatch with the same
// idempotency token finds the first child still running.
func dispatchHCL(ns, id string) string {
	return fmt.Sprintf(`
job %q {
  namespace   = %q
  type        = "batch"
  datacenters = ["*"]

  parameterized {
    payload       = "forbidden"
    meta_required = ["tenant"]
  }

  group "run" {
    task "main" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "sleep 3; echo done"]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
`, id, ns)
}
