job "c" {
  affinity {
    attribute = "${node.datacenter}"
    value     = "dc1"
    weight    = 50
  }
  spread {
    attribute = "${node.datacenter}"
    weight    = 100
    target "dc1" {
      percent = 60
    }
    target "dc2" {
      percent = 40
    }
  }
  group "g" {
    constraint {
      attribute = "${meta.tier}"
      operator  = "="
      value     = "db"
    }
    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }
    consul {
      namespace = "tenants"
      cluster   = "default"
    }
    disconnect {
      lost_after = "1h"
      replace    = true
    }
    network {
      mode = "bridge"
      port "db" {
        to           = 5432
        host_network = "private"
      }
      dns {
        servers = ["1.1.1.1"]
      }
    }
  }
}
