job "d" {
  update {
    stagger           = "1s"
    min_healthy_time  = "2s"
    healthy_deadline  = "3m"
    progress_deadline = "1h30m"
  }
  migrate {
    min_healthy_time = "4s"
    healthy_deadline = "5m"
  }
  periodic {
    crons            = ["*/5 * * * *"]
    prohibit_overlap = true
  }
  group "g" {
    shutdown_delay               = "6s"
    stop_after_client_disconnect = "7s"
    max_client_disconnect        = "8m"
    restart {
      interval = "9m"
      delay    = "10s"
    }
    reschedule {
      interval  = "11h"
      delay     = "12s"
      max_delay = "13m"
    }
    service {
      name = "s"
      check {
        type     = "tcp"
        port     = "db"
        interval = "14s"
        timeout  = "500ms"
      }
      check_restart {
        grace = "15s"
      }
    }
    task "t" {
      driver         = "exec"
      kill_timeout   = "16s"
      shutdown_delay = "17s"
      identity {
        name = "x"
        ttl  = "18h"
      }
      template {
        data        = "x"
        destination = "local/x"
        splay       = "19s"
        vault_grace = "20s"
        wait {
          min = "21s"
          max = "22s"
        }
      }
    }
  }
}
