package config

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v; want nil", err)
	}
}

func TestParseOverlaysDefaults(t *testing.T) {
	src := `
base_domain    = "tenants.example.com"
datacenters    = ["dc1", "dc2"]
profile        = "exec"
router_address = "127.0.0.1:8080"
path_routing_host = "apps.example.com"

vault {
  kv_mount = "secret/tenantctl"
}

exec {
  tenant_app = "/opt/tenant-app/bin/tenant-app"
}

plan "large" {
  app_count       = 5
  redis_maxmemory = 1000
}
`
	cfg, err := Parse([]byte(src), "tenantctl.hcl")
	if err != nil {
		t.Fatal(err)
	}
	def := Default()
	if cfg.BaseDomain != "tenants.example.com" || len(cfg.Datacenters) != 2 || cfg.Profile != tenant.ProfileExec ||
		cfg.RouterAddress != "127.0.0.1:8080" || cfg.PathRoutingHost != "apps.example.com" || cfg.Vault.KVMount != "secret/tenantctl" ||
		cfg.Vault.DatabaseMount != def.Vault.DatabaseMount || cfg.Exec.TenantApp != "/opt/tenant-app/bin/tenant-app" ||
		cfg.Exec.RedisServer != def.Exec.RedisServer {
		t.Fatalf("got %+v; want the file's settings over the defaults", cfg)
	}
	large := cfg.Plans[tenant.PlanLarge]
	if large.AppCount != 5 || large.RedisMaxMemory != 1000 || large.AppCPU != def.Plans[tenant.PlanLarge].AppCPU {
		t.Fatalf("got large plan %+v; want app_count 5, redis_maxmemory 1000, the rest default", large)
	}
	if cfg.Plans[tenant.PlanSmall] != def.Plans[tenant.PlanSmall] {
		t.Fatalf("small plan changed; want the default")
	}
}

func TestRedisCLIFollowsRedisServer(t *testing.T) {
	for src, want := range map[string]string{
		``: "/usr/bin/redis-cli",
		`exec { redis_server = "/opt/redis/bin/redis-server" }`:                                     "/opt/redis/bin/redis-cli",
		`exec { redis_cli = "/usr/local/bin/redis-cli" }`:                                           "/usr/local/bin/redis-cli",
		"exec {\n  redis_server = \"/opt/r/redis-server\"\n  redis_cli = \"/usr/bin/redis-cli\"\n}": "/usr/bin/redis-cli",
	} {
		cfg, err := Parse([]byte(src), "t.hcl")
		if err != nil {
			t.Fatalf("Parse(%q): %v", src, err)
		}
		if cfg.Exec.RedisCLI != want {
			t.Errorf("Parse(%q): got redis_cli %q; want %q", src, cfg.Exec.RedisCLI, want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	cases := map[string]string{
		`base_domain = "Example.COM"`:                       "base_domain",
		`base_domain = "x.com\"; evil"`:                     "base_domain",
		`datacenters = []`:                                  "datacenters",
		`datacenters = ["dc1", "${x}"]`:                     "datacenters",
		`datacenters = "dc1"`:                               "datacenters",
		`profile = "podman"`:                                "profile",
		`router_address = "nohost"`:                         "router_address",
		`path_routing_host = "apps.example.com/x"`:          "path_routing_host",
		`path_routing_host = "Apps.Example.com"`:            "path_routing_host",
		`node_pool = "pool\nx"`:                             "node_pool",
		`bogus = 1`:                                         "bogus",
		"vault {}\nvault {}":                                "(schema)",
		`nomad { x = 1 }`:                                   "nomad",
		`vault { kv_mount = "/tenantctl/" }`:                "vault.kv_mount",
		`vault { database_mount = "../db" }`:                "vault.database_mount",
		`vault { typo = "x" }`:                              "vault.typo",
		`vault { creds_ttl = "forever" }`:                   "vault.creds_ttl",
		`vault { creds_ttl = "48h" }`:                       "vault.creds_ttl",
		`docker { app_image = "app:1 ; rm -rf /" }`:         "docker.app_image",
		`docker { app_image = "App:latest" }`:               "docker.app_image",
		`exec { tenant_app = "relative/path" }`:             "exec.tenant_app",
		`exec { data_dir = "/var/lib/../etc" }`:             "exec.data_dir",
		`exec { tenantctl = "/usr/bin/tenant ctl" }`:        "exec.tenantctl",
		`exec { postgres_user = "root;x" }`:                 "exec.postgres_user",
		`exec { redis_cli = "redis-cli" }`:                  "exec.redis_cli",
		`update { min_healthy_time = "10m" }`:               "update",
		`plan "huge" { app_count = 1 }`:                     "plan",
		`plan "small" { app_count = 0 }`:                    "plan.small.app_count",
		`plan "small" { app_count = 1.5 }`:                  "plan.small.app_count",
		`plan "small" { app_count = "2" }`:                  "plan.small.app_count",
		`plan "small" { redis_maxmemory = 4000 }`:           "plan.small.redis_maxmemory",
		`plan "small" { postgres_max_connections = 99999 }`: "plan.small.postgres_max_connections",
		`base_domain = var.x`:                               "base_domain",
		`base_domain = `:                                    "(syntax)",
	}
	for src, field := range cases {
		_, err := Parse([]byte(src), "t.hcl")
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("Parse(%q): got %v; want a *config.Error", src, err)
			continue
		}
		if ce.Field != field || ce.Example == "" || ce.File != "t.hcl" {
			t.Errorf("Parse(%q): got field %q example %q file %q; want field %q, an example and the file", src, ce.Field, ce.Example, ce.File, field)
		}
		if strings.Contains(err.Error(), "\n") && field != "(syntax)" && field != "(schema)" && field != "base_domain" {
			t.Errorf("Parse(%q): error %q spans lines", src, err)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tenantctl.hcl")
	if err := os.WriteFile(path, []byte(`node_pool = "tenants"`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil || cfg.NodePool != "tenants" {
		t.Fatalf("Load = %+v, %v; want node_pool tenants", cfg.NodePool, err)
	}
	if _, err := Load(filepath.Join(dir, "missing.hcl")); err == nil {
		t.Fatalf("Load(missing explicit file): got ok; want error")
	}
}

func TestErrorsNameTheLine(t *testing.T) {
	cases := []struct {
		src, field string
		line       int
	}{
		{"base_domain = \"ok.example.com\"\n\nvault {\n  kv_mount = \"/bad/\"\n}\n", "vault.kv_mount", 4},
		{"node_pool = \"a\"\nplan \"small\" {\n  app_count = 1\n  app_memory = \"lots\"\n}\n", "plan.small.app_memory", 4},
		{"profile = \"docker\"\n\n\nplan \"huge\" {\n}\n", "plan", 4},
		{"exec {\n  tenant_app = \"/x\"\n  typo = 1\n}\n", "exec.typo", 3},
		// A value rejected after decoding (validation) still names its line.
		{"datacenters = [\"dc1\"]\nbase_domain = \"Bad.COM\"\n", "base_domain", 2},
		{"update {\n  min_healthy_time = \"10m\"\n}\n", "update", 1},
		{"base_domain = \"x\"\nvault {\n  kv_mount = \"a\"\n", "(syntax)", 2},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.src), "tenantctl.hcl")
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("Parse(%q): got %v; want a *config.Error", c.src, err)
		}
		if ce.Field != c.field || ce.Line != c.line {
			t.Errorf("Parse(%q): got %s at line %d; want %s at line %d", c.src, ce.Field, ce.Line, c.field, c.line)
		}
		if c.line > 0 && !strings.Contains(err.Error(), "tenantctl.hcl:"+strconv.Itoa(c.line)+":") {
			t.Errorf("Parse(%q): error %q does not say tenantctl.hcl:%d", c.src, err, c.line)
		}
	}
}

func TestBackupConfig(t *testing.T) {
	cfg, err := Parse([]byte(`
backup {
  dir      = "/srv/backups"
  schedule = "30 2 * * *"
  keep     = 5
}
plan "large" {
  app_count = 2
  backup {
    schedule = "0 * * * *"
  }
}
plan "small" {
  backup {
    schedule = ""
    keep     = 0
  }
}
`), "t.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Backup; got.Dir != "/srv/backups" || got.Schedule != "30 2 * * *" || got.Keep != 5 || got.Volume != "tenantctl-backups" {
		t.Errorf("backup: got %+v", got)
	}
	if got := cfg.BackupFor(tenant.PlanLarge); got.Schedule != "0 * * * *" || got.Keep != 5 {
		t.Errorf("large: got %+v; want the plan's schedule and the top-level keep", got)
	}
	if got := cfg.BackupFor(tenant.PlanSmall); got.Schedule != "" || got.Keep != 0 {
		t.Errorf("small: got %+v; want no schedule, keep all", got)
	}
	if got := cfg.BackupFor(tenant.PlanMedium); got.Schedule != "30 2 * * *" {
		t.Errorf("medium: got %+v; want the top-level backup", got)
	}
	if cfg.Plans[tenant.PlanLarge].AppCount != 2 {
		t.Errorf("large app_count: got %d; want 2", cfg.Plans[tenant.PlanLarge].AppCount)
	}
}

func TestBackupConfigRefusals(t *testing.T) {
	for _, tc := range []struct{ src, field string }{
		{`backup { schedule = "every day" }`, "backup.schedule"},
		{`backup { schedule = "61 * * * *" }`, "backup.schedule"},
		{`backup { schedule = "* * * *" }`, "backup.schedule"},
		{`backup { schedule = "@sometimes" }`, "backup.schedule"},
		{`backup { schedule = "0 3 * * *; rm" }`, "backup.schedule"},
		{`backup { dir = "relative/dir" }`, "backup.dir"},
		{`backup { dir = "/a/../b" }`, "backup.dir"},
		{`backup { keep = -1 }`, "backup.keep"},
		{`backup { keep = "3" }`, "backup.keep"},
		{"plan \"small\" {\n  backup { keep = -2 }\n}", "plan.small.backup.keep"},
		{"plan \"small\" {\n  backup { cron = \"x\" }\n}", "plan.small.backup.cron"},
	} {
		_, err := Parse([]byte(tc.src), "t.hcl")
		var ce *Error
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%s: got %v; want an error about %s", tc.src, err, tc.field)
		}
	}
	for _, ok := range []string{"0 3 * * *", "*/15 * * * *", "@daily", "0 0 3 * * * *", "0 3 * * MON-FRI"} {
		if err := CheckSchedule(ok); err != nil {
			t.Errorf("CheckSchedule(%q): %v", ok, err)
		}
	}
}
