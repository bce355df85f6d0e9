package provisiontest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tenantctl/tenantctl/internal/app"
	"github.com/tenantctl/tenantctl/internal/migrate"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/testenv"
	"github.com/tenantctl/tenantctl/internal/vault"
)

// observer is a superuser the double's postgres task creates in each
// tenant's Postgres, so the tests can look inside after Vault rotated the
// superuser's password.
const (
	observerUser     = "tenantctl_test_observer"
	observerPassword = "observer-password-for-tests-only"
)

// double is the default Nomad side: the Nomad double, with task hooks that
// play the Nomad client for the exec profile. Each hook logs in to the real
// Vault with the workload identity the double minted for its namespace, job
// and task, and reads exactly what the task's template reads.
type double struct {
	*nomadtest.Server
	t       testing.TB
	servers Servers

	mu  sync.Mutex
	pgs map[string]*testenv.Postgres // per tenant: the data outlives allocations
	// pgReady is set once a tenant's Postgres has its bootstrap password.
	pgReady map[string]bool
	// redisReady is set once a tenant's admin ACL user exists.
	redisReady map[string]bool
	// rds is each tenant's own Redis server: a restore empties its tenant's
	// database (FLUSHDB), which on a shared server would empty every
	// tenant's.
	rds    map[string]*testenv.Redis
	pgPool chan *testenv.Postgres
}

var _ Nomad = (*double)(nil)

// liftFileLimit raises this process's open-file limit to the most the
// system allows (fs.nr_open), once. The double runs every tenant's app and
// worker in this one process, with a forwarder per allocation port, where a
// cluster has a process per task with a limit of its own: a hundred tenants
// need more descriptors than a shell's default hard limit. Raising the hard
// limit needs root; without it the limit stays.
var liftFileLimit = sync.OnceFunc(func() {
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		return
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil || lim.Cur >= n {
		return
	}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: max(n, lim.Max)}) != nil {
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: lim.Max, Max: lim.Max})
	}
})

func newDouble(t testing.TB, s Servers, pgPool int, checkFloor time.Duration) *double {
	liftFileLimit()
	d := &double{Server: nomadtest.New(t, nomadtest.WithCheckIntervalFloor(checkFloor)).WithConsul(s.Consul.Addr), t: t, servers: s,
		pgs: map[string]*testenv.Postgres{}, pgReady: map[string]bool{}, redisReady: map[string]bool{},
		rds: map[string]*testenv.Redis{}}
	if pgPool > 0 {
		// 4 at a time: initdb copies are what the pool saves.
		d.pgPool = make(chan *testenv.Postgres, pgPool)
		sem := make(chan struct{}, 4)
		var wg sync.WaitGroup
		for range pgPool {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				d.pgPool <- testenv.StartPostgres(t)
			}()
		}
		wg.Wait()
	}
	return d
}

// AddTenant attaches the task hooks of every component of tenant id: the
// double matches hooks by namespace, job and task. A component without a
// hook fails the test (docs/jobspecs.md, "Adding a component").
func (d *double) AddTenant(h *Harness, id string) {
	n := Names(d.t, id)
	hooks := map[string]map[string]nomadtest.TaskHook{ // component → task → hook
		"postgres":         {"postgres": d.postgresTask(h, n)},
		"redis":            {"redis": d.redisTask(h, n)},
		"migrate":          {"migrate": d.migrateTask(h, n)},
		"app":              {"app": d.appTask(h, n, "serve", n.DBRoleApp, n.RedisRoleApp, "/api/ready")},
		"worker":           {"worker": d.appTask(h, n, "work", n.DBRoleWorker, n.RedisRoleWorker, "/api/health")},
		"backup":           {"backup": d.backupTask(h, n, n.DBRoleBackup, n.RedisRoleBackup)},
		"restore":          {"restore": d.restoreTask(h, n)},
		"scheduled-backup": {"scheduled-backup": d.backupTask(h, n, n.DBRoleScheduledBackup, n.RedisRoleScheduledBackup)},
	}
	for _, c := range tenant.Components() {
		tasks, ok := hooks[c.Name]
		if !ok {
			d.t.Fatalf("provisiontest: component %s has no task hook in the Nomad double's harness", c.Name)
		}
		for task, hook := range tasks {
			d.OnTask(n.Namespace, n.Job(c), task, hook)
		}
	}
}

// Postgres returns the observer's URL of database db in tenant id's
// Postgres.
func (d *double) Postgres(_ *Harness, id, db string) (string, error) {
	d.mu.Lock()
	pg := d.pgs[id]
	d.mu.Unlock()
	if pg == nil {
		return "", fmt.Errorf("tenant %s has no postgres", id)
	}
	return fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", observerUser, observerPassword, pg.Host, pg.Port, db), nil
}

// taskVault logs in to Vault as task of the starting task's allocation (the
// task whose template reads Vault), with its workload identity and the role
// its jobspec's vault block names, as Nomad's template runner does.
func (d *double) taskVault(ctx context.Context, h *Harness, ts nomadtest.TaskStart, task string) (*vaultapi.Client, error) {
	role := vaultRole(ts, task)
	if role == "" {
		return nil, fmt.Errorf("task %s of job %s has no vault block with a role", task, ts.Alloc.JobID)
	}
	jwt := d.identity(ts, task)
	if jwt == "" {
		return nil, errors.New("the task has no workload identity for vault")
	}
	cfg := vaultapi.DefaultConfig()
	cfg.Address = d.servers.Vault.Addr
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken("")
	sec, err := c.Logical().WriteWithContext(ctx, "auth/"+h.cfg.Vault.JWTAuthPath+"/login", map[string]any{"role": role, "jwt": jwt})
	if err != nil {
		return nil, fmt.Errorf("vault login with workload identity: %w", err)
	}
	if sec == nil || sec.Auth == nil {
		return nil, errors.New("vault login: no token")
	}
	c.SetToken(sec.Auth.ClientToken)
	return c, nil
}

// bootstrapPassword reads key of the tenant's bootstrap secret as the
// allocation's init task, whose template reads it.
func (d *double) bootstrapPassword(ctx context.Context, h *Harness, n tenant.Names, ts nomadtest.TaskStart, key string) (string, error) {
	c, err := d.taskVault(ctx, h, ts, "init")
	if err != nil {
		return "", err
	}
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

// vaultRole returns the role of task's vault block in the allocation's job,
// "" when it has none.
func vaultRole(ts nomadtest.TaskStart, task string) string {
	if ts.Alloc == nil || ts.Alloc.Job == nil {
		return ""
	}
	for _, tg := range ts.Alloc.Job.TaskGroups {
		if tg.Name == nil || *tg.Name != ts.Alloc.TaskGroup {
			continue
		}
		for _, t := range tg.Tasks {
			if t.Name == task && t.Vault != nil {
				return t.Vault.Role
			}
		}
	}
	return ""
}

// identity is the workload identity of the allocation's task that renders
// a template: the starting task's own when it has a vault block, else one
// minted for task (the jobspecs read bootstrap secrets in prestart tasks).
func (d *double) identity(ts nomadtest.TaskStart, task string) string {
	if ts.Identity != "" {
		return ts.Identity
	}
	jwt, err := d.MintIdentity(nomadtest.WorkloadClaims{Namespace: ts.Alloc.Namespace, JobID: ts.Alloc.JobID,
		Group: ts.Alloc.TaskGroup, Task: task, AllocID: ts.Alloc.ID, Identity: "vault_default"})
	if err != nil {
		return ""
	}
	return jwt
}

// postgresTask starts the tenant's Postgres on first boot (initialised with
// the bootstrap password the init task's template reads) and forwards the
// allocation's db port to it. The data outlives allocations, as the volume
// does.
func (d *double) postgresTask(h *Harness, n tenant.Names) nomadtest.TaskHook {
	return func(ctx context.Context, ts nomadtest.TaskStart) (*nomadtest.TaskRun, error) {
		d.mu.Lock()
		pg := d.pgs[n.ID.String()]
		ready := d.pgReady[n.ID.String()]
		d.mu.Unlock()
		if !ready {
			// The init task's template: the bootstrap superuser password.
			pw, err := d.bootstrapPassword(ctx, h, n, ts, vault.PostgresPasswordKey)
			if err != nil {
				return nil, err
			}
			if pg == nil {
				select {
				case pg = <-d.pgPool:
				default:
					pg = testenv.StartPostgres(d.t)
				}
			}
			conn, err := pgx.Connect(ctx, pg.URL("postgres"))
			if err != nil {
				return nil, err
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE ROLE %s WITH LOGIN SUPERUSER PASSWORD '%s'", observerUser, observerPassword)); err != nil {
				return nil, fmt.Errorf("create observer: %w", err)
			}
			if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER ROLE postgres WITH PASSWORD '%s'", pw)); err != nil {
				return nil, fmt.Errorf("set bootstrap password: %w", err)
			}
			if _, err := conn.Exec(ctx, "CREATE DATABASE "+n.Database); err != nil && !strings.Contains(err.Error(), "already exists") {
				return nil, fmt.Errorf("create database: %w", err)
			}
			d.mu.Lock()
			d.pgs[n.ID.String()], d.pgReady[n.ID.String()] = pg, true
			d.mu.Unlock()
		}
		fw, err := forward(ts.Env["NOMAD_ADDR_db"], net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)))
		if err != nil {
			return nil, err
		}
		return &nomadtest.TaskRun{Stop: fw.Close, Ready: dialReady(ts.Env["NOMAD_ADDR_db"])}, nil
	}
}

// redisTask starts the tenant's own Redis and creates its admin ACL user
// with the bootstrap password on first boot (what the ACL file template
// does, whose ACL file then persists on the data directory), and forwards
// the allocation's redis port to it. The server outlives allocations, as
// the data directory does.
func (d *double) redisTask(h *Harness, n tenant.Names) nomadtest.TaskHook {
	return func(ctx context.Context, ts nomadtest.TaskStart) (*nomadtest.TaskRun, error) {
		d.mu.Lock()
		ready := d.redisReady[n.ID.String()]
		shared := d.rds[n.ID.String()]
		d.mu.Unlock()
		if shared == nil {
			shared = testenv.StartRedis(d.t)
			d.mu.Lock()
			d.rds[n.ID.String()] = shared
			d.mu.Unlock()
		}
		if !ready {
			pw, err := d.bootstrapPassword(ctx, h, n, ts, vault.RedisPasswordKey)
			if err != nil {
				return nil, err
			}
			admin := redis.NewClient(&redis.Options{Addr: shared.Addr, Username: shared.AdminUser, Password: shared.AdminPassword,
				DisableIdentity: true, Protocol: 2, MaxRetries: -1})
			defer admin.Close()
			if err := admin.Do(ctx, "ACL", "SETUSER", n.RedisAdminUser, "reset", "on", ">"+pw, "~*", "&*", "+@all").Err(); err != nil {
				return nil, fmt.Errorf("create redis admin user: %w", err)
			}
			d.mu.Lock()
			d.redisReady[n.ID.String()] = true
			d.mu.Unlock()
		}
		fw, err := forward(ts.Env["NOMAD_ADDR_redis"], shared.Addr)
		if err != nil {
			return nil, err
		}
		return &nomadtest.TaskRun{Stop: fw.Close, Ready: dialReady(ts.Env["NOMAD_ADDR_redis"])}, nil
	}
}

// migrateTask runs the migration runner with the migrate role's credentials,
// the tenant's owner role and app group role; exit 1 with the runner's error
// on stderr when it fails.
func (d *double) migrateTask(h *Harness, n tenant.Names) nomadtest.TaskHook {
	return func(ctx context.Context, ts nomadtest.TaskStart) (*nomadtest.TaskRun, error) {
		if cmd, _ := ts.Task.Config["command"].(string); h.appBuildBroken(cmd) {
			fmt.Fprintf(ts.Stderr, "%s: this build cannot start\n", cmd)
			return &nomadtest.TaskRun{
				Ready: func(context.Context) error { return errors.New("not started") },
				Wait:  func(context.Context) int { return 1 },
			}, nil
		}
		vc, err := d.taskVault(ctx, h, ts, ts.Task.Name)
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

// appTask writes the env files the app's templates render and runs the
// reference app (serve) or worker (work) in-process on the allocation's port.
func (d *double) appTask(h *Harness, n tenant.Names, cmd, dbRole, redisRole, readyPath string) nomadtest.TaskHook {
	return func(ctx context.Context, ts nomadtest.TaskStart) (*nomadtest.TaskRun, error) {
		if cmd, _ := ts.Task.Config["command"].(string); h.appBuildBroken(cmd) {
			fmt.Fprintf(ts.Stderr, "%s: this build cannot start\n", cmd)
			return &nomadtest.TaskRun{
				Ready: func(context.Context) error { return errors.New("not started") },
				Wait:  func(context.Context) int { return 1 },
			}, nil
		}
		vc, err := d.taskVault(ctx, h, ts, ts.Task.Name)
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
		// One file per credential, as the jobspec's two templates render them.
		pgFile, redisFile := filepath.Join(ts.SecretsDir, "postgres.env"), filepath.Join(ts.SecretsDir, "redis.env")
		files := map[string]string{
			pgFile: fmt.Sprintf("DATABASE_URL=postgres://%s:%s@%s/%s?sslmode=disable\n",
				url.PathEscape(dbUser), url.PathEscape(dbPass), pgAddr, n.Database),
			redisFile: fmt.Sprintf("REDIS_ADDR=%s\nREDIS_USERNAME=%s\nREDIS_PASSWORD=%s\n", redisAddr, rUser, rPass),
		}
		for f, body := range files {
			if err := os.WriteFile(f, []byte(body), 0o400); err != nil {
				return nil, err
			}
		}
		envFile := pgFile + string(filepath.ListSeparator) + redisFile
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

// httpReady returns a check that GET u answers 200.
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
	go f.serve(target)
	return f, nil
}

// serve accepts until the listener is closed. Any other accept error (the
// process out of file descriptors, under a 100-tenant benchmark) is waited
// out with a growing pause, as a server process would: a forwarder that
// stopped accepting would leave its tenant's Postgres or Redis unreachable
// for good, which no real allocation does.
func (f *forwarder) serve(target string) {
	pause := 5 * time.Millisecond
	for {
		c, err := f.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(pause)
			pause = min(2*pause, time.Second)
			continue
		}
		pause = 5 * time.Millisecond
		go f.relay(c, target)
	}
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
