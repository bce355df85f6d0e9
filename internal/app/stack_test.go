package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tenantctl/tenantctl/internal/app"
	"github.com/tenantctl/tenantctl/internal/migrate"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/testenv"
	"github.com/tenantctl/tenantctl/internal/vault"
	"github.com/tenantctl/tenantctl/migrations"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// observer is a superuser the tests keep for looking into the tenant's
// Postgres after Vault has rotated the tenant superuser's password.
const (
	observerUser     = "tenantapp_test_observer"
	observerPassword = "observer-password-for-tests-only"
)

// stack is one tenant set up as tenantctl sets it up: bootstrap secret,
// Postgres and Redis initialised with it, Vault connections and roles (roots
// rotated), migrations applied by a Vault-issued migrate user.
type stack struct {
	t        testing.TB
	names    tenant.Names
	root     *vaultapi.Client
	pg       *testenv.Postgres
	redis    *testenv.Redis
	observer *pgx.Conn
	envFile  string
	// secrets issued during the test, which must never be logged.
	mu      sync.Mutex
	secrets []string
}

// creds are one issue of Postgres and Redis credentials.
type creds struct {
	settings app.Settings
	leases   []string
	pgUser   string
}

func newStack(t testing.TB, id string) *stack {
	t.Helper()
	ctx := context.Background()
	tid, err := tenant.ParseID(id)
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, names: tenant.NamesFor(tid)}
	v := testenv.SharedVault(t)
	s.root = v.Client(t)
	client := vault.New(s.root, vault.Mounts{}, nil)

	// cluster init needs a JWKS to point the jwt auth mount at.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b64 := base64.RawURLEncoding
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "test",
			"n": b64.EncodeToString(key.PublicKey.N.Bytes()),
			"e": b64.EncodeToString(big.NewInt(int64(key.PublicKey.E)).Bytes()),
		}}})
	}))
	t.Cleanup(jwks.Close)
	if _, err := client.EnsureCluster(ctx, vault.ClusterConfig{JWKSURL: jwks.URL + "/.well-known/jwks.json"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := client.EnsureBootstrap(ctx, s.names); err != nil {
		t.Fatal(err)
	}
	sec, err := s.root.KVv2("tenantctl").Get(ctx, s.names.BootstrapPath)
	if err != nil {
		t.Fatal(err)
	}
	pgPassword, _ := sec.Data[vault.PostgresPasswordKey].(string)
	redisPassword, _ := sec.Data[vault.RedisPasswordKey].(string)
	s.addSecret(pgPassword, redisPassword, v.Token)

	// The data services start with the bootstrap passwords, as their jobs do.
	s.pg = testenv.StartPostgres(t)
	conn := s.pg.Conn(t, "postgres")
	for _, q := range []string{
		fmt.Sprintf("CREATE ROLE %s WITH LOGIN SUPERUSER PASSWORD '%s'", observerUser, observerPassword),
		fmt.Sprintf("ALTER ROLE postgres WITH PASSWORD '%s'", pgPassword),
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	s.redis = testenv.StartRedis(t)
	admin := s.redisAs(s.redis.AdminUser, s.redis.AdminPassword)
	if err := admin.Do(ctx, "ACL", "SETUSER", s.names.RedisAdminUser, "on", ">"+redisPassword, "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.EnsurePostgres(ctx, s.names, s.pgAddr()); err != nil {
		t.Fatal(err)
	}
	if _, err := client.EnsureRedis(ctx, s.names, s.redis.Addr); err != nil {
		t.Fatal(err)
	}

	// Migrations, as the migrate batch job runs them.
	m := s.issue(s.names.DBRoleMigrate, "")
	runner, err := migrate.Open(ctx, m.settings.DatabaseURL, migrations.FS,
		migrate.Options{OwnerRole: s.names.OwnerRole, AppRole: s.names.AppGroupRole})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runner.Migrate(ctx, false); err != nil {
		t.Fatal(err)
	}
	_ = runner.Close()
	for _, l := range m.leases {
		if err := s.root.Sys().Revoke(l); err != nil {
			t.Fatal(err)
		}
	}

	s.observer = s.connect(observerUser, observerPassword)
	s.envFile = filepath.Join(t.TempDir(), "tenant.env")
	return s
}

func (s *stack) pgAddr() string { return s.pg.Host + ":" + strconv.Itoa(s.pg.Port) }

func (s *stack) addSecret(v ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets = append(s.secrets, v...)
}

// assertNoSecrets fails when any secret issued so far appears in text.
func (s *stack) assertNoSecrets(what, text string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.secrets) == 0 {
		s.t.Errorf("%s: no secrets recorded; the leak check proves nothing", what)
	}
	for _, v := range s.secrets {
		if len(v) >= 8 && strings.Contains(text, v) {
			s.t.Errorf("%s: a secret (%d chars) appears in it", what, len(v))
		}
	}
}

func (s *stack) redisAs(user, password string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.redis.Addr, Username: user, Password: password,
		DialTimeout: 2 * time.Second, DisableIdentity: true, Protocol: 2})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// admin is a Redis client with the test server's admin user.
func (s *stack) admin() *redis.Client { return s.redisAs(s.redis.AdminUser, s.redis.AdminPassword) }

func (s *stack) connect(user, password string) *pgx.Conn {
	s.t.Helper()
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d dbname=%s sslmode=disable", s.pg.Host, s.pg.Port, s.names.Database))
	if err != nil {
		s.t.Fatal(err)
	}
	cfg.User, cfg.Password = user, password
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		s.t.Fatalf("connect as %s: %v", user, err)
	}
	s.t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// issue reads credentials of the Postgres role pgRole and, unless empty, the
// Redis role redisRole from Vault, and returns them as the jobspec's
// template renders them.
func (s *stack) issue(pgRole, redisRole string) creds {
	s.t.Helper()
	read := func(role string) (user, pass, lease string) {
		sec, err := s.root.Logical().Read("database/creds/" + role)
		if err != nil {
			s.t.Fatalf("issue creds of %s: %v", role, err)
		}
		user, _ = sec.Data["username"].(string)
		pass, _ = sec.Data["password"].(string)
		s.addSecret(pass)
		return user, pass, sec.LeaseID
	}
	var c creds
	user, pass, lease := read(pgRole)
	c.pgUser = user
	c.leases = append(c.leases, lease)
	// Exactly what the template renders: no escaping.
	c.settings.DatabaseURL = fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", user, pass, s.pgAddr(), s.names.Database)
	s.addSecret(c.settings.DatabaseURL)
	c.settings.RedisAddr = s.redis.Addr
	if redisRole != "" {
		ru, rp, rl := read(redisRole)
		c.settings.RedisUsername, c.settings.RedisPassword = ru, rp
		c.leases = append(c.leases, rl)
	}
	return c
}

// writeEnv renders c into the env file the way Nomad's template runner does:
// a new file renamed over the old one.
func (s *stack) writeEnv(c creds) { s.writeEnvFile(s.envFile, c) }

// writeEnvFile renders c into path.
func (s *stack) writeEnvFile(path string, c creds) {
	s.t.Helper()
	body := fmt.Sprintf("\nDATABASE_URL=%s\nREDIS_ADDR=%s\nREDIS_USERNAME=%s\nREDIS_PASSWORD=%s\n",
		c.settings.DatabaseURL, c.settings.RedisAddr, c.settings.RedisUsername, c.settings.RedisPassword)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o400); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		s.t.Fatal(err)
	}
}

// revoke revokes c's leases: Vault drops the Postgres user and the Redis
// ACL user.
func (s *stack) revoke(c creds) {
	s.t.Helper()
	for _, l := range c.leases {
		if err := s.root.Sys().Revoke(l); err != nil {
			s.t.Fatalf("revoke lease: %v", err)
		}
	}
}

// newOrg creates an organization as the observer superuser.
func (s *stack) newOrg(name string) string {
	s.t.Helper()
	var id string
	if err := s.observer.QueryRow(context.Background(),
		`INSERT INTO organizations (name) VALUES ($1) RETURNING id::text`, name).Scan(&id); err != nil {
		s.t.Fatal(err)
	}
	return id
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startServer starts the API in-process over the env file, on a loopback
// port, and returns its pools and base URL.
func (s *stack) startServer(logs io.Writer) (*app.Pools, string) {
	s.t.Helper()
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	pools, err := app.OpenPools(app.SettingsSource{File: s.envFile}, "tenant-app-test", logger)
	if err != nil {
		s.t.Fatal(err)
	}
	srv := httptest.NewServer(app.NewServer(pools, app.DefaultStream, logger).Handler())
	s.t.Cleanup(func() {
		srv.Close()
		pools.Close()
	})
	return pools, srv.URL
}

// client is an HTTP client for one organization.
type client struct {
	t    testing.TB
	base string
	org  string
	http *http.Client
}

func newClient(t testing.TB, base, org string) *client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{t: t, base: base, org: org, http: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

// do sends a request and decodes a JSON answer into out (when not nil); it
// returns the status.
func (c *client) do(method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	if c.org != "" {
		req.Header.Set(app.OrgHeader, c.org)
	}
	req.Header.Set("Authorization", "Bearer not-a-real-token-must-not-be-logged")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s %s answer %q: %w", method, path, b, err)
		}
	}
	return resp.StatusCode, nil
}

// must sends a request and fails the test unless the status is want.
func (c *client) must(want int, method, path string, body, out any) {
	c.t.Helper()
	got, err := c.do(method, path, body, out)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if got != want {
		c.t.Fatalf("%s %s: got status %d; want %d", method, path, got, want)
	}
}
