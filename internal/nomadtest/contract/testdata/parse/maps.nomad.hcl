job "maps" {
  meta = {
    "dotted.key" = "x"
    n            = 1.5
    b            = true
  }
  group "g" {
    meta {
      team = "core"
    }
    task "t" {
      driver = "docker"
      env = {
        "discovery.type" = "single-node"
      }
      meta {
        port = 8080
      }
      config {
        image      = "redis:7"
        port       = 6379
        ratio      = 0.5
        privileged = false
        command    = null
        args       = ["--port", 6379]
        sysctl = {
          "net.core.somaxconn" = "16384"
        }
        logging {
          type = "journald"
          config {
            tag = "redis"
          }
        }
        mount {
          type = "tmpfs"
        }
        mount {
          type = "volume"
        }
      }
    }
  }
}
