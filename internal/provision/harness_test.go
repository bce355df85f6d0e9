package provision_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-cleanhttp"
	vaultapi "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tenantctl/tenantctl/internal/app"
	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/migrate"
	"github.com/tenantctl/tenantctl/internal/nomad"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/testenv"
	"github.com/tenantctl/tenantctl/internal/vault"
	"github.com/tenantctl/tenantctl/jobspecs"
	"github.com/tenantctl/tenantctl/migrations"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// harness plays Nomad's client for the exec profile: the Nomad double runs
// the tenant jobs, and task hooks start the real processes the jobspecs
// describe, with the credentials their templates would render. Each hook
// logs in to the real Vault with the workload identity the double minted for
// its namespace, job and task, and reads exactly what the template reads.
type harness struct {
	t      testing.TB
	nomad  *nomadtest.Server
	vault  *testenv.Vault
	consul *testenv.Consul
	redis  *testenv.Redis
	// vaultProxy and consulProxy sit in front of Vault and Consul for
	// tenantctl only (the tasks and the double talk to them directly): they
	// count writes and inject faults.
	vaultProxy, consulProxy *countingProxy
	vaultRoot               *vaultapi.Client
	consulAPI               *consulapi.Client
	cfg                     config.Config
	// migrations is what the migrate task runs (and env.Migrations).
	migrations fs.FS
	// sharedPG, when set, stands in for every tenant's Postgres (the
	// benchmark): each tenant gets its own superuser role on it.
	sharedPG *testenv.Postgres

	mu  sync.Mutex
	pgs map[string]*testenv.Postgres // per tenant: the data outlives allocations
	// pgReady is set once a tenant's Postgres has its bootstrap password.
	pgReady map[string]bool
	// redisReady is set once a tenant's admin ACL user exists.
	redisReady map[string]bool
	sinks      map[string]func(provision.Event) // by tenant
	pgPool     chan *testenv.Postgres
}

// observer is a superuser the tests keep in each tenant's Postgres.
const (
	observerUser     = "tenantctl_test_observer"
	observerPassword = "observer-password-for-tests-only"
)

// observe connects to a tenant's Postgres as the observer.
func (h *harness) observe(id, db string) *pgx.Conn {
	h.t.Helper()
	h.mu.Lock()
	pg := h.pgs[id]
	h.mu.Unlock()
	if pg == nil {
		h.t.Fatalf("tenant %s has no postgres", id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", observerUser, observerPassword, pg.Host, pg.Port, db))
	if err != nil {
		h.t.Fatalf("observe %s: %v", id, err)
	}
	h.t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// harnessOption tweaks a harness before its env is built.
type harnessOption func(*harness)

func withMigrations(fsys fs.FS) harnessOption { return func(h *harness) { h.migrations = fsys } }

// withPostgresPool pre-starts n Postgres servers (4 at a time) that tenants'
// postgres tasks take instead of starting their own, so a benchmark measures
// tenantctl rather than the harness's initdb copies.
func withPostgresPool(n int) harnessOption {
	return func(h *harness) {
		h.pgPool = make(chan *testenv.Postgres, n)
		sem := make(chan struct{}, 4)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				h.pgPool <- testenv.StartPostgres(h.t)
			}()
		}
		wg.Wait()
	}
}

func newHarness(t testing.TB, opts ...harnessOption) *harness {
	t.Helper()
	h := &harness{t: t, pgs: map[string]*testenv.Postgres{}, pgReady: map[string]bool{}, redisReady: map[string]bool{}, sinks: map[string]func(provision.Event){}, migrations: migrations.FS}
	for _, o := range opts {
		o(h)
	}
	h.vault = testenv.SharedVault(t)
	h.consul = testenv.SharedConsul(t)
	h.redis = testenv.SharedRedis(t)
	h.nomad = nomadtest.New(t).WithConsul(h.consul.Addr)
	h.vaultRoot = h.vault.Client(t)
	h.consulAPI = h.consul.Client(t)
	h.vaultProxy = newCountingProxy(t, h.vault.Addr)
	h.consulProxy = newCountingProxy(t, h.consul.HTTPAddr)

	cfg := config.Default()
	cfg.Profile = tenant.ProfileExec
	cfg.RouterAddress = ""
	cfg.Update = config.Update{MinHealthyTime: "0s", HealthyDeadline: "1m", ProgressDeadline: "2m"}
	h.cfg = cfg

	// cluster init against this test's Nomad double.
	if _, err := h.adminVault().EnsureCluster(context.Background(), vault.ClusterConfig{JWKSURL: h.nomad.JWKSURL()}, false); err != nil {
		t.Fatalf("cluster init: %v", err)
	}
	h.installHooks()
	return h
}

// adminVault is the Vault adapter straight to Vault (no proxy).
func (h *harness) adminVault() *vault.Client {
	return vault.New(h.vaultRoot, vault.Mounts{}, nil)
}

// env builds what the CLI builds: adapters over the double and the proxies,
// the read-only Vault client for the converged check, the embedded jobspecs.
func (h *harness) env() provision.Env {
	t := h.t
	nc, err := nomad.New(nomad.Config{Address: h.nomad.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := consul.New(consul.Config{Address: h.consulProxy.URL()})
	if err != nil {
		t.Fatal(err)
	}
	return provision.Env{
		Nomad:      nc,
		Vault:      vault.New(h.vaultAPI(nil), vault.Mounts{}, nil),
		VaultCheck: vault.New(h.vaultAPI(nil), vault.Mounts{}, nil).ReadOnly(),
		Consul:     cc,
		Config:     h.cfg,
		Jobspecs:   jobspecs.FS,
		Migrations: h.migrations,
		Sink: provision.SinkFunc(func(e provision.Event) {
			h.mu.Lock()
			f := h.sinks[e.Tenant]
			h.mu.Unlock()
			if f != nil {
				f(e)
			}
		}),
		Logger: slog.New(slog.DiscardHandler),
	}
}

// onEvent makes f receive the events of tenant id's commands.
func (h *harness) onEvent(id string, f func(provision.Event)) {
	h.mu.Lock()
	h.sinks[id] = f
	h.mu.Unlock()
}

func (h *harness) vaultAPI(wrap func(http.RoundTripper) http.RoundTripper) *vaultapi.Client {
	cfg := vaultapi.DefaultConfig()
	cfg.Address = h.vaultProxy.URL()
	if wrap != nil {
		cfg.HttpClient.Transport = wrap(cfg.HttpClient.Transport)
	}
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	c.SetToken(h.vault.Token)
	return c
}

func mustSpec(t testing.TB, id string) tenant.Spec {
	t.Helper()
	s, err := tenant.NewSpec(tenant.SpecInput{ID: id, BaseDomain: "tenants.localhost.test", Plan: "small", Profile: "exec"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustID(t testing.TB, id string) tenant.ID {
	t.Helper()
	tid, err := tenant.ParseID(id)
	if err != nil {
		t.Fatal(err)
	}
	return tid
}

func (h *harness) upOptions(id string) provision.UpOptions {
	return provision.UpOptions{Spec: mustSpec(h.t, id), Timeout: 2 * time.Minute, LockTimeout: 20 * time.Second,
		Holder: consul.Holder{Operator: "test", Command: "up " + id}}
}

func (h *harness) up(ctx context.Context, id string) (provision.UpResult, error) {
	return provision.Up(ctx, h.env(), h.upOptions(id))
}

func (h *harness) mustUp(id string) provision.UpResult {
	h.t.Helper()
	res, err := h.up(context.Background(), id)
	if err != nil {
		h.t.Fatalf("up %s: %v", id, err)
	}
	h.waitPassing(id)
	return res
}

// waitPassing waits until every service of the tenant passes its Consul
// checks. A real Nomad deployment with health_check = "checks" is healthy
// only then; the double takes health from the hooks' Ready functions, so the
// worker's HTTP check may still be pending when up returns.
func (h *harness) waitPassing(id string) {
	h.t.Helper()
	if err := h.waitPassingErr(id); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) waitPassingErr(id string) error {
	n := tenant.NamesFor(mustID(h.t, id))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, svc := range []string{n.ServicePostgres, n.ServiceRedis, n.ServiceApp, n.ServiceWorker} {
		for {
			if _, err := h.passingAddr(ctx, svc); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("service %s: got no passing instance within 60s; want one", svc)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func (h *harness) down(ctx context.Context, id string) (provision.Report, error) {
	return provision.Down(ctx, h.env(), provision.DownOptions{ID: mustID(h.t, id), Profile: tenant.ProfileExec,
		LockTimeout: 20 * time.Second, Holder: consul.Holder{Operator: "test", Command: "down " + id}})
}

func (h *harness) mustDown(id string) provision.Report {
	h.t.Helper()
	rep, err := h.down(context.Background(), id)
	if err != nil {
		h.t.Fatalf("down %s: %v", id, err)
	}
	return rep
}

// ---- task hooks ----

// installHooks attaches hooks lazily: the double matches hooks by namespace
// and job, so the harness registers them per tenant with hooksFor.
func (h *harness) installHooks() {}

// hooksFor attaches the exec profile's task hooks for tenant id.
func (h *harness) hooksFor(id string) {
	n := tenant.NamesFor(mustID(h.t, id))
	h.nomad.OnTask(n.Namespace, n.JobPostgres, "postgres", h.postgresTask(n))
	h.nomad.OnTask(n.Namespace, n.JobRedis, "redis", h.redisTask(n))
	h.nomad.OnTask(n.Namespace, n.JobMigrate, "migrate", h.migrateTask(n))
	h.nomad.OnTask(n.Namespace, n.JobApp, "app", h.appTask(n, "serve", n.DBRoleApp, n.RedisRoleApp, "/api/ready"))
	h.nomad.OnTask(n.Namespace, n.JobWorker, "worker", h.appTask(n, "work", n.DBRoleWorker, n.RedisRoleWorker, "/api/health"))
}

// taskVault logs in to Vault with a task's workload identity, as Nomad's
// template runner does for the task's vault block.
func (h *harness) taskVault(ctx context.Context, n tenant.Names, jwt string) (*vaultapi.Client, error) {
	if jwt == "" {
		return nil, errors.New("the task has no workload identity for vault")
	}
	cfg := vaultapi.DefaultConfig()
	cfg.Address = h.vault.Addr
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken("")
	sec, err := c.Logical().WriteWithContext(ctx, "auth/"+h.cfg.Vault.JWTAuthPath+"/login", map[string]any{"role": n.JWTRole, "jwt": jwt})
	if err != nil {
		return nil, fmt.Errorf("vault login with workload identity: %w", err)
	}
	if sec == nil || sec.Auth == nil {
		return nil, errors.New("vault login: no token")
	}
	c.SetToken(sec.Auth.ClientToken)
	return c, nil
}

func (h *harness) bootstrapSecret(ctx context.Context, c *vaultapi.Client, n tenant.Names, key string) (string, error) {
	sec, err := c.KVv2(h.cfg.Vault.KVMount).Get(ctx, n.BootstrapPath)
	if err != nil {
		return "", fmt.Errorf("read bootstrap secret: %w", err)
	}
	v, _ := sec.Data[key].(string)
	if v == "" {
		return "", fmt.Errorf("bootstrap secret has no %s", key)
	}
	return v, nil
}

func creds(ctx context.Context, c *vaultapi.Client, mount, role string) (string, string, error) {
	sec, err := c.Logical().ReadWithContext(ctx, mount+"/creds/"+role)
	if err != nil {
		return "", "", fmt.Errorf("read %s/creds/%s: %w", mount, role, err)
	}
	if sec == nil {
		return "", "", fmt.Errorf("read %s/creds/%s: no secret", mount, role)
	}
	u, _ := sec.Data["username"].(string)
	p, _ := sec.Data["password"].(string)
	return u, p, nil
}

// postgresTask starts the tenant's Postgres on first boot (initialised with
// the bootstrap password the init task's template reads) and forwards the
// allocation's db port to it. The data outlives allocations, as the volume
// does.
func (h *harness) postgresTask(n tenant.Names) nomadtest.TaskHook {
	return func(ctx context.Context, ts nomadtest.TaskStart) (*nomadtest.TaskRun, error) {
		h.mu.Lock()
		pg := h.pgs[n.ID.String()]
		ready := h.pgReady[n.ID.String()]
		h.mu.Unlock()
		if !ready {
			// The init task's template: the bootstrap superuser password.
			vc, err := h.taskVault(ctx, n, h.identity(ts, "init"))
			if err != nil {
				return nil, err
			}
			pw, err := h.bootstrapSecret(ctx, vc, n, vault.PostgresPasswordKey)
			if err != nil {
				return nil, err
			}
			if pg == nil {
				select {
				case pg = <-h.pgPool:
				default:
					pg = testenv.StartPostgres(h.t)
				}
			}
			conn, err := pgx.Connect(ctx, pg.URL("postgres"))
			if err != nil {
				return nil, err
			}
			defer conn.Close(context.Background())
			// The observer lets the tests look inside after Vault rotated
			// the superuser's password.
			if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE ROLE %s WITH LOGIN SUPERUSER PASSWORD '%s'", observerUser, observerPassword)); err != nil {
				return nil, fmt.Errorf("create observer: %w", err)
			}
			if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER ROLE postgres WITH PASSWORD '%s'", pw)); err != nil {
				return nil, fmt.Errorf("set bootstrap password: %w", err)
			}
			if _, err := conn.Exec(ctx, "CREATE DATABASE "+n.Database); err != nil && !strings.Contains(err.Error(), "already exists") {
				return nil, fmt.Errorf("create database: %w", err)
			}
			h.mu.Lock()
			h.pgs[n.ID.String()], h.pgReady[n.ID.String()] = pg, true
			h.mu.Unlock()
		}
		fw, err := forward(ts.Env["NOMAD_ADDR_db"], net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)))
		if err != nil {
			return nil, err
		}
		return &nomadtest.TaskRun{Stop: fw.Close, Ready: dialReady(ts.Env["NOMAD_ADDR_db"])}, nil
	}
}

// redisTask creates the tenant's admin ACL user with the bootstrap password
// on the shared Redis on first boot (what the ACL file template does on the
// tenant's own Redis, whose ACL file then persists on the data directory)
// and forwards the allocation's redis port to it.
func (h *harness) redisTask(n tenant.Names) nomadtest.TaskHook {
	return func(ctx context.Context, ts nomadtest.TaskStart) (*nomadtest.TaskRun, error) {
		h.mu.Lock()
		ready := h.redisReady[n.ID.String()]
		h.mu.Unlock()
		if !ready {
			vc, err := h.taskVault(ctx, n, h.identity(ts, "init"))
			if err != nil {
				return nil, err
			}
			pw, err := h.bootstrapSecret(ctx, vc, n, vault.RedisPasswordKey)
			if err != nil {
				return nil, err
			}
			admin := redis.NewClient(&redis.Options{Addr: h.redis.Addr, Username: h.redis.AdminUser, Password: h.redis.AdminPassword,
				DisableIdentity: true, Protocol: 2, MaxRetries: -1})
			defer admin.Close()
			if err := admin.Do(ctx, "ACL", "SETUSER", n.RedisAdminUser, "reset", "on", ">"+pw, "~*", "&*", "+@all").Err(); err != nil {
				return nil, fmt.Errorf("create redis admin user: %w", err)
			}
			h.mu.Lock()
			h.redisReady[n.ID.String()] = true
			h.mu.Unlock()
		}
		fw, err := forward(ts.Env["NOMAD_ADDR_redis"], h.redis.Addr)
		if err != nil {
			return nil, err
		}
		return &nomadtest.TaskRun{Stop: fw.Close, Ready: dialReady(ts.Env["NOMAD_ADDR_redis"])}, nil
	}
}

// identity is the workload identity of the allocation's task that renders
// a template: the starting task's own when it has a vault block, else one
// minted for task (the jobspecs read bootstrap secrets in prestart tasks).
func (h *harness) identity(ts nomadtest.TaskStart, task string) string {
	if ts.Identity != "" {
		return ts.Identity
	}
	jwt, err := h.nomad.MintIdentity(nomadtest.WorkloadClaims{Namespace: ts.Alloc.Namespace, JobID: ts.Alloc.JobID,
		Group: ts.Alloc.TaskGroup, Task: task, AllocID: ts.Alloc.ID, Identity: "vault_default"})
	if err != nil {
		return ""
	}
	return jwt
}

// passingAddr is what a template's `range service` yields: a passing
// instance's address.
func (h *harness) passingAddr(ctx context.Context, service string) (string, error) {
	entries, _, err := h.consulAPI.Health().Service(service, "", true, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return "", err
	}
	if len(entries) == 0 {
		return "", fmt.Errorf("no passing instance of %s", service)
	}
	e := entries[0]
	addr := e.Service.Address
	if addr == "" {
		addr = e.Node.Address
	}
	return net.JoinHostPort(addr, strconv.Itoa(e.Service.Port)), nil
}

// migrateTask runs the migration runner with the migrate role's credentials,
// the tenant's owner role and app group role; exit 1 with the runner's error
// on stderr when it fails.
func (h *harness) migrateTask(n tenant.Names) nomadtest.TaskHook {
	return func(ctx context.Context, ts nomadtest.TaskStart) (*nomadtest.TaskRun, error) {
		vc, err := h.taskVault(ctx, n, h.identity(ts, ts.Task.Name))
		if err != nil {
			return nil, err
		}
		user, pass, err := creds(ctx, vc, h.cfg.Vault.DatabaseMount, n.DBRoleMigrate)
		if err != nil {
			return nil, err
		}
		addr, err := h.passingAddr(ctx, n.ServicePostgres)
		if err != nil {
			return nil, err
		}
		dsn := fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", url.PathEscape(user), url.PathEscape(pass), addr, n.Database)
		return &nomadtest.TaskRun{Wait: func(ctx context.Context) int {
			r, err := migrate.Open(ctx, dsn, h.migrations, migrate.Options{OwnerRole: n.OwnerRole, AppRole: n.AppGroupRole})
			if err == nil {
				_, err = r.Migrate(ctx, false)
				_ = r.Close()
			}
			if err != nil {
				fmt.Fprintf(ts.Stderr, "Error: %s\n", migrate.RedactURL(err.Error()))
				return 1
			}
			fmt.Fprintln(ts.Stdout, "migrations applied")
			return 0
		}}, nil
	}
}

// appTask writes the env file the app's template renders and runs the
// reference app (serve) or worker (work) in-process on the allocation's port.
func (h *harness) appTask(n tenant.Names, cmd, dbRole, redisRole, readyPath string) nomadtest.TaskHook {
	return func(ctx context.Context, ts nomadtest.TaskStart) (*nomadtest.TaskRun, error) {
		vc, err := h.taskVault(ctx, n, h.identity(ts, ts.Task.Name))
		if err != nil {
			return nil, err
		}
		mount := h.cfg.Vault.DatabaseMount
		dbUser, dbPass, err := creds(ctx, vc, mount, dbRole)
		if err != nil {
			return nil, err
		}
		rUser, rPass, err := creds(ctx, vc, mount, redisRole)
		if err != nil {
			return nil, err
		}
		pgAddr, err := h.passingAddr(ctx, n.ServicePostgres)
		if err != nil {
			return nil, err
		}
		redisAddr, err := h.passingAddr(ctx, n.ServiceRedis)
		if err != nil {
			return nil, err
		}
		envFile := filepath.Join(ts.SecretsDir, "tenant.env")
		body := fmt.Sprintf("DATABASE_URL=postgres://%s:%s@%s/%s?sslmode=disable\nREDIS_ADDR=%s\nREDIS_USERNAME=%s\nREDIS_PASSWORD=%s\n",
			url.PathEscape(dbUser), url.PathEscape(dbPass), pgAddr, n.Database, redisAddr, rUser, rPass)
		if err := os.WriteFile(envFile, []byte(body), 0o400); err != nil {
			return nil, err
		}
		env := map[string]string{}
		for k, v := range ts.Env {
			env[k] = v
		}
		env[app.EnvFileVar] = envFile
		env[app.TenantIDVar] = n.ID.String()
		env[app.ShutdownTimeoutVar] = "200ms"
		env[app.StreamVar] = "tenant-app:" + n.ID.String() + ":jobs"
		addr := ts.Env["NOMAD_ADDR_http"]
		runCtx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			err := app.Run(runCtx, []string{cmd, "--addr", addr}, app.Env{Getenv: func(k string) string { return env[k] },
				Stdout: ts.Stdout, Stderr: ts.Stderr})
			if err != nil && runCtx.Err() == nil {
				fmt.Fprintf(ts.Stderr, "tenant-app %s: %v\n", cmd, err)
			}
		}()
		go func() {
			select {
			case <-ctx.Done():
				cancel()
			case <-done:
			}
		}()
		// Stop signals the process and returns, as Nomad's kill does not hold
		// up other allocations; the app drains on its own.
		return &nomadtest.TaskRun{Stop: cancel, Ready: httpReady("http://" + addr + readyPath)}, nil
	}
}

func dialReady(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

func httpReady(u string) func(context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	return func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		return nil
	}
}

// forwarder relays TCP connections from a listen address to a target, the
// way the allocation's port reaches the process behind it.
type forwarder struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	once  sync.Once
}

func forward(listen, target string) (*forwarder, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen on the allocation's port %s: %w", listen, err)
	}
	f := &forwarder{ln: ln, conns: map[net.Conn]struct{}{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.relay(c, target)
		}
	}()
	return f, nil
}

func (f *forwarder) track(c net.Conn, add bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns == nil {
		return false
	}
	if add {
		f.conns[c] = struct{}{}
	} else {
		delete(f.conns, c)
	}
	return true
}

func (f *forwarder) relay(c net.Conn, target string) {
	defer c.Close()
	u, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		return
	}
	defer u.Close()
	if !f.track(c, true) || !f.track(u, true) {
		return
	}
	defer f.track(c, false)
	defer f.track(u, false)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
	<-done
}

// Close stops listening and cuts every relayed connection, as a stopped
// process does.
func (f *forwarder) Close() {
	f.once.Do(func() {
		_ = f.ln.Close()
		f.mu.Lock()
		conns := f.conns
		f.conns = nil
		f.mu.Unlock()
		for c := range conns {
			_ = c.Close()
		}
	})
}

// ---- counting, fault-injecting reverse proxy ----

// countingProxy forwards to a server, counts the requests that may change
// state and can answer chosen requests with HTTP 500.
type countingProxy struct {
	srv    *httptest.Server
	writes atomic.Int64
	mu     sync.Mutex
	faults []*proxyFault
	log    []string
	record bool
}

type proxyFault struct {
	owner string
	match func(*http.Request) bool
	left  int // requests still to fail
}

func newCountingProxy(t testing.TB, target string) *countingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = cleanhttp.DefaultPooledTransport()
	rp.ErrorLog = nil
	p := &countingProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.inject(r) {
			http.Error(w, `{"errors":["injected fault: internal error"]}`, http.StatusInternalServerError)
			return
		}
		if isWrite(r) {
			p.writes.Add(1)
			p.mu.Lock()
			if p.record {
				p.log = append(p.log, r.Method+" "+r.URL.Path)
			}
			p.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// isWrite: every method but GET, HEAD and LIST may change state, except
// Vault's sys/capabilities-self, which only reads although the client sends
// it as PUT (preflight asks it what the token may do).
func isWrite(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, "LIST":
		return false
	}
	return !((r.Method == http.MethodPost || r.Method == http.MethodPut) && strings.HasSuffix(r.URL.Path, "/sys/capabilities-self"))
}

func (p *countingProxy) URL() string { return p.srv.URL }

// Writes returns the state-changing requests forwarded so far.
func (p *countingProxy) Writes() int64 { return p.writes.Load() }

// recordWrites starts keeping the method and path of every write.
func (p *countingProxy) recordWrites() {
	p.mu.Lock()
	p.record, p.log = true, nil
	p.mu.Unlock()
}

func (p *countingProxy) writeLog() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log...)
}

// fail answers the next n requests matching match with HTTP 500; owner
// names the test case, for clearFaults.
func (p *countingProxy) fail(owner string, n int, match func(*http.Request) bool) {
	p.mu.Lock()
	p.faults = append(p.faults, &proxyFault{owner: owner, match: match, left: n})
	p.mu.Unlock()
}

// clearFaults disarms owner's faults that have not fired yet.
func (p *countingProxy) clearFaults(owner string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.faults {
		if f.owner == owner {
			f.left = 0
		}
	}
}

func (p *countingProxy) inject(r *http.Request) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.faults {
		if f.left > 0 && f.match(r) {
			f.left--
			return true
		}
	}
	return false
}

func pathContains(method, s string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return (method == "" || r.Method == method) && strings.Contains(r.URL.Path, s)
	}
}
