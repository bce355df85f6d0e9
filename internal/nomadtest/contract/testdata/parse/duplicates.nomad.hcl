job "duplicates" {
  group "g" {
    volume "v" {
      type   = "host"
      source = "first"
    }
    volume "v" {
      type   = "host"
      source = "second"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
        mount {
          a = 1
        }
        mount {
          a = 2
        }
        labelled "x" "y" {
          b = 1
        }
        object = { c = 1 }
        nested = { d = { e = null } }
        empty  = null
      }
    }
  }
}
