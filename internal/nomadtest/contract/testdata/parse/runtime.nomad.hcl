variable "tenant" {
  type = string
}

locals {
  dir        = "data"
  from_local = "${NOMAD_TASK_DIR}/from-local"
}

job "runtime" {
  meta = {
    k0  = "${NOMAD_PORT_http}"
    k1  = "${NOMAD_SECRETS_DIR}/tenant.env"
    k2  = "${attr.kernel.name}"
    k3  = "${node.unique.name}"
    k4  = "${meta.x}"
    k5  = "${env["X"]}"
    k6  = "v=${NOMAD_META_version}"
    k7  = "${node.datacenter}-${var.tenant}"
    k8  = "${NOMAD_ALLOC_DIR}/${local.dir}/${NOMAD_TASK_NAME}"
    k9  = "${ NOMAD_ALLOC_INDEX }"
    k10 = attr.unique.hostname
    k11 = format("%s/app", NOMAD_TASK_DIR)
    k12 = "$${literal}"
    k13 = "%%{literal}"
    k14 = "{{ env \"NOMAD_ALLOC_ID\" }}"
    k15 = "${meta.a}+${meta.a.b}"
    k16 = "${attr.x}${ attr.x }"
    k17 = join(",", [for s in ["a", "b"] : "${s}-${NOMAD_ALLOC_INDEX}"])
    k18 = local.from_local
    k19 = "${attr.x }"
    k20 = "${  node.class}"
  }
}
