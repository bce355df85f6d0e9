package config

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// The value checks. Every string that reaches a jobspec var file, nginx
// config or SQL is held to a small character set, so none of them needs
// escaping there (var files escape anyway).
var (
	nomadNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	mountRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*$`)
	durationRE  = regexp.MustCompile(`^([0-9]+(ms|s|m|h))+$`)
	imageRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9._/-]*(:[0-9]+)?(/[a-z0-9][a-z0-9._-]*)*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(@sha256:[a-f0-9]{64})?$`)
	pathRE      = regexp.MustCompile(`^(/[A-Za-z0-9._+-]+)+$`)
	userRE      = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	hostPartRE  = regexp.MustCompile(`^[A-Za-z0-9.:-]+$`)
)

// CheckNomadName validates a datacenter or node pool name.
func CheckNomadName(s string) error {
	if !nomadNameRE.MatchString(s) {
		return fmt.Errorf("use 1–64 letters, digits, '_' and '-'")
	}
	return nil
}

// CheckMount validates a Vault mount path such as "database" or "tenants/kv".
func CheckMount(s string) error {
	if len(s) > 128 || !mountRE.MatchString(s) {
		return fmt.Errorf("use lower-case letters, digits, '_', '-' and single '/' between segments, no leading or trailing '/'")
	}
	return nil
}

// CheckDuration validates a Nomad/Vault duration such as "5s", "1m30s" or "24h".
func CheckDuration(s string) error {
	if !durationRE.MatchString(s) {
		return fmt.Errorf("use a duration such as 30s, 5m or 1h30m")
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return fmt.Errorf("use a positive duration such as 30s")
	}
	return nil
}

// CheckImage validates a container image reference.
func CheckImage(s string) error {
	if len(s) > 255 || !imageRE.MatchString(s) {
		return fmt.Errorf("use an image reference such as registry.example.com/team/app:1.2.3")
	}
	return nil
}

// CheckPath validates an absolute host path with no "." or ".." segments.
func CheckPath(s string) error {
	if len(s) > 255 || !pathRE.MatchString(s) {
		return fmt.Errorf("use an absolute path of letters, digits and . _ + -")
	}
	for _, seg := range strings.Split(s, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("the path must not contain . or .. segments")
		}
	}
	return nil
}

// CheckUser validates an OS user name.
func CheckUser(s string) error {
	if !userRE.MatchString(s) {
		return fmt.Errorf("use a lower-case user name such as postgres")
	}
	return nil
}

// CheckAppUser validates the OS user of the app and worker tasks: a user
// name other than root.
func CheckAppUser(s string) error {
	if err := CheckUser(s); err != nil {
		return err
	}
	if s == "root" {
		return fmt.Errorf("the app and worker must not run as root; use an unprivileged user such as nobody")
	}
	return nil
}

// CheckAppID validates the uid or gid of the app and worker tasks' user:
// 1 to 2147483647 (0 is root).
func CheckAppID(id int) error {
	if id < 1 || id > 1<<31-1 {
		return fmt.Errorf("it must be between 1 and 2147483647 (0 is root)")
	}
	return nil
}

// CheckHostPort validates host:port (an empty string is allowed by callers
// that make it optional).
func CheckHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || !hostPartRE.MatchString(host) {
		return fmt.Errorf("use host:port such as 127.0.0.1:8080")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("the port must be 1–65535")
	}
	return nil
}

type check struct {
	field, value, example string
	fn                    func(string) error
}

// Validate checks every value and returns an *Error for the first bad one.
func (c Config) Validate() error {
	checks := []check{
		{"base_domain", c.BaseDomain, `"tenants.example.com"`, tenant.ValidateHostname},
		{"node_pool", c.NodePool, `"default"`, CheckNomadName},
		{"vault.jwt_auth_path", c.Vault.JWTAuthPath, `"jwt-nomad"`, CheckMount},
		{"vault.kv_mount", c.Vault.KVMount, `"tenantctl"`, CheckMount},
		{"vault.database_mount", c.Vault.DatabaseMount, `"database"`, CheckMount},
		{"vault.creds_ttl", c.Vault.CredsTTL, `"1h"`, CheckDuration},
		{"vault.creds_max_ttl", c.Vault.CredsMaxTTL, `"24h"`, CheckDuration},
		{"vault.token_ttl", c.Vault.TokenTTL, `"1h"`, CheckDuration},
		{"docker.postgres_image", c.Docker.PostgresImage, `"postgres:15"`, CheckImage},
		{"docker.redis_image", c.Docker.RedisImage, `"redis:7"`, CheckImage},
		{"docker.app_image", c.Docker.AppImage, `"registry.example.com/tenant-app:1.0.0"`, CheckImage},
		{"docker.tenantctl_image", c.Docker.TenantctlImage, `"registry.example.com/tenantctl:1.0.0"`, CheckImage},
		{"docker.backup_image", c.Docker.BackupImage, `"registry.example.com/tenantctl-backup:1.0.0"`, CheckImage},
		{"exec.postgres_bin_dir", c.Exec.PostgresBinDir, `"/usr/lib/postgresql/15/bin"`, CheckPath},
		{"exec.postgres_user", c.Exec.PostgresUser, `"postgres"`, CheckUser},
		{"exec.redis_server", c.Exec.RedisServer, `"/usr/bin/redis-server"`, CheckPath},
		{"exec.redis_cli", c.Exec.RedisCLI, `"/usr/bin/redis-cli"`, CheckPath},
		{"exec.tenant_app", c.Exec.TenantApp, `"/usr/local/bin/tenant-app"`, CheckPath},
		{"exec.tenantctl", c.Exec.Tenantctl, `"/usr/local/bin/tenantctl"`, CheckPath},
		{"exec.data_dir", c.Exec.DataDir, `"/var/lib/tenantctl"`, CheckPath},
		{"exec.app_user", c.Exec.AppUser, `"nobody"`, CheckAppUser},
		{"exec.app_uid", strconv.Itoa(c.Exec.AppUID), `65534`, func(string) error { return CheckAppID(c.Exec.AppUID) }},
		{"exec.app_gid", strconv.Itoa(c.Exec.AppGID), `65534`, func(string) error { return CheckAppID(c.Exec.AppGID) }},
		{"update.min_healthy_time", c.Update.MinHealthyTime, `"5s"`, CheckDuration},
		{"update.healthy_deadline", c.Update.HealthyDeadline, `"3m"`, CheckDuration},
		{"update.progress_deadline", c.Update.ProgressDeadline, `"5m"`, CheckDuration},
		{"backup.dir", c.Backup.Dir, `"/var/lib/tenantctl-backups"`, CheckPath},
		{"backup.volume", c.Backup.Volume, `"tenantctl-backups"`, CheckNomadName},
		{"backup.schedule", c.Backup.Schedule, `"0 3 * * *"`, CheckScheduleOrEmpty},
		{"backup.keep", strconv.Itoa(c.Backup.Keep), `7`, func(string) error { return CheckKeep(c.Backup.Keep) }},
	}
	for _, p := range tenant.Plans {
		o, ok := c.PlanBackups[p]
		if !ok {
			continue
		}
		if o.Schedule != nil {
			checks = append(checks, check{"plan." + string(p) + ".backup.schedule", *o.Schedule, `"0 3 * * *"`, CheckScheduleOrEmpty})
		}
		if o.Keep != nil {
			keep := *o.Keep
			checks = append(checks, check{"plan." + string(p) + ".backup.keep", strconv.Itoa(keep), `7`, func(string) error { return CheckKeep(keep) }})
		}
	}
	if c.RouterAddress != "" {
		checks = append(checks, check{"router_address", c.RouterAddress, `"127.0.0.1:8080"`, CheckHostPort})
	}
	if c.PathRoutingHost != "" {
		checks = append(checks, check{"path_routing_host", c.PathRoutingHost, `"apps.example.com"`, tenant.ValidateHostname})
	}
	if len(c.Datacenters) == 0 {
		return &Error{Field: "datacenters", Value: "[]", Reason: "it is empty", Example: `datacenters = ["dc1"]`}
	}
	for _, dc := range c.Datacenters {
		checks = append(checks, check{"datacenters", dc, `["dc1"]`, CheckNomadName})
	}
	for _, ch := range checks {
		if err := ch.fn(ch.value); err != nil {
			return &Error{Field: ch.field, Value: ch.value, Reason: err.Error(), Example: ch.field + " = " + ch.example}
		}
	}
	if _, err := tenant.ParseProfile(string(c.Profile)); err != nil {
		return &Error{Field: "profile", Value: string(c.Profile), Reason: "unknown profile", Example: `profile = "docker"`}
	}
	if err := c.checkDurations(); err != nil {
		return err
	}
	for _, p := range tenant.Plans {
		plan, ok := c.Plans[p]
		if !ok {
			return &Error{Field: "plan." + string(p), Reason: "the plan is missing", Example: fmt.Sprintf("plan %q { app_count = 1 }", p)}
		}
		if err := plan.validate("plan." + string(p) + "."); err != nil {
			return err
		}
	}
	return nil
}

func (c Config) checkDurations() error {
	d := func(s string) time.Duration { v, _ := time.ParseDuration(s); return v }
	if d(c.Vault.CredsTTL) > d(c.Vault.CredsMaxTTL) {
		return &Error{Field: "vault.creds_ttl", Value: c.Vault.CredsTTL, Reason: "it is longer than vault.creds_max_ttl",
			Example: `creds_ttl = "1h" with creds_max_ttl = "24h"`}
	}
	if err := checkRotation(d(c.Vault.CredsTTL), d(c.Vault.CredsMaxTTL)); err != nil {
		return err
	}
	if err := CheckUpdateOrder(c.Update.MinHealthyTime, c.Update.HealthyDeadline, c.Update.ProgressDeadline); err != nil {
		return &Error{Field: "update", Value: c.Update.MinHealthyTime + " < " + c.Update.HealthyDeadline + " < " + c.Update.ProgressDeadline,
			Reason: err.Error(), Example: `"5s" < "3m" < "5m"`}
	}
	return nil
}

// CheckUpdateOrder checks that min_healthy_time < healthy_deadline <
// progress_deadline, each already a valid duration (CheckDuration).
func CheckUpdateOrder(minHealthy, healthyDeadline, progressDeadline string) error {
	d := func(s string) time.Duration { v, _ := time.ParseDuration(s); return v }
	if d(minHealthy) >= d(healthyDeadline) || d(healthyDeadline) >= d(progressDeadline) {
		return fmt.Errorf("min_healthy_time < healthy_deadline < progress_deadline must hold")
	}
	return nil
}

// planBound is the range of one plan setting.
type planBound struct {
	name     string
	min, max int
}

// planBounds are the ranges of every plan setting, in the order of Plan's
// fields; the jobspec --var overrides of the same names obey them too.
var planBounds = []planBound{
	{"postgres_cpu", 10, 1_000_000}, {"postgres_memory", 64, 4 << 20},
	{"postgres_max_connections", 10, 10_000},
	{"redis_cpu", 10, 1_000_000}, {"redis_memory", 16, 4 << 20},
	{"redis_maxmemory", 1, 4 << 20},
	{"app_count", 1, 100}, {"app_cpu", 10, 1_000_000}, {"app_memory", 16, 4 << 20},
	{"worker_count", 1, 100}, {"worker_cpu", 10, 1_000_000},
	{"worker_memory", 16, 4 << 20},
	{"migrate_cpu", 10, 1_000_000}, {"migrate_memory", 16, 4 << 20},
}

// CheckPlanValue checks v against the range of plan setting name (such as
// app_count); an unknown name is an error.
func CheckPlanValue(name string, v int) error {
	for _, b := range planBounds {
		if b.name == name {
			if v < b.min || v > b.max {
				return fmt.Errorf("it must be between %d and %d", b.min, b.max)
			}
			return nil
		}
	}
	return fmt.Errorf("%s is not a plan setting", name)
}

// planValueExample is a valid value of plan setting name, for messages.
func planValueExample(name string) int {
	for _, b := range planBounds {
		if b.name == name {
			return b.min * 4
		}
	}
	return 1
}

func (p Plan) validate(prefix string) error {
	values := []int{
		p.PostgresCPU, p.PostgresMemory, p.PostgresMaxConnections,
		p.RedisCPU, p.RedisMemory, p.RedisMaxMemory,
		p.AppCount, p.AppCPU, p.AppMemory,
		p.WorkerCount, p.WorkerCPU, p.WorkerMemory,
		p.MigrateCPU, p.MigrateMemory,
	}
	for i, b := range planBounds {
		if err := CheckPlanValue(b.name, values[i]); err != nil {
			return &Error{Field: prefix + b.name, Value: strconv.Itoa(values[i]),
				Reason: err.Error(), Example: fmt.Sprintf("%s = %d", b.name, planValueExample(b.name))}
		}
	}
	if p.RedisMaxMemory >= p.RedisMemory {
		return &Error{Field: prefix + "redis_maxmemory", Value: strconv.Itoa(p.RedisMaxMemory),
			Reason:  fmt.Sprintf("it must be below redis_memory (%d MiB), leaving room for Redis itself", p.RedisMemory),
			Example: fmt.Sprintf("redis_maxmemory = %d", p.RedisMemory/2)}
	}
	return nil
}
