package nomadparse

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
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
	for _, tpl := range tk.Templates {
		tmpl, err := template.New("t").Funcs(funcs).Parse(deref(tpl.EmbeddedTmpl))
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(filepath.Join(dir, deref(tpl.DestPath)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o400)
		if err != nil {
			t.Fatal(err)
		}
		if err := tmpl.Execute(f, nil); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	env := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range runtime {
		env = append(env, k+"="+v)
	}
	for k, v := range tk.Env {
		env = append(env, k+"="+interpolate(v, runtime))
	}
	return dir, env
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

// start runs a long-lived task process until the test ends.
func start(t *testing.T, name string, cmd string, args, env []string, cred *syscall.Credential) *exec.Cmd {
	t.Helper()
	c := exec.Command(cmd, args...)
	c.Env = env
	logf, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	c.Stdout, c.Stderr = logf, logf
	c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := c.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = c.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = c.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("--- %s log ---\n%s", name, b)
		}
	})
	return c
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

// TestExecProfileRedisRuns runs the exec profile's Redis job for real and
// checks the ACL file: the default user is off, the admin user works with
// the bootstrap password, maxmemory follows the plan.
func TestExecProfileRedisRuns(t *testing.T) {
	e := newExecEnv(t)
	jobs, err := jobspec.Render(jobspecs.FS, e.cfg, mustSpec(t, "acme", "ACME", tenant.ProfileExec))
	if err != nil {
		t.Fatal(err)
	}
	job, err := jobhcl.Parse(jobs[1].Source, jobs[1].Vars, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	runtime := map[string]string{"NOMAD_PORT_redis": port, "NOMAD_IP_redis": "127.0.0.1"}
	initTask := task(t, job, "init")
	cmd, args := commandOf(initTask, runtime)
	if out, err := exec.Command(cmd, args...).CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	rt := task(t, job, "redis")
	_, env := prepareTask(t, rt, runtime)
	cmd, args = commandOf(rt, runtime)
	start(t, "redis", cmd, args, env, nil)

	admin := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + port, Username: "acme--admin", Password: "redis boot pw"})
	defer admin.Close()
	eventually(t, "redis as the admin user", func() error { return admin.Ping(context.Background()).Err() })
	mm, err := admin.ConfigGet(context.Background(), "maxmemory").Result()
	if err != nil || mm["maxmemory"] != strconv.Itoa(64<<20) {
		t.Fatalf("maxmemory = %v, %v; want %d", mm, err, 64<<20)
	}
	anon := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + port})
	defer anon.Close()
	if err := anon.Ping(context.Background()).Err(); err == nil || !strings.Contains(strings.ToUpper(err.Error()), "AUTH") {
		t.Fatalf("ping as the default user: %v; want an authentication error", err)
	}
	if _, err := os.Stat(filepath.Join(e.dataDir, "acme--redis-data")); err != nil {
		t.Fatalf("redis data dir: %v", err)
	}
}
