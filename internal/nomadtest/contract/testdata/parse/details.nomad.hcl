job "details" {
  region      = "eu"
  all_at_once = true
  periodic {
    cron             = "0 3 * * *"
    time_zone        = "UTC"
    prohibit_overlap = true
  }
  group "g" {
    task "t" {
      driver = "docker"
      resources {
        cores  = 2
        memory = 64
        device "nvidia/gpu" {
          count = 1
        }
      }
      artifact {
        source = "https://example.com/a.tgz"
        headers {
          Authorization = "Bearer ${NOMAD_META_token}"
        }
      }
      service {
        name         = "t-svc"
        port         = "http"
        address_mode = "host"
        canary_tags  = ["canary"]
        check {
          type                     = "script"
          command                  = "/bin/check"
          args                     = ["-v"]
          interval                 = "10s"
          timeout                  = "3s"
          task                     = "t"
          success_before_passing   = 2
          failures_before_critical = 3
          initial_status           = "passing"
        }
      }
      vault {
        cluster                = "default"
        env                    = false
        disable_file           = true
        allow_token_expiration = true
      }
      identity {
        name          = "aws"
        aud           = ["sts.amazonaws.com"]
        change_mode   = "signal"
        change_signal = "SIGHUP"
        env           = true
      }
      template {
        source        = "local/in.tpl"
        destination   = "local/out"
        uid           = 1000
        gid           = 1000
        change_signal = "SIGUSR1"
      }
      logs {
        disabled = true
      }
    }
  }
}
