package vault_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/testenv"
	"github.com/tenantctl/tenantctl/internal/vault"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// observer is a superuser the tests keep for looking into a tenant's
// Postgres after Vault has rotated the tenant superuser's password.
const (
	observerUser     = "tenantctl_test_observer"
	observerPassword = "observer-password-for-tests-only"
)

// env is one private Vault configured by `cluster init`, a Nomad identity
// signer whose keys it trusts, and the tenantctl client under test, whose
// logs are captured.
type env struct {
	t      testing.TB
	vault  *testenv.Vault
	root   *vaultapi.Client
	client *vault.Client
	signer *signer
	logs   *syncBuffer
	// writes counts Vault requests through the client that may change state.
	writes atomic.Int64
	// secrets are every secret value issued during the test; none may
	// appear in logs or in errors tenantctl returned.
	mu      sync.Mutex
	secrets []string
	errs    []error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, logs: &syncBuffer{}}
	e.vault = testenv.StartVault(t)
	e.root = e.vault.Client(t)

	e.signer = newSigner(t)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(e.signer.JWKS())
	}))
	t.Cleanup(jwks.Close)

	// tenantctl's client goes through a proxy counting state-changing
	// requests, the way the orchestrator's tests count writes.
	target, _ := url.Parse(e.vault.Addr)
	proxy := httputil.NewSingleHostReverseProxy(target)
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			e.writes.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(counting.Close)
	cfg := vaultapi.DefaultConfig()
	cfg.Address = counting.URL
	api, err := vaultapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	api.SetToken(e.vault.Token)
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.client = vault.New(api, vault.Mounts{}, logger)

	changes, err := e.client.EnsureCluster(context.Background(), vault.ClusterConfig{JWKSURL: jwks.URL + "/.well-known/jwks.json"}, false)
	e.check(err)
	if len(changes) != 4 {
		t.Fatalf("cluster init: got %d changes %v; want 4", len(changes), changes)
	}
	e.addSecret(e.vault.Token)
	t.Cleanup(e.assertNoSecretLeaked)
	return e
}

// check fails the test on err and remembers it for the leak check.
func (e *env) check(err error) {
	e.t.Helper()
	if err != nil {
		e.noteErr(err)
		e.t.Fatal(err)
	}
}

func (e *env) noteErr(err error) {
	if err == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, err)
}

func (e *env) addSecret(s ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = append(e.secrets, s...)
}

func (e *env) assertNoSecretLeaked() {
	logs := e.logs.String()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.secrets) == 0 {
		e.t.Errorf("leak check: no secrets recorded; the check would prove nothing")
	}
	for _, s := range e.secrets {
		if s == "" {
			continue
		}
		if strings.Contains(logs, s) {
			e.t.Errorf("a secret value (%d chars) appears in tenantctl's logs", len(s))
		}
		for _, err := range e.errs {
			if strings.Contains(err.Error(), s) {
				e.t.Errorf("a secret value (%d chars) appears in an error: %q", len(s), err.Error())
			}
		}
	}
}

// tenantStack is one tenant with its own Postgres and Redis, whose admin
// credentials were set to the bootstrap secret, as its jobs do on first boot.
type tenantStack struct {
	names tenant.Names
	pg    *testenv.Postgres
	redis *testenv.Redis
	// bootstrap passwords, read back for the tests only.
	pgPassword, redisPassword string
}

func (s *tenantStack) pgAddr() string    { return s.pg.Host + ":" + strconv.Itoa(s.pg.Port) }
func (s *tenantStack) redisAddr() string { return s.redis.Addr }

func mustNames(t testing.TB, id string) tenant.Names {
	t.Helper()
	tid, err := tenant.ParseID(id)
	if err != nil {
		t.Fatal(err)
	}
	return tenant.NamesFor(tid)
}

// startTenant creates the bootstrap secret, starts the tenant's data services
// with its passwords (and the tenant database, as the Postgres job does on
// first boot) and converges every Vault object of the tenant.
func (e *env) startTenant(id string) *tenantStack { return e.start(id, true) }

// start is startTenant; without jobCreatesDB, EnsurePostgres creates the
// tenant database itself.
func (e *env) start(id string, jobCreatesDB bool) *tenantStack {
	t := e.t
	t.Helper()
	ctx := context.Background()
	s := &tenantStack{names: mustNames(t, id)}
	changed, err := ensureIdentity(ctx, e.client, s.names)
	e.check(err)
	if !changed {
		t.Fatalf("ensureIdentity(%s): got changed=false on a new tenant; want true", id)
	}
	sec, err := e.root.KVv2("tenantctl").Get(ctx, s.names.BootstrapPath)
	if err != nil {
		t.Fatal(err)
	}
	s.pgPassword, _ = sec.Data[vault.PostgresPasswordKey].(string)
	s.redisPassword, _ = sec.Data[vault.RedisPasswordKey].(string)
	e.addSecret(s.pgPassword, s.redisPassword)
	for _, p := range []string{s.pgPassword, s.redisPassword} {
		if len(p) < 32 || strings.Trim(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
			t.Fatalf("bootstrap password: got %d chars of some alphabet; want >= 32 URL-safe characters", len(p))
		}
	}

	s.pg = testenv.StartPostgres(t)
	conn := s.pg.Conn(t, "postgres")
	for _, q := range []string{
		fmt.Sprintf("CREATE ROLE %s WITH LOGIN SUPERUSER PASSWORD '%s'", observerUser, observerPassword),
		fmt.Sprintf("ALTER ROLE postgres WITH PASSWORD '%s'", s.pgPassword),
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if jobCreatesDB {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+s.names.Database); err != nil {
			t.Fatal(err)
		}
	}
	s.redis = testenv.StartRedis(t)
	admin := e.redisAs(s, s.redis.AdminUser, s.redis.AdminPassword)
	if err := admin.Do(ctx, "ACL", "SETUSER", s.names.RedisAdminUser, "on", ">"+s.redisPassword, "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}

	changed, err = ensureCredentials(ctx, e.client, s.names, s.pgAddr(), s.redisAddr())
	e.check(err)
	if !changed {
		t.Fatalf("ensureCredentials(%s): got changed=false on a new tenant; want true", id)
	}
	meta, err := e.root.KVv2("tenantctl").GetMetadata(ctx, s.names.BootstrapPath)
	if err != nil {
		t.Fatal(err)
	}
	if meta.CustomMetadata["postgres_root_rotated"] != "true" || meta.CustomMetadata["redis_root_rotated"] != "true" {
		t.Fatalf("rotation markers: got %v; want both true", meta.CustomMetadata)
	}
	return s
}

// converge runs every Ensure… of s and returns how many reported a change.
func (e *env) converge(s *tenantStack) int {
	e.t.Helper()
	ctx := context.Background()
	n := 0
	for _, fn := range []func() (bool, error){
		func() (bool, error) { return e.client.EnsureBootstrap(ctx, s.names) },
		func() (bool, error) { return e.client.EnsurePolicies(ctx, s.names) },
		func() (bool, error) { return e.client.EnsureJWTRoles(ctx, s.names) },
		func() (bool, error) { return e.client.EnsurePostgres(ctx, s.names, s.pgAddr()) },
		func() (bool, error) { return e.client.EnsureRedis(ctx, s.names, s.redisAddr()) },
	} {
		changed, err := fn()
		e.check(err)
		if changed {
			n++
		}
	}
	return n
}

func (e *env) redisAs(s *tenantStack, user, password string) *redis.Client {
	e.t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.redis.Addr, Username: user, Password: password,
		DialTimeout: 2 * time.Second, MaxRetries: -1, DisableIdentity: true, Protocol: 2})
	e.t.Cleanup(func() { _ = c.Close() })
	return c
}

// creds issues dynamic credentials of role with the root token.
func (e *env) creds(role string) (user, password, leaseID string) {
	e.t.Helper()
	sec, err := e.root.Logical().Read("database/creds/" + role)
	if err != nil {
		e.t.Fatalf("read creds of %s: %v", role, err)
	}
	user, _ = sec.Data["username"].(string)
	password, _ = sec.Data["password"].(string)
	e.addSecret(password)
	return user, password, sec.LeaseID
}

// pgConnect connects to the tenant database as user; it returns the error.
func pgConnect(s *tenantStack, user, password string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d dbname=%s sslmode=disable connect_timeout=5",
		s.pg.Host, s.pg.Port, s.names.Database))
	if err != nil {
		return nil, err
	}
	cfg.User, cfg.Password = user, password
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return pgx.ConnectConfig(ctx, cfg)
}

func (e *env) mustPG(s *tenantStack, user, password string) *pgx.Conn {
	e.t.Helper()
	c, err := pgConnect(s, user, password)
	if err != nil {
		e.t.Fatalf("connect to %s as %s: %v", s.names.Database, user, err)
	}
	e.t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// observe connects to the tenant database as the observer superuser.
func (e *env) observe(s *tenantStack) *pgx.Conn {
	return e.mustPG(s, observerUser, observerPassword)
}

// dynamicPGRoles lists the login roles Vault created in s's Postgres.
func (e *env) dynamicPGRoles(s *tenantStack) []string {
	e.t.Helper()
	rows, err := e.observe(s).Query(context.Background(), `SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%' ORDER BY 1`)
	if err != nil {
		e.t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		e.t.Fatal(err)
	}
	return names
}

// dynamicRedisUsers lists the ACL users Vault created in s's Redis.
func (e *env) dynamicRedisUsers(s *tenantStack) []string {
	e.t.Helper()
	users, err := e.redisAs(s, s.redis.AdminUser, s.redis.AdminPassword).Do(context.Background(), "ACL", "USERS").StringSlice()
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, u := range users {
		if strings.HasPrefix(u, "V_") {
			out = append(out, u)
		}
	}
	return out
}

// ensureIdentity converges what up's vault step converges, in its order:
// the bootstrap secret, the policy and the JWT role.
func ensureIdentity(ctx context.Context, c *vault.Client, n tenant.Names) (bool, error) {
	return ensureAll(
		func() (bool, error) { return c.EnsureBootstrap(ctx, n) },
		func() (bool, error) { return c.EnsurePolicies(ctx, n) },
		func() (bool, error) { return c.EnsureJWTRoles(ctx, n) },
	)
}

// ensureCredentials converges what up's secrets-engines step converges: the
// Postgres connection and roles, then Redis's.
func ensureCredentials(ctx context.Context, c *vault.Client, n tenant.Names, pgAddr, redisAddr string) (bool, error) {
	return ensureAll(
		func() (bool, error) { return c.EnsurePostgres(ctx, n, pgAddr) },
		func() (bool, error) { return c.EnsureRedis(ctx, n, redisAddr) },
	)
}

// ensureAll runs fns in order, stopping at the first error, and reports
// whether any changed something.
func ensureAll(fns ...func() (bool, error)) (bool, error) {
	changed := false
	for _, fn := range fns {
		ch, err := fn()
		changed = changed || ch
		if err != nil {
			return changed, err
		}
	}
	return changed, nil
}

// rotate does to Vault what `tenantctl rotate` does (without replacing
// allocations in between): rotate both roots, then revoke every lease that
// existed before.
func rotate(ctx context.Context, c *vault.Client, n tenant.Names) (vault.RotateReport, error) {
	rep, err := c.RotateRoots(ctx, n)
	if err != nil {
		return rep, err
	}
	leases, err := c.ListLeases(ctx, n)
	if err != nil {
		return rep, err
	}
	rep.Leases, err = c.RevokeLeases(ctx, n, leases)
	return rep, err
}
