package nomadparse

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/jobspec"
	"github.com/tenantctl/tenantctl/internal/nomadtest/jobhcl"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/jobspecs"
)

// execEnv is what running the exec profile's data services for real needs.
type execEnv struct {
	cfg     config.Config
	pgUser  *user.User
	dataDir string
}

func newExecEnv(t *testing.T) execEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the exec profile's Postgres init runs as root (like a Nomad client); run the tests as root")
	}
	cfg := config.Default()
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		t.Skip("no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)")
	}
	cfg.Exec.PostgresBinDir = filepath.Dir(matches[len(matches)-1])
	for _, bin := range []string{"runuser", cfg.Exec.RedisServer} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not found: %v", bin, err)
		}
	}
	u, err := user.Lookup(cfg.Exec.PostgresUser)
	if err != nil {
		t.Skipf("no OS user %q: %v", cfg.Exec.PostgresUser, err)
	}
	// The Postgres user must traverse the data directory's parents, as on a
	// Nomad client whose directories are 0755.
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Exec.DataDir = filepath.Join(dir, "data")
	return execEnv{cfg: cfg, pgUser: u, dataDir: cfg.Exec.DataDir}
}

// task finds a task of a parsed job.
func task(t *testing.T, job *api.Job, name string) *api.Task {
	t.Helper()
	for _, tg := range job.TaskGroups {
		for _, tk := range tg.Tasks {
			if tk.Name == name {
				return tk
			}
		}
	}
	t.Fatalf("job %s has no task %s", deref(job.ID), name)
	return nil
}

// prepareTask renders a task's templates into a fresh task directory, the way
// Nomad's template runner would, and returns the directory and the task's
// environment (its env block plus NOMAD_* variables).
func prepareTask(t *testing.T, tk *api.Task, runtime map[string]string) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"local", "secrets"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	runtime["NOMAD_TASK_DIR"] = filepath.Join(dir, "local")
	runtime["NOMAD_SECRETS_DIR"] = filepath.Join(dir, "secrets")
	funcs := template.FuncMap{
		"secret": func(string) (*fakeSecret, error) {
			return &fakeSecret{Data: map[string]any{"data": map[string]any{"postgres_password": "pg boot \"pw\"", "redis_password": "redis boot pw"}}}, nil
		},
		"sha256Hex": func(s string) string { return sha256Hex(s) },
	}
	var templated []string // KEY=VALUE lines of env templates
	for _, tpl := range tk.Templates {
		tmpl, err := template.New("t").Funcs(funcs).Parse(deref(tpl.EmbeddedTmpl))
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := tmpl.Execute(&b, nil); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, deref(tpl.DestPath)), []byte(b.String()), 0o400); err != nil {
			t.Fatal(err)
		}
		if deref(tpl.Envvars) {
			for _, line := range strings.Split(b.String(), "\n") {
				if strings.Contains(line, "=") {
					templated = append(templated, line)
				}
			}
		}
	}
	env := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range runtime {
		env = append(env, k+"="+v)
	}
	for k, v := range tk.Env {
		env = append(env, k+"="+interpolate(v, runtime))
	}
	return dir, append(env, templated...)
}

// interpolate resolves the runtime references ${NOMAD_…} the Nomad client
// would resolve.
func interpolate(s string, runtime map[string]string) string {
	for k, v := range runtime {
		s = strings.ReplaceAll(s, "${"+k+"}", v)
	}
	return s
}

// commandOf returns a raw_exec task's command line, interpolated.
func commandOf(tk *api.Task, runtime map[string]string) (string, []string) {
	cmd := interpolate(tk.Config["command"].(string), runtime)
	var args []string
	if raw, ok := tk.Config["args"].([]any); ok {
		for _, a := range raw {
			args = append(args, interpolate(a.(string), runtime))
		}
	} else if raw, ok := tk.Config["args"].([]string); ok {
		for _, a := range raw {
			args = append(args, interpolate(a, runtime))
		}
	}
	return cmd, args
}

// proc is a long-lived task process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// stop sends sig and waits for the process to exit (killing it after 20 s).
// It may be called more than once.
func (p *proc) stop(sig os.Signal) {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// start runs a long-lived task process until the test ends (or stop).
func start(t *testing.T, name string, cmd string, args, env []string, cred *syscall.Credential) *proc {
	t.Helper()
	c := exec.Command(cmd, args...)
	c.Env = env
	logf, err := os.CreateTemp(t.TempDir(), name+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	c.Stdout, c.Stderr = logf, logf
	c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := c.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{cmd: c, done: make(chan struct{})}
	go func() { _ = c.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(syscall.SIGINT)
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("--- %s log ---\n%s", name, b)
		}
	})
	return p
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// eventually retries fn until it succeeds or the deadline passes.
func eventually(t *testing.T, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestExecProfilePostgresRuns runs the exec profile's Postgres job for real
// (its init task twice, then postgres as the Postgres user) with the
// commands, environment and templates parsed from the rendered jobspec.
func TestExecProfilePostgresRuns(t *testing.T) {
	e := newExecEnv(t)
	jobs, err := jobspec.Render(jobspecs.FS, e.cfg, mustSpec(t, "acme", "ACME", tenant.ProfileExec))
	if err != nil {
		t.Fatal(err)
	}
	job, err := jobhcl.Parse(jobs[0].Source, jobs[0].Vars, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	runtime := map[string]string{"NOMAD_PORT_db": port, "NOMAD_IP_db": "127.0.0.1"}

	initTask := task(t, job, "init")
	_, env := prepareTask(t, initTask, runtime)
	cmd, args := commandOf(initTask, runtime)
	for i := range 2 { // the second run must find the data and do nothing
		c := exec.Command(cmd, args...)
		c.Env = env
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("init run %d: %v\n%s", i+1, err, out)
		}
		if i == 1 && !strings.Contains(string(out), "is initialised") {
			t.Fatalf("init run 2: %s; want it to find the data initialised", out)
		}
	}

	pgTask := task(t, job, "postgres")
	if pgTask.User != e.cfg.Exec.PostgresUser {
		t.Fatalf("postgres task user %q; want %q", pgTask.User, e.cfg.Exec.PostgresUser)
	}
	_, env = prepareTask(t, pgTask, runtime)
	uid, _ := strconv.Atoi(e.pgUser.Uid)
	gid, _ := strconv.Atoi(e.pgUser.Gid)
	cmd, args = commandOf(pgTask, runtime)
	start(t, "postgres", cmd, args, env, &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)})

	url := fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%s/acme__app?sslmode=disable", "pg%20boot%20%22pw%22", port)
	var conn *pgx.Conn
	eventually(t, "connect to the tenant database", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		conn, err = pgx.Connect(ctx, url)
		return err
	})
	defer conn.Close(context.Background())
	var db, maxConns, method string
	err = conn.QueryRow(context.Background(),
		`select current_database(), current_setting('max_connections'), left(rolpassword, 13) from pg_authid where rolname = 'postgres'`).
		Scan(&db, &maxConns, &method)
	if err != nil {
		t.Fatal(err)
	}
	if db != "acme__app" || maxConns != "50" || method != "SCRAM-SHA-256" {
		t.Fatalf("got database %q, max_connections %q, password %q; want acme__app, 50, SCRAM-SHA-256", db, maxConns, method)
	}
	bad, err := pgx.Connect(context.Background(), strings.Replace(url, "pg%20boot", "wrong", 1))
	if err == nil {
		bad.Close(context.Background())
		t.Fatalf("connected with a wrong password; want refused")
	}
}

// TestExecProfileRedisRuns runs the exec profile's Redis job for real (the
// init task, redis and the aclsave sidecar, with the commands, environment
// and templates parsed from the rendered jobspec) and checks that Vault's ACL
// changes survive a restart: the ACL file lives on the data directory,
// created once from the bootstrap file and saved by the sidecar; the default
// user is off; the save-only user may run nothing but ACL SAVE and PING;
// maxmemory follows the plan.
func TestExecProfileRedisRuns(t *testing.T) {
	e := newExecEnv(t)
	if _, err := exec.LookPath(e.cfg.Exec.RedisCLI); err != nil {
		t.Skipf("%s not found: %v", e.cfg.Exec.RedisCLI, err)
	}
	jobs, err := jobspec.Render(jobspecs.FS, e.cfg, mustSpec(t, "acme", "ACME", tenant.ProfileExec))
	if err != nil {
		t.Fatal(err)
	}
	job, err := jobhcl.Parse(jobs[1].Source, jobs[1].Vars, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	const bootPW = "redis boot pw" // the bootstrap redis_password of prepareTask's secret stand-in
	ctx := context.Background()
	port := freePort(t)
	addr := "127.0.0.1:" + port
	runtime := func() map[string]string {
		return map[string]string{"NOMAD_PORT_redis": port, "NOMAD_IP_redis": "127.0.0.1"}
	}
	dataDir := filepath.Join(e.dataDir, "acme--redis-data")
	aclFile := filepath.Join(dataDir, "users.acl")

	// init: creates the data dir and the ACL file on first boot, keeps it later.
	initTask := task(t, job, "init")
	initDir, initEnv := prepareTask(t, initTask, runtime())
	runInit := func(want string) {
		t.Helper()
		cmd, args := commandOf(initTask, runtime())
		c := exec.Command(cmd, args...)
		c.Env = initEnv
		out, err := c.CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Fatalf("init: %v\n%s; want output %q", err, out, want)
		}
	}
	runInit("redis: created " + aclFile)
	bootstrap, err := os.ReadFile(filepath.Join(initDir, "secrets", "users.acl"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(aclFile); err != nil || string(got) != string(bootstrap) {
		t.Fatalf("ACL file %q, %v; want the bootstrap file %q", got, err, bootstrap)
	}
	for path, want := range map[string]os.FileMode{dataDir: 0o700 | os.ModeDir, aclFile: 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
			t.Fatalf("%s: %v, %v; want mode %v", path, fi.Mode(), err, want)
		}
	}
	runInit("redis: keeping " + aclFile)

	rt := task(t, job, "redis")
	if rt.Vault != nil || len(rt.Templates) != 0 {
		t.Fatalf("redis task has a vault block or templates; want none (the ACL file comes from the data dir)")
	}
	startRedis := func() *proc {
		t.Helper()
		_, env := prepareTask(t, rt, runtime())
		cmd, args := commandOf(rt, runtime())
		if !slices.Contains(args, aclFile) {
			t.Fatalf("redis args %q; want --aclfile %s", args, aclFile)
		}
		return start(t, "redis", cmd, args, env, nil)
	}
	as := func(user, pw string) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: addr, Username: user, Password: pw, MaxRetries: -1})
		t.Cleanup(func() { c.Close() })
		return c
	}
	server := startRedis()
	admin := as("acme--admin", bootPW)
	eventually(t, "redis as the bootstrap admin", func() error { return admin.Ping(ctx).Err() })
	mm, err := admin.ConfigGet(ctx, "maxmemory").Result()
	if err != nil || mm["maxmemory"] != strconv.Itoa(64<<20) {
		t.Fatalf("maxmemory = %v, %v; want %d", mm, err, 64<<20)
	}

	// What Vault's redis-database-plugin does: a dynamic user, then rotate-root.
	const dynUser, dynPW, rotatedPW = "v-jwt-noma-acme--redis-app-x1", "dyn pw", "rotated pw"
	for _, args := range [][]any{
		{"ACL", "SETUSER", dynUser, "on", ">" + dynPW, "~*", "&*", "+@all", "-@admin", "-@dangerous"},
		{"ACL", "SETUSER", "acme--admin", "resetpass", ">" + rotatedPW},
	} {
		if err := admin.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v: %v", args[:3], err)
		}
	}

	// The sidecar, for real, with a short interval; its password comes from
	// the env template, never argv.
	st := task(t, job, "aclsave")
	if st.Lifecycle == nil || st.Lifecycle.Hook != "poststart" || !st.Lifecycle.Sidecar {
		t.Fatalf("aclsave lifecycle %+v; want a poststart sidecar", st.Lifecycle)
	}
	_, env := prepareTask(t, st, runtime())
	if !slices.Contains(env, "REDISCLI_AUTH="+bootPW) {
		t.Fatalf("aclsave env lacks REDISCLI_AUTH from its template")
	}
	cmd, args := commandOf(st, runtime())
	for _, a := range append([]string{cmd}, args...) {
		if strings.Contains(a, bootPW) || strings.Contains(a, "REDISCLI_AUTH") {
			t.Fatalf("aclsave argv %q holds the password or expands REDISCLI_AUTH", a)
		}
	}
	sidecar := start(t, "aclsave", cmd, args, append(env, "ACL_SAVE_INTERVAL=0.2"), nil)
	eventually(t, "the sidecar saves the ACLs", func() error {
		b, err := os.ReadFile(aclFile)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "user acme--admin ") && strings.Contains(line, "#"+sha256Hex(rotatedPW)) &&
				!strings.Contains(line, "#"+sha256Hex(bootPW)) && strings.Contains(string(b), "user "+dynUser+" on") {
				return nil
			}
		}
		return fmt.Errorf("ACL file %q; want the dynamic user and the rotated admin password", b)
	})
	// No process on the machine shows the password on its command line.
	if pids, err := filepath.Glob("/proc/[0-9]*/cmdline"); err == nil {
		for _, f := range pids {
			if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), bootPW) {
				t.Fatalf("%s holds the password: %q", f, b)
			}
		}
	}

	// A crash: Redis is killed (no shutdown hook can save anything), the
	// init task of a new allocation keeps the file, Redis starts again from
	// the same jobspec. The sidecar keeps running, as it would on a task
	// restart.
	server.stop(syscall.SIGKILL)
	runInit("redis: keeping " + aclFile)
	startRedis()
	admin = as("acme--admin", rotatedPW)
	eventually(t, "redis as the rotated admin after the restart", func() error { return admin.Ping(ctx).Err() })
	dyn := as(dynUser, dynPW)
	if err := dyn.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET as the dynamic user after the restart: %v; want OK", err)
	}
	if v, err := dyn.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET as the dynamic user: %q, %v; want v", v, err)
	}
	if err := as("acme--admin", bootPW).Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("ping as the admin with the bootstrap password: %v; want WRONGPASS", err)
	}
	if err := as("", "").Ping(ctx).Err(); err == nil || !strings.Contains(strings.ToUpper(err.Error()), "AUTH") {
		t.Fatalf("ping as the default user: %v; want an authentication error", err)
	}

	// The save-only user: PING and ACL SAVE, nothing else.
	saver := as("acme--aclsave", bootPW)
	if err := saver.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping as the save-only user: %v; want PONG", err)
	}
	if err := saver.Do(ctx, "ACL", "SAVE").Err(); err != nil {
		t.Fatalf("ACL SAVE as the save-only user: %v; want OK", err)
	}
	for _, args := range [][]any{
		{"GET", "k"}, {"SET", "k", "x"}, {"CONFIG", "GET", "maxmemory"}, {"FLUSHALL"}, {"ACL", "SETUSER", "evil", "on", "nopass", "+@all"},
		{"ACL", "LIST"}, {"ACL", "LOAD"}, {"PUBLISH", "c", "m"}, {"KEYS", "*"}, {"SHUTDOWN"},
	} {
		if err := saver.Do(ctx, args...).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("%v as the save-only user: %v; want NOPERM", args, err)
		}
	}
	if v, err := dyn.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET after the save-only user's attempts: %q, %v; want v", v, err)
	}

	// Nomad stops the sidecar with SIGINT; it exits at once, not after its interval.
	sidecar.stop(syscall.SIGINT)
	if code := sidecar.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("aclsave exit code %d; want 0", code)
	}
}
