package testenv

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	vaultapi "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

func TestRedisIsReal(t *testing.T) {
	t.Parallel()
	r := SharedRedis(t)
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Addr: r.Addr, Username: r.AdminUser, Password: r.AdminPassword})
	defer admin.Close()
	if err := admin.Do(ctx, "ACL", "SETUSER", "harness-user", "on", ">pw-harness", "~*", "+get", "+set").Err(); err != nil {
		t.Fatalf("ACL SETUSER as admin: %v", err)
	}
	// The default user is off: an unauthenticated command is refused.
	anon := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer anon.Close()
	if err := anon.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("PING as the default user: got %v; want a NOAUTH refusal", err)
	}
	user := redis.NewClient(&redis.Options{Addr: r.Addr, Username: "harness-user", Password: "pw-harness"})
	defer user.Close()
	if err := user.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET as the new user: %v", err)
	}
	if err := user.Do(ctx, "CONFIG", "GET", "maxmemory").Err(); err == nil {
		t.Fatalf("CONFIG as a restricted user succeeded; want NOPERM")
	}
}

func TestVaultIsReal(t *testing.T) {
	t.Parallel()
	v := SharedVault(t)
	c := v.Client(t)
	ctx := context.Background()

	// KV v2 (the dev server mounts it at secret/).
	if _, err := c.KVv2("secret").Put(ctx, "harness", map[string]any{"k": "v1"}); err != nil {
		t.Fatalf("kv put: %v", err)
	}
	s, err := c.KVv2("secret").Get(ctx, "harness")
	if err != nil || s.Data["k"] != "v1" {
		t.Fatalf("kv get = %v, %v; want k=v1", s, err)
	}

	// The database engine issues a Postgres user that can log in.
	pg := StartPostgres(t)
	if err := c.Sys().Mount("db-harness", &vaultapi.MountInput{Type: "database"}); err != nil {
		t.Fatalf("mount database: %v", err)
	}
	_, err = c.Logical().Write("db-harness/config/pg", map[string]any{
		"plugin_name":    "postgresql-database-plugin",
		"connection_url": fmt.Sprintf("postgresql://{{username}}:{{password}}@127.0.0.1:%d/postgres?sslmode=disable", pg.Port),
		"username":       pg.User,
		"password":       pg.Password,
		"allowed_roles":  "ro",
	})
	if err != nil {
		t.Fatalf("configure postgres connection: %v", err)
	}
	_, err = c.Logical().Write("db-harness/roles/ro", map[string]any{
		"db_name":             "pg",
		"creation_statements": `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
		"default_ttl":         "5m",
	})
	if err != nil {
		t.Fatalf("create role: %v", err)
	}
	creds, err := c.Logical().Read("db-harness/creds/ro")
	if err != nil {
		t.Fatalf("read creds: %v", err)
	}
	user, pass := creds.Data["username"].(string), creds.Data["password"].(string)
	dyn := *pg
	dyn.User, dyn.Password = user, pass
	conn, err := pgx.Connect(ctx, dyn.URL("postgres"))
	if err != nil {
		t.Fatalf("log in as the dynamic user: %v", err)
	}
	var who string
	if err := conn.QueryRow(ctx, "SELECT current_user").Scan(&who); err != nil || who != user {
		t.Fatalf("current_user = %q, %v; want the dynamic user", who, err)
	}
	conn.Close(ctx)

	// The built-in redis plugin issues an ACL user that can PING.
	r := StartRedis(t)
	host, port, _ := strings.Cut(r.Addr, ":")
	_, err = c.Logical().Write("db-harness/config/redis", map[string]any{
		"plugin_name":   "redis-database-plugin",
		"host":          host,
		"port":          port,
		"username":      r.AdminUser,
		"password":      r.AdminPassword,
		"allowed_roles": "cache",
	})
	if err != nil {
		t.Fatalf("configure redis connection: %v", err)
	}
	_, err = c.Logical().Write("db-harness/roles/cache", map[string]any{
		"db_name":             "redis",
		"creation_statements": `["~*", "+@read", "+@write", "+ping"]`,
		"default_ttl":         "5m",
	})
	if err != nil {
		t.Fatalf("create redis role: %v", err)
	}
	rc, err := c.Logical().Read("db-harness/creds/cache")
	if err != nil {
		t.Fatalf("read redis creds: %v", err)
	}
	cl := redis.NewClient(&redis.Options{Addr: r.Addr, Username: rc.Data["username"].(string), Password: rc.Data["password"].(string)})
	defer cl.Close()
	if err := cl.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING as the dynamic redis user: %v", err)
	}
}

func TestConsulIsReal(t *testing.T) {
	t.Parallel()
	c := SharedConsul(t).Client(t)
	if _, err := c.KV().Put(&consulapi.KVPair{Key: "harness/k", Value: []byte("v")}, nil); err != nil {
		t.Fatalf("kv put: %v", err)
	}
	kv, _, err := c.KV().Get("harness/k", nil)
	if err != nil || kv == nil || string(kv.Value) != "v" {
		t.Fatalf("kv get = %v, %v; want v", kv, err)
	}

	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer backend.Close()
	port, _ := strconv.Atoi(backend.URL[strings.LastIndex(backend.URL, ":")+1:])
	err = c.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
		ID: "harness-web", Name: "harness-web", Address: "127.0.0.1", Port: port,
		Check: &consulapi.AgentServiceCheck{HTTP: backend.URL, Interval: "200ms", Timeout: "1s"},
	})
	if err != nil {
		t.Fatalf("register service: %v", err)
	}
	defer func() { _ = c.Agent().ServiceDeregister("harness-web") }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		entries, _, err := c.Health().Service("harness-web", "", true, nil)
		if err == nil && len(entries) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("service never became passing: %d entries, %v", len(entries), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestMissingBinaryNamesTheFix(t *testing.T) {
	t.Setenv("TENANTCTL_TESTSERVERS_CACHE", t.TempDir())
	_, err := builtBinary("vault", VaultVersion)
	if err == nil || !strings.Contains(err.Error(), "scripts/testservers.sh vault") {
		t.Fatalf("error = %v; want the build command", err)
	}
	_, err = debianBinary("no-such-server-binary", "no-such-package")
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y no-such-package") {
		t.Fatalf("error = %v; want the install command", err)
	}
}

// BenchmarkHarnessReady measures how long private Vault, Consul, Postgres and
// Redis servers take to be ready when started together.
func BenchmarkHarnessReady(b *testing.B) {
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		wg.Add(4)
		go func() { defer wg.Done(); StartVault(b) }()
		go func() { defer wg.Done(); StartConsul(b) }()
		go func() { defer wg.Done(); StartPostgres(b) }()
		go func() { defer wg.Done(); StartRedis(b) }()
		wg.Wait()
	}
}
