variable "tenant" {
  type = string
}
variable "replicas" {
  type    = number
  default = 1
}
variable "enabled" {
  type    = bool
  default = false
}
variable "tags" {
  type    = list(string)
  default = ["a"]
}
variable "limits" {
  type    = map(number)
  default = { cpu = 100 }
}
variable "db" {
  type = object({
    host = string
    port = number
  })
  default = { host = "localhost", port = 5432 }
}
variable "untyped" {
  default = "u"
}
variable "free" {
}
variable "maybe" {
  type    = string
  default = null
}
locals {
  prefix = "${var.tenant}-${local.suffix}"
}
locals {
  suffix = upper(var.tenant)
  hosts  = [for i in range(var.replicas) : "${var.tenant}-${i}"]
  twice  = "first"
}
locals {
  twice = "second"
}

job "variables" {
  meta = {
    tenant   = var.tenant
    replicas = var.replicas
    enabled  = var.enabled
    tags     = join(",", var.tags)
    cpu      = var.limits.cpu
    dbhost   = var.db.host
    dbport   = var.db.port
    untyped  = var.untyped
    free     = jsonencode(var.free)
    maybe    = coalesce(var.maybe, "none")
    prefix   = local.prefix
    hosts    = join(",", local.hosts)
    twice    = local.twice
  }
}
