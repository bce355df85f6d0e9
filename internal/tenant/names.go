package tenant

import "strings"

// Separator joins a tenant id to a component in every resource name. Tenant
// ids never contain it, so no name of tenant "acme" can be a prefix of a name
// of "acme-corp" or "acme2": Vault lists and revokes leases by prefix, and
// Nomad and Consul filter by prefix.
const Separator = "--"

// sqlSeparator plays the same role for Postgres identifiers, which are kept to
// [a-z0-9_] so they never need quoting; ids never contain "__".
const sqlSeparator = "__"

// Names is the name of every resource a tenant owns. All of them are derived
// from the id; nothing else may be used to name a tenant's resources.
type Names struct {
	ID ID

	// Nomad.
	Namespace   string // the tenant's Nomad namespace
	JobPostgres string
	JobRedis    string
	JobApp      string
	JobWorker   string
	JobMigrate  string // parameterized batch job
	// JobBackup and JobRestore are parameterized batch jobs dispatched by
	// tenantctl backup and restore; JobScheduledBackup is the periodic
	// backup job (only when the config sets a schedule).
	JobBackup          string
	JobRestore         string
	JobScheduledBackup string
	VolumePostgres     string // host volume holding Postgres data
	VolumeRedis        string // host volume holding Redis data

	// Consul.
	ServiceApp      string
	ServiceWorker   string
	ServicePostgres string
	ServiceRedis    string
	KVPrefix        string // tenant record, ends with "/"
	LockKey         string // the tenant's apply lock
	// BackupsKVPrefix holds one key per backup (its metadata, never a
	// secret), ends with "/". It is outside KVPrefix on purpose: down
	// deletes the tenant's record, and the catalogue of its backups must
	// outlive the tenant as the backup files do.
	BackupsKVPrefix string

	// Vault (names inside their mounts).
	// One identity per component (Names.Identity): its jwt auth role and
	// its ACL policy share the name.
	IdentityPostgres string
	IdentityRedis    string
	IdentityMigrate  string
	IdentityApp      string
	IdentityWorker   string
	IdentityBackup   string
	IdentityRestore  string
	// IdentityScheduledBackup is the periodic backup job's identity.
	IdentityScheduledBackup string
	// SharedPolicy and SharedJWTRole are the one policy and jwt role every
	// task of the tenant shared before per-component identities; up and
	// down delete them.
	SharedPolicy    string
	SharedJWTRole   string
	DBConnection    string // database mount: connection to the tenant's Postgres
	RedisConnection string // database mount: connection to the tenant's Redis
	DBRoleApp       string
	DBRoleWorker    string
	DBRoleMigrate   string
	RedisRoleApp    string
	RedisRoleWorker string
	// The backup jobs' credential roles: read-only dump rights for backup
	// and scheduled-backup, the owner's rights for restore.
	DBRoleBackup             string
	DBRoleRestore            string
	DBRoleScheduledBackup    string
	RedisRoleBackup          string
	RedisRoleRestore         string
	RedisRoleScheduledBackup string
	BootstrapPath            string // KV v2 path (inside the kv mount) of the bootstrap admin passwords

	// Postgres (identifiers are [a-z0-9_]).
	Database     string
	OwnerRole    string // NOLOGIN role owning the schema objects
	AppGroupRole string // NOLOGIN role granted to dynamic app/worker users
	DBBackupRole string // NOLOGIN role granted to dynamic backup users: read-only (SELECT) access
	// Redis.
	RedisAdminUser string // the admin ACL user Vault connects as
	// RedisACLSaveUser may run only ACL SAVE and PING: the Redis job's sidecar
	// logs in as it to persist Vault's ACL changes to the ACL file.
	RedisACLSaveUser string
}

// NamesFor returns the resource names of tenant id.
func NamesFor(id ID) Names {
	s := string(id)
	n := func(component string) string { return s + Separator + component }
	q := strings.ReplaceAll(s, "-", "_")
	sql := func(component string) string { return q + sqlSeparator + component }
	return Names{
		ID:          id,
		Namespace:   n("tenant"),
		JobPostgres: n("postgres"),
		JobRedis:    n("redis"),
		JobApp:      n("app"),
		JobWorker:   n("worker"),
		JobMigrate:  n("migrate"),

		JobBackup:          n("backup"),
		JobRestore:         n("restore"),
		JobScheduledBackup: n("scheduled-backup"),
		VolumePostgres:     n("postgres-data"),
		VolumeRedis:        n("redis-data"),

		ServiceApp:      n("app"),
		ServiceWorker:   n("worker"),
		ServicePostgres: n("postgres"),
		ServiceRedis:    n("redis"),
		KVPrefix:        "tenantctl/tenants/" + s + "/",
		LockKey:         "tenantctl/locks/" + s + "/lock",
		BackupsKVPrefix: "tenantctl/backups/" + s + "/",

		IdentityPostgres: n("nomad-postgres"),
		IdentityRedis:    n("nomad-redis"),
		IdentityMigrate:  n("nomad-migrate"),
		IdentityApp:      n("nomad-app"),
		IdentityWorker:   n("nomad-worker"),
		IdentityBackup:   n("nomad-backup"),
		IdentityRestore:  n("nomad-restore"),

		IdentityScheduledBackup: n("nomad-scheduled-backup"),
		SharedPolicy:            n("tenant"),
		SharedJWTRole:           n("nomad"),

		DBConnection:    n("postgres"),
		RedisConnection: n("redis"),
		DBRoleApp:       n("app"),
		DBRoleWorker:    n("worker"),
		DBRoleMigrate:   n("migrate"),
		RedisRoleApp:    n("redis-app"),
		RedisRoleWorker: n("redis-worker"),

		DBRoleBackup:             n("backup"),
		DBRoleRestore:            n("restore"),
		DBRoleScheduledBackup:    n("scheduled-backup"),
		RedisRoleBackup:          n("redis-backup"),
		RedisRoleRestore:         n("redis-restore"),
		RedisRoleScheduledBackup: n("redis-scheduled-backup"),

		BootstrapPath: "tenants/" + s + "/bootstrap",

		Database:     sql("app"),
		OwnerRole:    sql("owner"),
		AppGroupRole: sql("rw"),
		DBBackupRole: sql("backup"),

		RedisAdminUser:   n("admin"),
		RedisACLSaveUser: n("aclsave"),
	}
}
