package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/redis/go-redis/v9"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/provisiontest"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/testenv"
)

// dockerImages are the images `go tool task images -- --all` builds
// (scripts/images.sh --print, in its order).
type dockerImages struct {
	App, Tenantctl, Postgres, Redis, Nginx, Backup string
}

func (d dockerImages) all() []string {
	return []string{d.App, d.Tenantctl, d.Postgres, d.Redis, d.Nginx, d.Backup}
}

// repoRoot is the checkout the suite runs in.
func repoRoot() string { return filepath.Join("..", "..") }

// newDockerWorld starts the docker profile's cluster: a Docker engine
// (TENANTCTL_TEST_DOCKER), every image built from this checkout by the
// repository's own command and checked to be in the engine before any job
// names it, and a Nomad dev agent whose docker driver uses that engine and
// whose client publishes ports on the engine's bridge (containers cannot
// reach the host's loopback). It skips without TENANTCTL_TEST_NOMAD_BIN or
// TENANTCTL_TEST_DOCKER.
func newDockerWorld(t *testing.T) *world {
	t.Helper()
	testenv.NomadBinary(t)
	d := testenv.StartDocker(t)
	w := &world{t: t, routerPort: testenv.FreePort(t), docker: d}
	dir, err := os.MkdirTemp("", "tenantctl-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	w.dir = dir
	w.buildImages()
	d.RequireImages(t, w.images.all()...)

	configure := func(cfg *config.Config) {
		cfg.Profile = tenant.ProfileDocker
		cfg.BaseDomain = baseDomain
		cfg.RouterAddress = fmt.Sprintf("127.0.0.1:%d", w.routerPort)
		cfg.PathRoutingHost = pathHost
		cfg.Docker = config.Docker{
			PostgresImage: w.images.Postgres, RedisImage: w.images.Redis,
			AppImage: w.images.App, TenantctlImage: w.images.Tenantctl, BackupImage: w.images.Backup,
		}
		cfg.Update = config.Default().Update
	}
	// The backup jobs mount the backup root as the host volume the config
	// names (backup.volume); a client must declare it, as a cluster's do
	// (docs/backups.md). The runner writes it as uid 65532.
	backups := filepath.Join(dir, "backups")
	if err := os.MkdirAll(backups, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(backups, 65532, 65532); err != nil {
		t.Fatal(err)
	}
	opts := testenv.NomadOptions{DockerEndpoint: d.Host, NetworkInterface: d.Bridge,
		StaticHostVolumes: map[string]string{config.Default().Backup.Volume: backups}}
	w.h = provisiontest.New(t, provisiontest.WithNomad(provisiontest.RealNomad(opts, &w.real)),
		provisiontest.WithConfig(configure))
	w.consul = testenv.SharedConsul(t).Client(t)
	w.cfgPath = filepath.Join(dir, "tenantctl.hcl")
	var b strings.Builder
	fmt.Fprintf(&b, "profile        = \"docker\"\nbase_domain    = %q\nrouter_address = \"127.0.0.1:%d\"\n", baseDomain, w.routerPort)
	fmt.Fprintf(&b, "path_routing_host = %q\n", pathHost)
	fmt.Fprintf(&b, "docker {\n  postgres_image  = %q\n  redis_image     = %q\n  app_image       = %q\n  tenantctl_image = %q\n  backup_image    = %q\n}\n",
		w.images.Postgres, w.images.Redis, w.images.App, w.images.Tenantctl, w.images.Backup)
	if err := os.WriteFile(w.cfgPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	w.cliEnv = w.h.CLIEnv()
	w.cliEnv["TENANTCTL_CONFIG"] = w.cfgPath
	t.Logf("real Nomad %s at %s with Docker %s at %s (tenantctl through %s)",
		w.real.Version, w.real.Nomad.Addr, d.Version, d.Host, w.real.Addr())
	return w
}

// buildImages runs `scripts/images.sh --all` (what `go tool task images --
// --all` runs) against the world's engine and reports the build time and
// each image's size.
func (w *world) buildImages() {
	w.t.Helper()
	script := filepath.Join(repoRoot(), "scripts", "images.sh")
	out, err := exec.Command("bash", script, "--print").Output()
	if err != nil {
		w.t.Fatalf("e2e: %s --print: %v", script, err)
	}
	names := strings.Fields(string(out))
	if len(names) != 6 {
		w.t.Fatalf("e2e: %s --print: got %q; want 6 image names", script, names)
	}
	w.images = dockerImages{App: names[0], Tenantctl: names[1], Postgres: names[2], Redis: names[3], Nginx: names[4], Backup: names[5]}
	start := time.Now()
	cmd := exec.Command("bash", script, "--all")
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+w.docker.Host)
	if b, err := cmd.CombinedOutput(); err != nil {
		w.t.Fatalf("e2e: %s --all: %v\n%s", script, err, b)
	}
	report("docker/images/build", time.Since(start))
	for _, img := range w.images.all() {
		if n, err := w.docker.ImageSize(img); err == nil {
			w.t.Logf("image %s: %.1f MB", img, float64(n)/1e6)
		}
	}
}

// TestRealNomadDockerCycle is the docker profile's whole cycle on a real
// Nomad agent with a real Docker engine, through the CLI, from images built
// by the repository's own command: dynamic host volumes created by up, the
// router job (nginx image), up of two tenants, requests routed by Host
// header, credential files readable only by their task's user, Postgres rows
// and Redis keys (and Vault's rotated Redis admin) surviving a container
// restart and a job restart, rotate with the route answering throughout,
// down with --purge-data (volumes deleted) and without (volumes kept), and
// up again after the kept-data down.
func TestRealNomadDockerCycle(t *testing.T) {
	w := newDockerWorld(t)
	h := w.h

	if r := w.must("cluster", "init"); !strings.Contains(r.stdout+r.stderr, "no changes") {
		t.Errorf("cluster init on an initialised cluster: got %q; want it to say no changes", r.stdout+r.stderr)
	}
	w.startRouter()

	r := w.must("up", "acme", "--name", "ACME Corporation", "--json", "--timeout", "5m")
	reportSteps("docker/up/new-tenant", r)
	w.assertRouted("acme")
	for _, vol := range []string{"acme--postgres-data", "acme--redis-data"} {
		if w.hostVolume("acme", vol) == nil {
			t.Errorf("after up acme: dynamic host volume %s missing; want up to create it", vol)
		}
	}

	r = w.must("up", "acme-corp", "--json", "--timeout", "5m")
	reportSteps("docker/up/second-tenant", r)
	w.assertRouted("acme-corp")
	w.assertRouted("acme")
	w.assertSecretFiles("acme")

	// Data that must outlive containers, jobs and a kept-data down.
	w.markData("acme")

	// rotate while a client asks the router every 200 ms.
	stop := w.probe("acme")
	time.Sleep(time.Second)
	rotated := time.Now()
	r = w.must("rotate", "acme", "--json")
	reportSteps("docker/rotate", r)
	time.Sleep(2 * time.Second)
	ok, fails := stop()
	if ok == 0 || len(fails) > 0 {
		t.Errorf("requests through the router during rotate: %d answered, %d failed; want none failed:\n%s",
			ok, len(fails), strings.Join(fails, "\n"))
	}

	// Container restart: every task of the data allocations restarts
	// (prestart init included) on the same volume. The ACL file must hold
	// Vault's rotated admin password by then: the sidecar saves every 5 s.
	w.waitACLSaved("acme", rotated)
	start := time.Now()
	for _, job := range []string{"acme--postgres", "acme--redis"} {
		w.restartContainers("acme--tenant", job)
	}
	if err := h.WaitPassingErr("acme"); err != nil {
		t.Fatal(err)
	}
	report("docker/restart-containers", time.Since(start))
	w.assertData("acme", "after the data containers restarted")

	// Job restart: the data jobs stopped behind tenantctl's back; up
	// registers them again and the data is there.
	for _, job := range []string{"acme--postgres", "acme--redis"} {
		w.stopJob("acme--tenant", job)
	}
	r = w.must("up", "acme", "--name", "ACME Corporation", "--json", "--timeout", "5m")
	reportSteps("docker/up/after-job-stop", r)
	w.assertData("acme", "after the data jobs were stopped and up ran again")
	w.assertRouted("acme")

	// down --purge-data deletes the volumes and their directories; acme is
	// untouched.
	purged := map[string]string{}
	for _, vol := range []string{"acme-corp--postgres-data", "acme-corp--redis-data"} {
		if v := w.hostVolume("acme-corp", vol); v != nil {
			purged[vol] = v.HostPath
		} else {
			t.Errorf("before down acme-corp: volume %s missing", vol)
		}
	}
	before := h.Snapshot("acme")
	r = w.must("down", "acme-corp", "--yes", "--purge-data", "--json")
	reportSteps("docker/down/purge-data", r)
	h.AssertGone("acme-corp")
	for vol, path := range purged {
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("after down acme-corp --purge-data: volume %s's directory %s: %v; want it deleted", vol, path, err)
		}
	}
	if after := h.Snapshot("acme"); after != before {
		t.Errorf("acme after down acme-corp:\n got %s\nwant %s", after, before)
	}
	w.assertRouted("acme")

	// down without --purge-data keeps the volumes (and the namespace that
	// holds them); up brings the tenant back with its data.
	paths := map[string]string{}
	for _, vol := range []string{"acme--postgres-data", "acme--redis-data"} {
		if v := w.hostVolume("acme", vol); v != nil {
			paths[vol] = v.HostPath
		}
	}
	r = w.must("down", "acme", "--yes", "--json")
	reportSteps("docker/down/keep-data", r)
	for vol, path := range paths {
		if w.hostVolume("acme", vol) == nil {
			t.Errorf("after down acme (data kept): volume %s gone; want it kept", vol)
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("after down acme (data kept): %s: %v; want the volume's directory kept", path, err)
		}
	}
	r = w.must("up", "acme", "--name", "ACME Corporation", "--json", "--timeout", "5m")
	reportSteps("docker/up/after-kept-data-down", r)
	w.assertData("acme", "after down (data kept) and up")
	w.assertRouted("acme")
}

// hostVolume returns tenant id's dynamic host volume name, or nil.
func (w *world) hostVolume(id, name string) *nomadapi.HostVolume {
	w.t.Helper()
	ns := provisiontest.Names(w.t, id).Namespace
	c := w.real.Client()
	list, _, err := c.HostVolumes().List(&nomadapi.HostVolumeListRequest{}, &nomadapi.QueryOptions{Namespace: ns})
	if err != nil {
		return nil
	}
	for _, v := range list {
		if v.Name == name {
			vol, _, err := c.HostVolumes().Get(v.ID, &nomadapi.QueryOptions{Namespace: ns})
			if err != nil {
				w.t.Fatalf("e2e: host volume %s: %v", name, err)
			}
			return vol
		}
	}
	return nil
}

// runningAllocs are the running allocations of job in ns.
func (w *world) runningAllocs(ns, job string) []*nomadapi.Allocation {
	w.t.Helper()
	c := w.real.Client()
	stubs, _, err := c.Jobs().Allocations(job, false, &nomadapi.QueryOptions{Namespace: ns})
	if err != nil {
		w.t.Fatalf("e2e: allocations of %s: %v", job, err)
	}
	var out []*nomadapi.Allocation
	for _, s := range stubs {
		if s.ClientStatus != "running" {
			continue
		}
		a, _, err := c.Allocations().Info(s.ID, &nomadapi.QueryOptions{Namespace: ns})
		if err != nil {
			w.t.Fatalf("e2e: allocation %s: %v", s.ID, err)
		}
		out = append(out, a)
	}
	return out
}

// assertSecretFiles checks every file in the secrets directory of every
// running task of the tenant: readable by no one but the user the task's
// container runs as, or by root alone (files only Nomad reads, such as env
// templates).
func (w *world) assertSecretFiles(id string) {
	w.t.Helper()
	ns := provisiontest.Names(w.t, id).Namespace
	jobs, _, err := w.real.Client().Jobs().List(&nomadapi.QueryOptions{Namespace: ns})
	if err != nil {
		w.t.Fatal(err)
	}
	checked := 0
	for _, j := range jobs {
		for _, a := range w.runningAllocs(ns, j.ID) {
			for task, st := range a.TaskStates {
				if st.State != "running" {
					continue
				}
				uid := w.containerUID(task + "-" + a.ID)
				dir := filepath.Join(w.real.Nomad.DataDir, "alloc", a.ID, task, "secrets")
				entries, err := os.ReadDir(dir)
				if err != nil {
					w.t.Errorf("secrets of %s/%s: %v", j.ID, task, err)
					continue
				}
				for _, e := range entries {
					// Nomad's own entries are no credentials: the task API
					// socket (it asks for the workload identity) and the
					// empty .nomad-mount marker.
					fi, err := os.Stat(filepath.Join(dir, e.Name()))
					if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
						continue
					}
					owner := fileUID(fi)
					checked++
					if fi.Mode().Perm()&0o077 != 0 || (owner != uid && owner != 0) {
						w.t.Errorf("%s/%s: secrets/%s is %v owned by uid %d; want no access for group and others, owned by the task's user (uid %d) or root",
							j.ID, task, e.Name(), fi.Mode().Perm(), owner, uid)
					}
				}
			}
		}
	}
	if checked == 0 {
		w.t.Errorf("secrets of %s: checked no file; want the tasks' credential files", id)
	}
	w.t.Logf("credential files of %s: %d checked", id, checked)
}

// containerUID is the uid a running container's process runs as.
func (w *world) containerUID(container string) int {
	w.t.Helper()
	pid, err := w.docker.Output(context.Background(), "inspect", "--format", "{{.State.Pid}}", container)
	if err != nil {
		w.t.Fatalf("e2e: %v", err)
	}
	f, err := os.Open("/proc/" + strings.TrimSpace(pid) + "/status")
	if err != nil {
		w.t.Fatalf("e2e: container %s: %v", container, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 1 && fields[0] == "Uid:" {
			uid, _ := strconv.Atoi(fields[1])
			return uid
		}
	}
	w.t.Fatalf("e2e: container %s: no Uid in /proc status", container)
	return -1
}

const (
	markerTable = "e2e_marker"
	markerKey   = "e2e:marker"
)

// markData writes a row to the tenant's database and a key to its Redis.
func (w *world) markData(id string) {
	w.t.Helper()
	n := provisiontest.Names(w.t, id)
	conn := w.h.Observe(id, n.Database)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// As the schema owner, like a migration.
	if _, err := conn.Exec(ctx, "SET ROLE "+n.OwnerRole+"; CREATE TABLE "+markerTable+" (v text); INSERT INTO "+markerTable+" VALUES ('kept')"); err != nil {
		w.t.Fatalf("e2e: mark %s's database: %v", id, err)
	}
	rdb := w.redis(id)
	defer rdb.Close()
	if err := rdb.Set(ctx, markerKey, "kept", 0).Err(); err != nil {
		w.t.Fatalf("e2e: mark %s's redis: %v", id, err)
	}
}

// assertData checks the marks of markData, through credentials Vault issues
// now (for Redis: proof that Vault's admin login still works).
func (w *world) assertData(id, when string) {
	w.t.Helper()
	db := provisiontest.Names(w.t, id).Database
	conn := w.h.Observe(id, db)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var v string
	if err := conn.QueryRow(ctx, "SELECT v FROM "+markerTable).Scan(&v); err != nil || v != "kept" {
		w.t.Errorf("%s's database %s: got %q (%v); want the row written before", id, when, v, err)
	}
	rdb := w.redis(id)
	defer rdb.Close()
	if got, err := rdb.Get(ctx, markerKey).Result(); err != nil || got != "kept" {
		w.t.Errorf("%s's redis %s: got %q (%v); want the key written before", id, when, got, err)
	}
}

// redis connects to the tenant's Redis as a user Vault issues now.
func (w *world) redis(id string) *redis.Client {
	w.t.Helper()
	addr, user, pass, err := w.real.Redis(w.h, id)
	if err != nil {
		w.t.Fatalf("e2e: redis of %s: %v", id, err)
	}
	return redis.NewClient(&redis.Options{Addr: addr, Username: user, Password: pass})
}

// waitACLSaved waits until the Redis ACL file on the tenant's volume was
// written after t0 (the aclsave sidecar's ACL SAVE).
func (w *world) waitACLSaved(id string, t0 time.Time) {
	w.t.Helper()
	v := w.hostVolume(id, provisiontest.Names(w.t, id).VolumeRedis)
	if v == nil {
		w.t.Fatalf("e2e: no redis volume for %s", id)
	}
	path := filepath.Join(v.HostPath, "users.acl")
	deadline := time.Now().Add(30 * time.Second)
	for {
		fi, err := os.Stat(path)
		if err == nil && fi.ModTime().After(t0) {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("e2e: %s not saved since %s (%v); want the aclsave sidecar to save it every 5 s", path, t0.Format(time.TimeOnly), err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// restartContainers restarts every task of job's running allocations
// (Nomad recreates their containers, prestart tasks included) and waits
// until they run again.
func (w *world) restartContainers(ns, job string) {
	w.t.Helper()
	c := w.real.Client()
	for _, a := range w.runningAllocs(ns, job) {
		if err := c.Allocations().RestartAllTasks(a, &nomadapi.QueryOptions{Namespace: ns}); err != nil {
			w.t.Fatalf("e2e: restart %s: %v", job, err)
		}
		deadline := time.Now().Add(90 * time.Second)
		for {
			cur, _, err := c.Allocations().Info(a.ID, &nomadapi.QueryOptions{Namespace: ns})
			if err == nil && restartedAndRunning(a, cur) {
				break
			}
			if time.Now().After(deadline) {
				w.t.Fatalf("e2e: %s's tasks did not run again within 90 s after a restart", job)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
}

// restartedAndRunning: every main task of cur restarted since before and
// runs.
func restartedAndRunning(before, cur *nomadapi.Allocation) bool {
	for task, st := range before.TaskStates {
		if st.State != "running" {
			continue
		}
		now := cur.TaskStates[task]
		if now == nil || now.State != "running" || now.Restarts <= st.Restarts {
			return false
		}
	}
	return true
}

// stopJob stops job (no purge) and waits until its allocations stopped.
func (w *world) stopJob(ns, job string) {
	w.t.Helper()
	c := w.real.Client()
	if _, _, err := c.Jobs().Deregister(job, false, &nomadapi.WriteOptions{Namespace: ns}); err != nil {
		w.t.Fatalf("e2e: stop %s: %v", job, err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for len(w.runningAllocs(ns, job)) > 0 {
		if time.Now().After(deadline) {
			w.t.Fatalf("e2e: %s still runs 90 s after it was stopped", job)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// fileUID is a file's owner.
func fileUID(fi os.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
