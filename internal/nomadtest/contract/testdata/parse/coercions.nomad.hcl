job "coercions" {
  region   = true
  priority = "70"
  affinity {
    attribute = "${node.class}"
    value     = 5
    weight    = 1000
  }
  group "g" {
    count = 99999999999
    task "t" {
      driver = "raw_exec"
      env = {
        N = 1
        B = false
      }
      resources {
        cpu = "100"
      }
    }
  }
}
