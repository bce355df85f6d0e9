package nomadparse

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
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

// TestDockerProfileRedisScripts runs the shell of the docker profile's Redis
// tasks on the host, as the image would (no Docker here): the volume's /data
// is a temp dir, redis-server and redis-cli are the host's, and the host's
// redis user (Debian's redis-server package) stands in for the image's. The
// init task creates the ACL file once, 0600 and owned by the redis user, and
// the aclsave sidecar saves Vault's changes to it over the host address and
// the mapped port. The real containers run in the opt-in real suite
// (internal/e2e, TENANTCTL_TEST_DOCKER).
func TestDockerProfileRedisScripts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the docker profile's init task runs as root in the image (chown redis:); run the tests as root")
	}
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not found: %v", bin, err)
		}
	}
	redisUser, err := user.Lookup("redis")
	if err != nil {
		t.Skipf("no redis user on this host (Debian's redis-server package makes it): %v", err)
	}
	jobs, err := jobspec.Render(jobspecs.FS, config.Default(), mustSpec(t, "acme", "ACME", tenant.ProfileDocker))
	if err != nil {
		t.Fatal(err)
	}
	job, err := jobhcl.Parse(jobs[1].Source, jobs[1].Vars, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	const bootPW = "redis boot pw"
	ctx := context.Background()
	port := freePort(t)
	runtime := func() map[string]string {
		return map[string]string{"NOMAD_IP_redis": "127.0.0.1", "NOMAD_HOST_PORT_redis": port, "NOMAD_PORT_redis": "6379"}
	}
	data := t.TempDir() // the volume, mounted at /data in the containers
	// Redis runs as the redis user, who must reach the volume (as the mount
	// point in a container).
	if err := os.Chmod(filepath.Dir(data), 0o711); err != nil {
		t.Fatal(err)
	}
	aclFile := filepath.Join(data, "users.acl")

	initTask := task(t, job, "init")
	_, env := prepareTask(t, initTask, runtime())
	env = append(env, "REDIS_DATA_DIR="+data)
	for i, want := range []string{"redis: created ", "redis: keeping "} {
		cmd, args := dockerCommandOf(t, initTask, runtime())
		c := exec.Command(cmd, args...)
		c.Env = env
		out, err := c.CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Fatalf("init run %d: %v\n%s; want %q", i+1, err, out, want)
		}
	}
	fi, err := os.Stat(aclFile)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode() != 0o600 || fmt.Sprint(st.Uid) != redisUser.Uid || fmt.Sprint(st.Gid) != redisUser.Gid {
		t.Fatalf("ACL file mode %v owner %d:%d; want 0600 owned by redis (%s:%s)", fi.Mode(), st.Uid, st.Gid, redisUser.Uid, redisUser.Gid)
	}
	if initTask.User != "root" {
		t.Errorf("init task user %q; want root (it hands the volume to the redis user)", initTask.User)
	}

	// redis: the task's entrypoint with /data on the temp dir, as the redis
	// user; Docker maps the host port to the container's 6379, here Redis
	// listens on it directly.
	rt := task(t, job, "redis")
	cmd, rargs := dockerCommandOf(t, rt, runtime())
	var args []string
	for _, a := range rargs {
		args = append(args, strings.Replace(a, "/data", data, 1))
	}
	if cmd != "redis-server" || !strings.Contains(strings.Join(args, " "), "--aclfile "+aclFile) || rt.User != "redis" {
		t.Fatalf("redis task: user %q, %s %q; want user redis, redis-server --aclfile /data/users.acl", rt.User, cmd, args)
	}
	start(t, "redis", "redis-server", append(args, "--port", port, "--bind", "127.0.0.1"), nil, credentialOf(t, redisUser))
	admin := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + port, Username: "acme--admin", Password: bootPW})
	t.Cleanup(func() { admin.Close() })
	eventually(t, "redis as the bootstrap admin", func() error { return admin.Ping(ctx).Err() })
	if err := admin.Do(ctx, "ACL", "SETUSER", "v-dyn", "on", ">dyn", "~*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}

	st := task(t, job, "aclsave")
	_, env = prepareTask(t, st, runtime())
	cmd, sargs := dockerCommandOf(t, st, runtime())
	start(t, "aclsave", cmd, sargs, append(env, "ACL_SAVE_INTERVAL=0.2"), nil)
	eventually(t, "the sidecar saves the ACLs", func() error {
		b, err := os.ReadFile(aclFile)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), "user v-dyn on") {
			return fmt.Errorf("ACL file %q; want user v-dyn", b)
		}
		return nil
	})
}

// dockerCommandOf returns a docker task's command line (its entrypoint, then
// its args), interpolated. Every docker task of the data jobs names its
// entrypoint, so no image's own entrypoint script ever runs.
func dockerCommandOf(t *testing.T, tk *api.Task, runtime map[string]string) (string, []string) {
	t.Helper()
	var line []string
	for _, key := range []string{"entrypoint", "args"} {
		switch raw := tk.Config[key].(type) {
		case []any:
			for _, a := range raw {
				line = append(line, interpolate(a.(string), runtime))
			}
		case []string:
			for _, a := range raw {
				line = append(line, interpolate(a, runtime))
			}
		case nil:
		default:
			t.Fatalf("task %s: config %s is %T", tk.Name, key, raw)
		}
	}
	if _, ok := tk.Config["entrypoint"]; !ok || len(line) == 0 {
		t.Fatalf("task %s: no entrypoint; want every docker task of the data jobs to name one", tk.Name)
	}
	return line[0], line[1:]
}

// credentialOf is the credential of a host user, to run a process as it.
func credentialOf(t *testing.T, u *user.User) *syscall.Credential {
	t.Helper()
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		t.Fatalf("user %s: uid %q gid %q", u.Username, u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// TestDockerProfilePostgresScripts runs the docker profile's Postgres tasks
// on the host, as the image would run them (no Docker here): the init task's
// script as root with the volume on a temp dir and the server binaries on
// PATH (as the image's PATH has them), twice (the second run finds the data),
// then the postgres task's entrypoint and args as the postgres user. The
// tenant database exists, the superuser's password is the bootstrap one
// (SCRAM), and pg_hba accepts password logins from other hosts, since the
// job's peers come through the mapped port. The containers themselves run in
// the opt-in real suite (internal/e2e, TENANTCTL_TEST_DOCKER).
func TestDockerProfilePostgresScripts(t *testing.T) {
	e := newExecEnv(t) // root, Debian's PostgreSQL, a postgres user, a traversable temp dir
	jobs, err := jobspec.Render(jobspecs.FS, e.cfg, mustSpec(t, "acme", "ACME", tenant.ProfileDocker))
	if err != nil {
		t.Fatal(err)
	}
	job, err := jobhcl.Parse(jobs[0].Source, jobs[0].Vars, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	volume := filepath.Join(filepath.Dir(e.dataDir), "volume") // mounted at /var/lib/postgresql/data
	if err := os.MkdirAll(volume, 0o755); err != nil {
		t.Fatal(err)
	}
	onVolume := func(s string) string { return strings.Replace(s, "/var/lib/postgresql/data", volume, 1) }
	imagePath := "PATH=" + e.cfg.Exec.PostgresBinDir + ":" + os.Getenv("PATH")
	runtime := map[string]string{}

	initTask := task(t, job, "init")
	if initTask.User != "root" {
		t.Errorf("init task user %q; want root", initTask.User)
	}
	_, env := prepareTask(t, initTask, runtime)
	for i, kv := range env {
		env[i] = onVolume(kv)
	}
	env = append(env, imagePath)
	cmd, args := dockerCommandOf(t, initTask, runtime)
	for i, want := range []string{"postgres: initialised ", "is initialised"} {
		c := exec.Command(cmd, args...)
		c.Env = env
		out, err := c.CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Fatalf("init run %d: %v\n%s; want %q", i+1, err, out, want)
		}
	}
	pgdata := filepath.Join(volume, "pgdata")
	for _, p := range []string{volume, pgdata} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); fmt.Sprint(st.Uid) != e.pgUser.Uid || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v owner %d; want 0700 owned by postgres (%s)", p, fi.Mode().Perm(), st.Uid, e.pgUser.Uid)
		}
	}
	if hba, err := os.ReadFile(filepath.Join(pgdata, "pg_hba.conf")); err != nil || !strings.Contains(string(hba), "\nhost all all all scram-sha-256\n") {
		t.Errorf("pg_hba.conf: %v; want a line accepting password logins from other hosts", err)
	}

	pgTask := task(t, job, "postgres")
	if pgTask.User != "postgres" {
		t.Errorf("postgres task user %q; want postgres", pgTask.User)
	}
	cmd, args = dockerCommandOf(t, pgTask, runtime)
	for i := range args {
		args[i] = onVolume(args[i])
	}
	if cmd != "postgres" {
		t.Fatalf("postgres entrypoint %q; want postgres", cmd)
	}
	port := freePort(t)
	start(t, "postgres", filepath.Join(e.cfg.Exec.PostgresBinDir, cmd),
		append(args, "-p", port, "-c", "listen_addresses=127.0.0.1"), []string{imagePath}, credentialOf(t, e.pgUser))

	url := fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%s/acme__app?sslmode=disable", "pg%20boot%20%22pw%22", port)
	var conn *pgx.Conn
	eventually(t, "connect to the tenant database", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		conn, err = pgx.Connect(ctx, url)
		return err
	})
	defer conn.Close(context.Background())
	var db, method string
	err = conn.QueryRow(context.Background(),
		`select current_database(), left(rolpassword, 13) from pg_authid where rolname = 'postgres'`).Scan(&db, &method)
	if err != nil || db != "acme__app" || method != "SCRAM-SHA-256" {
		t.Fatalf("got database %q, password %q (%v); want acme__app, SCRAM-SHA-256", db, method, err)
	}
}
