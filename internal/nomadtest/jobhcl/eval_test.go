package jobhcl

import (
	"strconv"
	"testing"
)

func TestRuntimeInterpolationPreserved(t *testing.T) {
	tests := []struct {
		expr string
		want string
	}{
		{`"${NOMAD_PORT_http}"`, "${NOMAD_PORT_http}"},
		{`"${NOMAD_SECRETS_DIR}/tenant.env"`, "${NOMAD_SECRETS_DIR}/tenant.env"},
		{`"${attr.kernel.name}"`, "${attr.kernel.name}"},
		{`"${node.unique.name}"`, "${node.unique.name}"},
		{`"${meta.x}"`, "${meta.x}"},
		{`"${env["X"]}"`, `${env["X"]}`},
		{`"v=${NOMAD_META_version}"`, "v=${NOMAD_META_version}"},
		{`"${node.datacenter}-${var.tenant}"`, "${node.datacenter}-acme"},
		{`"${NOMAD_ALLOC_DIR}/${local.dir}/${NOMAD_TASK_NAME}"`, "${NOMAD_ALLOC_DIR}/data/${NOMAD_TASK_NAME}"},
		{`"${ NOMAD_ALLOC_INDEX }"`, "${ NOMAD_ALLOC_INDEX }"},
		{`attr.unique.hostname`, "${attr.unique.hostname}"},
		{`format("%s/app", NOMAD_TASK_DIR)`, "${NOMAD_TASK_DIR}/app"},
		{`"$${literal}"`, "${literal}"},
		{`"%%{literal}"`, "%{literal}"},
		{`"{{ env \"NOMAD_ALLOC_ID\" }}"`, `{{ env "NOMAD_ALLOC_ID" }}`},
		{`"${meta.a}+${meta.a.b}"`, "${meta.a}+${meta.a.b}"},
		{`"${attr.x}${ attr.x }"`, "${attr.x}${ attr.x }"},
		{`join(",", [for s in ["a", "b"] : "${s}-${NOMAD_ALLOC_INDEX}"])`, "a-${NOMAD_ALLOC_INDEX},b-${NOMAD_ALLOC_INDEX}"},
		{`local.from_local`, "${NOMAD_TASK_DIR}/from-local"},
	}
	decls := `
variable "tenant" {
  type = string
}
locals {
  dir        = "data"
  from_local = "${NOMAD_TASK_DIR}/from-local"
}
`
	var entries string
	for i, tt := range tests {
		entries += "    k" + strconv.Itoa(i) + " = " + tt.expr + "\n"
	}
	job := mustParse(t, metaJob(decls, entries), `tenant = "acme"`, nil, false)
	for i, tt := range tests {
		if got := job.Meta["k"+strconv.Itoa(i)]; got != tt.want {
			t.Errorf("%s: got %q; want %q", tt.expr, got, tt.want)
		}
	}
}

func TestHeredocs(t *testing.T) {
	src := `variable "tenant" {
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
`
	job := mustParse(t, src, `tenant = "acme"`, nil, false)
	tpls := job.TaskGroups[0].Tasks[0].Templates
	wantPlain := "tenant=acme\n" +
		"  indented stays\n" +
		"port={{ env \"NOMAD_PORT_http\" }} dir=${NOMAD_TASK_DIR}\n" +
		"escaped=${NOT_EVALUATED} directive=%{ if x }\n"
	if got := *tpls[0].EmbeddedTmpl; got != wantPlain {
		t.Errorf("<<EOF heredoc: got %q; want %q", got, wantPlain)
	}
	wantFlush := "server {\n" +
		"  listen ${NOMAD_PORT_http};\n" +
		"  server_name acme.example.com;\n" +
		"}\n" +
		// hcl strips a flush heredoc's indentation from the source lines only, so the lines a directive
		// repeats keep theirs.
		"          upstream a;\n" +
		"          upstream b;\n"
	if got := *tpls[1].EmbeddedTmpl; got != wantFlush {
		t.Errorf("<<-EOT heredoc: got %q; want %q", got, wantFlush)
	}
}
