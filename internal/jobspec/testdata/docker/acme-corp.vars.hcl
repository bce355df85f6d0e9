# Variables of tenant acme-corp for the tenantctl jobspecs, written by `tenantctl render`.
# Every jobspec of the profile declares exactly these variables. No secrets here.
#   nomad job run -var-file=acme-corp.vars.hcl postgres.nomad.hcl

tenant_id    = "acme-corp"
tenant_name  = "A \"Co\" $var.tenant_id %%{ if 1 }x%%{ endif } $$ {x} \\ ; DROP x; `id` {{ .Data }} ../ Ünï"
host         = "acme-corp.tenants.example.com"
datacenters  = ["dc1"]
node_pool    = "default"
spec_version = "1"
names        = {
  namespace                   = "acme-corp--tenant"
  postgres_vault_role         = "acme-corp--nomad-postgres"
  redis_vault_role            = "acme-corp--nomad-redis"
  migrate_vault_role          = "acme-corp--nomad-migrate"
  app_vault_role              = "acme-corp--nomad-app"
  worker_vault_role           = "acme-corp--nomad-worker"
  backup_vault_role           = "acme-corp--nomad-backup"
  restore_vault_role          = "acme-corp--nomad-restore"
  scheduled_backup_vault_role = "acme-corp--nomad-scheduled-backup"
  bootstrap_path              = "tenants/acme-corp/bootstrap"
  database                    = "acme_corp__app"
  postgres_job                = "acme-corp--postgres"
  redis_job                   = "acme-corp--redis"
  migrate_job                 = "acme-corp--migrate"
  app_job                     = "acme-corp--app"
  worker_job                  = "acme-corp--worker"
  backup_job                  = "acme-corp--backup"
  restore_job                 = "acme-corp--restore"
  scheduled_backup_job        = "acme-corp--scheduled-backup"
  postgres_service            = "acme-corp--postgres"
  redis_service               = "acme-corp--redis"
  app_service                 = "acme-corp--app"
  worker_service              = "acme-corp--worker"
  postgres_volume             = "acme-corp--postgres-data"
  redis_volume                = "acme-corp--redis-data"
  redis_admin_user            = "acme-corp--admin"
  redis_aclsave_user          = "acme-corp--aclsave"
  db_role_migrate             = "acme-corp--migrate"
  db_role_app                 = "acme-corp--app"
  db_role_worker              = "acme-corp--worker"
  db_role_backup              = "acme-corp--backup"
  db_role_restore             = "acme-corp--restore"
  db_role_scheduled_backup    = "acme-corp--scheduled-backup"
  db_owner_role               = "acme_corp__owner"
  db_app_role                 = "acme_corp__rw"
  redis_role_app              = "acme-corp--redis-app"
  redis_role_worker           = "acme-corp--redis-worker"
  redis_role_backup           = "acme-corp--redis-backup"
  redis_role_restore          = "acme-corp--redis-restore"
  redis_role_scheduled_backup = "acme-corp--redis-scheduled-backup"
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
backup       = {
  dir      = "/var/lib/tenantctl-backups"
  volume   = "tenantctl-backups"
  schedule = ""
  keep     = 7
}
images       = {
  postgres  = "postgres:15"
  redis     = "redis:7"
  app       = "tenantctl/tenant-app:0.1.0"
  tenantctl = "tenantctl/tenantctl:0.1.0"
  backup    = "tenantctl/tenantctl-backup:0.1.0"
}
