package nomadparse

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/jobspec"
	"github.com/tenantctl/tenantctl/internal/nomadtest/jobhcl"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/jobspecs"
)

// TestDockerProfileRedisScripts runs the shell of the docker profile's Redis
// tasks on the host, as the image would (no Docker here): the volume's /data
// is a temp dir, redis-server and redis-cli are the host's. The init task
// creates the ACL file once, 0600 and owned by the image's uid 999, and the
// aclsave sidecar saves Vault's changes to it over the host address and the
// mapped port.
func TestDockerProfileRedisScripts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the docker profile's init task runs as root in the image (chown 999); run the tests as root")
	}
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not found: %v", bin, err)
		}
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
	aclFile := filepath.Join(data, "users.acl")

	initTask := task(t, job, "init")
	_, env := prepareTask(t, initTask, runtime())
	env = append(env, "REDIS_DATA_DIR="+data)
	for i, want := range []string{"redis: created ", "redis: keeping "} {
		cmd, args := commandOf(initTask, runtime())
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
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode() != 0o600 || st.Uid != 999 || st.Gid != 999 {
		t.Fatalf("ACL file mode %v owner %d:%d; want 0600 owned by 999:999", fi.Mode(), st.Uid, st.Gid)
	}

	// redis: the image's command with /data on the temp dir; Docker maps the
	// host port to the container's 6379, here Redis listens on it directly.
	rt := task(t, job, "redis")
	var args []string
	if raw, ok := rt.Config["args"].([]any); ok {
		for _, a := range raw {
			args = append(args, strings.Replace(interpolate(a.(string), runtime()), "/data", data, 1))
		}
	}
	if len(args) == 0 || args[0] != "redis-server" || !strings.Contains(strings.Join(args, " "), "--aclfile "+aclFile) {
		t.Fatalf("redis args %q; want redis-server --aclfile /data/users.acl", args)
	}
	start(t, "redis", "redis-server", append(args[1:], "--port", port, "--bind", "127.0.0.1"), nil, nil)
	admin := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + port, Username: "acme--admin", Password: bootPW})
	t.Cleanup(func() { admin.Close() })
	eventually(t, "redis as the bootstrap admin", func() error { return admin.Ping(ctx).Err() })
	if err := admin.Do(ctx, "ACL", "SETUSER", "v-dyn", "on", ">dyn", "~*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}

	st := task(t, job, "aclsave")
	_, env = prepareTask(t, st, runtime())
	cmd, sargs := commandOf(st, runtime())
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
