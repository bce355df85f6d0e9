package nomad

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tenantctl/tenantctl/internal/nomadtest"
)

// waitLimit bounds every wait that is expected to succeed; the double
// answers in microseconds, so it only matters when something is broken.
const waitLimit = 30 * time.Second

func newClient(t testing.TB, srv *nomadtest.Server, token string) *Client {
	t.Helper()
	c, err := New(Config{Address: srv.Addr(), Token: token})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustNamespace(t testing.TB, c *Client, ns string) {
	t.Helper()
	if _, err := c.EnsureNamespace(context.Background(), ns, "test", nil); err != nil {
		t.Fatalf("ensure namespace %s: %v", ns, err)
	}
}

// applied parses src with vars and applies it, failing the test on error.
func applied(t testing.TB, c *Client, src, vars string) ApplyResult {
	t.Helper()
	ctx := ctxFor(t, waitLimit)
	job, err := c.Parse(ctx, []byte(src), vars)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	res, err := c.Apply(ctx, job, []byte(src), vars)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return res
}

// serviceSrc is a service job with an update strategy. Its variables let
// tests edit it: tags (in place) and greeting (destructive).
func serviceSrc(ns, id string) string {
	return fmt.Sprintf(`
variable "greeting" {
  type    = string
  default = "hello"
}

variable "tags" {
  type    = list(string)
  default = ["v1"]
}

job %q {
  namespace   = %q
  type        = "service"
  datacenters = ["*"]

  update {
    max_parallel      = 1
    health_check      = "task_states"
    min_healthy_time  = "1s"
    healthy_deadline  = "1m"
    progress_deadline = "2m"
  }

  group "web" {
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

// batchSrc is a parameterized batch job requiring meta "version".
func batchSrc(ns, id string) string {
	return fmt.Sprintf(`
job %q {
  namespace   = %q
  type        = "batch"
  datacenters = ["*"]

  parameterized {
    payload       = "forbidden"
    meta_required = ["version"]
  }

  group "run" {
    task "migrate" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "echo migrated"]
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
