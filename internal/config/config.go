// Package config reads tenantctl's project config, tenantctl.hcl: the
// cluster-wide settings every tenant shares (base domain, datacenters, node
// pool, runtime profile, images and host binaries, plan sizes, Vault mount
// paths, router address, update timings and credential TTLs).
//
// A missing file means the defaults, which are enough for `tenantctl render`.
// A file only needs the settings it changes. Every value is validated, because
// most of them end up in HCL var files, nginx config or SQL.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/version"
)

// DefaultFile is the config file read when none is given and it exists.
const DefaultFile = "tenantctl.hcl"

// Config is the validated project config.
type Config struct {
	// BaseDomain is the parent of every default tenant host: <id>.<BaseDomain>.
	BaseDomain string
	// Datacenters the tenant jobs may run in.
	Datacenters []string
	// NodePool the tenant jobs run in.
	NodePool string
	// Profile is the default runtime profile (docker or exec).
	Profile tenant.Profile
	// RouterAddress is host:port of the nginx router; empty skips the
	// Host-header probe.
	RouterAddress string
	// PathRoutingHost is the shared host under which the router serves
	// /<tenant-id>/... for every tenant (the router job's path_routing_host);
	// when set, up's routing check probes that path too. Empty: off.
	PathRoutingHost string

	Vault  Vault
	Docker Docker
	Exec   Exec
	Update Update
	// Backup is where backups go and when the scheduled backup runs; a
	// plan may override Schedule and Keep (BackupFor).
	Backup Backup
	// Plans holds the size of each plan.
	Plans map[tenant.Plan]Plan
	// PlanBackups holds the plans' backup overrides (plan "x" { backup {…} }).
	PlanBackups map[tenant.Plan]PlanBackup
}

// Vault holds Vault mount paths and credential TTLs.
type Vault struct {
	JWTAuthPath   string `hcl:"jwt_auth_path,optional"`  // jwt auth mount for Nomad workload identity
	KVMount       string `hcl:"kv_mount,optional"`       // KV v2 mount holding bootstrap secrets
	DatabaseMount string `hcl:"database_mount,optional"` // database secrets engine mount
	CredsTTL      string `hcl:"creds_ttl,optional"`      // default TTL of dynamic credentials
	CredsMaxTTL   string `hcl:"creds_max_ttl,optional"`  // max TTL of dynamic credentials
	TokenTTL      string `hcl:"token_ttl,optional"`      // TTL of the tokens the jwt role issues
}

// Docker holds the images of the docker profile. The defaults of AppImage and
// TenantctlImage are what `go tool task images` builds from this checkout
// (tenantctl/<name>:<version>); a cluster pulls them from a registry the
// operator pushed them to and names here.
type Docker struct {
	PostgresImage  string `hcl:"postgres_image,optional"`
	RedisImage     string `hcl:"redis_image,optional"`
	AppImage       string `hcl:"app_image,optional"`       // runs `tenant-app serve|work`
	TenantctlImage string `hcl:"tenantctl_image,optional"` // runs `tenantctl db migrate`
	// BackupImage runs `tenantctl db backup|restore`: tenantctl and the
	// PostgreSQL client tools (pg_dump, pg_restore) on its PATH.
	BackupImage string `hcl:"backup_image,optional"`
}

// Exec holds the host binaries and data directory of the exec profile.
type Exec struct {
	PostgresBinDir string `hcl:"postgres_bin_dir,optional"` // holds initdb and postgres
	PostgresUser   string `hcl:"postgres_user,optional"`    // OS user postgres runs as (it refuses root)
	RedisServer    string `hcl:"redis_server,optional"`
	// RedisCLI runs ACL SAVE in the Redis job's sidecar. When the file sets
	// redis_server but not redis_cli, it is the redis-cli next to redis_server.
	RedisCLI  string `hcl:"redis_cli,optional"`
	TenantApp string `hcl:"tenant_app,optional"`
	Tenantctl string `hcl:"tenantctl,optional"`
	// DataDir holds one directory per tenant volume; it outlives jobs.
	DataDir string `hcl:"data_dir,optional"`
	// AppUser is the OS user the app and worker tasks run as (never root),
	// and AppUID and AppGID its ids on the Nomad clients: their credential
	// files are rendered 0400 and owned by them.
	AppUser string `hcl:"app_user,optional"`
	AppUID  int    `hcl:"app_uid,optional"`
	AppGID  int    `hcl:"app_gid,optional"`
}

// Backup holds the settings of tenant backups (docs/backups.md). Each tenant
// gets <dir>/<tenant>/<backup-id>/ under the root.
type Backup struct {
	// Dir is the backup root on the Nomad client (exec profile).
	Dir string `hcl:"dir,optional"`
	// Volume is the Nomad host volume holding the backup root (docker
	// profile), declared in the clients' config (host_volume "<name>").
	Volume string `hcl:"volume,optional"`
	// Schedule is the cron expression (UTC) of the scheduled backup job;
	// empty: no scheduled backups.
	Schedule string `hcl:"schedule,optional"`
	// Keep is how many backups of a tenant the backup job keeps, newest
	// first; 0 keeps all.
	Keep int `hcl:"keep,optional"`
}

// PlanBackup is a plan's override of the backup schedule and retention: a
// setting the plan's backup block leaves out is the top-level one.
type PlanBackup struct {
	Schedule *string
	Keep     *int
}

// BackupFor returns the backup settings of a tenant on plan p.
func (c Config) BackupFor(p tenant.Plan) Backup {
	b := c.Backup
	if o, ok := c.PlanBackups[p]; ok {
		if o.Schedule != nil {
			b.Schedule = *o.Schedule
		}
		if o.Keep != nil {
			b.Keep = *o.Keep
		}
	}
	return b
}

// Update holds the deployment timings of service jobs.
type Update struct {
	MinHealthyTime   string `hcl:"min_healthy_time,optional"`
	HealthyDeadline  string `hcl:"healthy_deadline,optional"`
	ProgressDeadline string `hcl:"progress_deadline,optional"`
}

// Plan is the size of every job for one plan. CPU is in MHz, memory in MiB.
type Plan struct {
	PostgresCPU            int `hcl:"postgres_cpu,optional"`
	PostgresMemory         int `hcl:"postgres_memory,optional"`
	PostgresMaxConnections int `hcl:"postgres_max_connections,optional"`
	RedisCPU               int `hcl:"redis_cpu,optional"`
	RedisMemory            int `hcl:"redis_memory,optional"`
	RedisMaxMemory         int `hcl:"redis_maxmemory,optional"` // MiB; Redis evicts nothing and refuses writes beyond it
	AppCount               int `hcl:"app_count,optional"`
	AppCPU                 int `hcl:"app_cpu,optional"`
	AppMemory              int `hcl:"app_memory,optional"`
	WorkerCount            int `hcl:"worker_count,optional"`
	WorkerCPU              int `hcl:"worker_cpu,optional"`
	WorkerMemory           int `hcl:"worker_memory,optional"`
	MigrateCPU             int `hcl:"migrate_cpu,optional"`
	MigrateMemory          int `hcl:"migrate_memory,optional"`
}

// Default returns the config used when there is no file.
func Default() Config {
	return Config{
		BaseDomain:  "tenants.localhost.test",
		Datacenters: []string{"dc1"},
		NodePool:    "default",
		Profile:     tenant.ProfileDocker,
		Vault: Vault{
			JWTAuthPath: "jwt-nomad", KVMount: "tenantctl", DatabaseMount: "database",
			CredsTTL: "1h", CredsMaxTTL: "24h", TokenTTL: "1h",
		},
		Docker: Docker{
			PostgresImage:  "postgres:15",
			RedisImage:     "redis:7",
			AppImage:       "tenantctl/tenant-app:" + version.Version,
			TenantctlImage: "tenantctl/tenantctl:" + version.Version,
			BackupImage:    "tenantctl/tenantctl-backup:" + version.Version,
		},
		Exec: Exec{
			PostgresBinDir: "/usr/lib/postgresql/15/bin",
			PostgresUser:   "postgres",
			RedisServer:    "/usr/bin/redis-server",
			RedisCLI:       "/usr/bin/redis-cli",
			TenantApp:      "/usr/local/bin/tenant-app",
			Tenantctl:      "/usr/local/bin/tenantctl",
			DataDir:        "/var/lib/tenantctl",
			AppUser:        "nobody",
			AppUID:         65534,
			AppGID:         65534,
		},
		Update: Update{MinHealthyTime: "5s", HealthyDeadline: "3m", ProgressDeadline: "5m"},
		Backup: Backup{Dir: "/var/lib/tenantctl-backups", Volume: "tenantctl-backups", Keep: 7},
		Plans: map[tenant.Plan]Plan{
			tenant.PlanSmall: {
				PostgresCPU: 200, PostgresMemory: 256, PostgresMaxConnections: 50,
				RedisCPU: 100, RedisMemory: 128, RedisMaxMemory: 64,
				AppCount: 1, AppCPU: 200, AppMemory: 128,
				WorkerCount: 1, WorkerCPU: 100, WorkerMemory: 128,
				MigrateCPU: 100, MigrateMemory: 128,
			},
			tenant.PlanMedium: {
				PostgresCPU: 500, PostgresMemory: 1024, PostgresMaxConnections: 100,
				RedisCPU: 200, RedisMemory: 512, RedisMaxMemory: 384,
				AppCount: 2, AppCPU: 500, AppMemory: 256,
				WorkerCount: 1, WorkerCPU: 250, WorkerMemory: 256,
				MigrateCPU: 100, MigrateMemory: 128,
			},
			tenant.PlanLarge: {
				PostgresCPU: 2000, PostgresMemory: 4096, PostgresMaxConnections: 200,
				RedisCPU: 500, RedisMemory: 2048, RedisMaxMemory: 1536,
				AppCount: 3, AppCPU: 1000, AppMemory: 512,
				WorkerCount: 2, WorkerCPU: 500, WorkerMemory: 512,
				MigrateCPU: 200, MigrateMemory: 256,
			},
		},
	}
}

// Error is an invalid config value: where it is, what is wrong and an
// example of a valid value.
type Error struct {
	File string
	// Line is where the file sets the value; 0 when unknown.
	Line    int
	Field   string // e.g. vault.kv_mount, plan.small.app_count
	Value   string
	Reason  string
	Example string
}

// Error returns "config <file>: <field> = <value>: <reason>".
func (e *Error) Error() string {
	v := e.Value
	if r := []rune(v); len(r) > 64 {
		v = string(r[:64]) + "…"
	}
	where := e.Field
	switch {
	case e.File != "" && e.Line > 0:
		where = fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Field)
	case e.File != "":
		where = e.File + ": " + e.Field
	}
	return fmt.Sprintf("config %s = %q: %s", where, v, e.Reason)
}

// Load reads the config at path. An empty path reads DefaultFile when it
// exists and otherwise returns the defaults. An explicit path must exist.
func Load(path string) (Config, error) {
	explicit := path != ""
	if !explicit {
		path = DefaultFile
	}
	src, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return Default(), nil
		}
		return Config{}, fmt.Errorf("config: read %s: %w", path, err)
	}
	return Parse(src, path)
}

// Parse parses and validates config source; filename is used in messages.
func Parse(src []byte, filename string) (Config, error) {
	f, err := ParseHCL(src, filename)
	if err != nil {
		return Config{}, err
	}
	cfg := Default()
	err = decodeFile(f, &cfg)
	if err == nil {
		err = cfg.Validate()
	}
	var ce *Error
	if errors.As(err, &ce) {
		f.Locate(ce)
	}
	return cfg, err
}
