# Variables of tenant rf-one for the tenantctl jobspecs, written by `tenantctl render`.
# Every jobspec of the profile declares exactly these variables. No secrets here.
#   nomad job run -var-file=rf-one.vars.hcl postgres.nomad.hcl

tenant_id    = "rf-one"
tenant_name  = "rf-one"
host         = "rf-one.tenants.localhost.test"
datacenters  = ["dc1"]
node_pool    = "default"
spec_version = "1"
names        = {
  namespace          = "rf-one--tenant"
  vault_role         = "rf-one--nomad"
  bootstrap_path     = "tenants/rf-one/bootstrap"
  database           = "rf_one__app"
  postgres_job       = "rf-one--postgres"
  redis_job          = "rf-one--redis"
  migrate_job        = "rf-one--migrate"
  app_job            = "rf-one--app"
  worker_job         = "rf-one--worker"
  postgres_service   = "rf-one--postgres"
  redis_service      = "rf-one--redis"
  app_service        = "rf-one--app"
  worker_service     = "rf-one--worker"
  postgres_volume    = "rf-one--postgres-data"
  redis_volume       = "rf-one--redis-data"
  redis_admin_user   = "rf-one--admin"
  redis_aclsave_user = "rf-one--aclsave"
  db_role_app        = "rf-one--app"
  db_role_worker     = "rf-one--worker"
  db_role_migrate    = "rf-one--migrate"
  db_owner_role      = "rf_one__owner"
  db_app_role        = "rf_one__rw"
  redis_role_app     = "rf-one--redis-app"
  redis_role_worker  = "rf-one--redis-worker"
}
vault        = {
  kv_mount       = "tenantctl"
  database_mount = "database"
}
update       = {
  min_healthy_time  = "5s"
  healthy_deadline  = "3m"
  progress_deadline = "5m"
}
resources    = {
  postgres_cpu             = 200
  postgres_memory          = 256
  postgres_max_connections = 50
  redis_cpu                = 100
  redis_memory             = 128
  redis_maxmemory          = 64
  app_count                = 1
  app_cpu                  = 200
  app_memory               = 128
  worker_count             = 1
  worker_cpu               = 100
  worker_memory            = 128
  migrate_cpu              = 100
  migrate_memory           = 128
}
images       = {
  postgres  = "postgres:15"
  redis     = "redis:7"
  app       = "ghcr.io/tenantctl/tenant-app:latest"
  tenantctl = "ghcr.io/tenantctl/tenantctl:latest"
}
