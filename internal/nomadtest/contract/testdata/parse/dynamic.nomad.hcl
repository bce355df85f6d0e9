variable "profile" {
  type    = string
  default = "exec"
}
variable "ports" {
  type    = map(number)
  default = { http = 8080, admin = 0 }
}
job "dyn" {
  group "g" {
    network {
      dynamic "port" {
        for_each = var.ports
        labels   = [port.key]
        content {
          to = port.value
        }
      }
    }
    task "t" {
      driver = var.profile == "docker" ? "docker" : "raw_exec"
      dynamic "config" {
        for_each = var.profile == "docker" ? ["docker"] : []
        content {
          image = "nginx:1"
        }
      }
      dynamic "config" {
        for_each = var.profile == "exec" ? ["exec"] : []
        content {
          command = "/usr/sbin/nginx"
          args    = ["-c", "${NOMAD_TASK_DIR}/nginx.conf"]
          dynamic "mount" {
            for_each = ["a", "b"]
            iterator = m
            content {
              source = "${m.value}-${NOMAD_ALLOC_INDEX}"
            }
          }
        }
      }
      dynamic "template" {
        for_each = ["one", "two"]
        content {
          destination = "local/${template.value}.conf"
          data        = "name=${template.value} port={{ env \"NOMAD_PORT_http\" }}"
        }
      }
    }
  }
}
