variable "tenant" {
  type = string
}

job "h" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      template {
        destination = "local/plain"
        data        = <<EOF
tenant=${var.tenant}
  indented stays
port={{ env "NOMAD_PORT_http" }} dir=${NOMAD_TASK_DIR}
escaped=$${NOT_EVALUATED} directive=%%{ if x }
EOF
      }
      template {
        destination = "local/flush"
        data        = <<-EOT
          server {
            listen ${NOMAD_PORT_http};
            server_name ${var.tenant}.example.com;
          }
          %{ for n in ["a", "b"] ~}
          upstream ${n};
          %{ endfor ~}
        EOT
      }
    }
  }
}
