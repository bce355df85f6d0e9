package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/cli"
	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/nomad"
	"github.com/tenantctl/tenantctl/internal/provisiontest"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/testenv"
	"github.com/tenantctl/tenantctl/jobspecs"
)

// baseDomain is the tenants' domain in the suite's config.
const baseDomain = "tenants.localhost.test"

// pathHost is the router's shared path-routing host in the real suite.
const pathHost = "apps.localhost.test"

// world is one real cluster for a test: a Nomad dev agent wired to the
// harness's Consul and Vault, tenantctl and tenant-app built from this
// checkout (as host binaries for the exec profile, as images for the docker
// profile), a tenantctl.hcl for the profile and (when started) the router
// job.
type world struct {
	t          *testing.T
	h          *provisiontest.Harness
	real       *provisiontest.Real
	consul     *consulapi.Client
	dir        string // 0755: binaries and tenant data, readable by the tasks' users
	cfgPath    string
	routerPort int // 0: no router
	cliEnv     map[string]string
	opts       worldOptions
	docker     *testenv.Docker // the docker profile's engine; nil for exec
	images     dockerImages    // the docker profile's images
	exe        config.Exec     // the exec part of the config file
}

// worldOptions vary the world's config.
type worldOptions struct {
	// NoRouter leaves router_address out of the config: up verifies the
	// app's Consul service but not a route.
	NoRouter bool
	// CredsTTL, when set, is both vault.creds_ttl and vault.creds_max_ttl.
	CredsTTL string
	// BackupSchedule, when set, is backup.schedule (the scheduled backup
	// job); BackupKeep is backup.keep.
	BackupSchedule string
	BackupKeep     int
}

// newWorld starts the cluster; it skips without TENANTCTL_TEST_NOMAD_BIN.
func newWorld(t *testing.T) *world { return newWorldWith(t, worldOptions{}) }

// newWorldWith starts the cluster with opts.
func newWorldWith(t *testing.T, opts worldOptions) *world {
	t.Helper()
	testenv.NomadBinary(t) // skips, saying how, when no binary is given
	w := &world{t: t, opts: opts}
	if !opts.NoRouter {
		w.routerPort = testenv.FreePort(t)
	}
	dir, err := os.MkdirTemp("", "tenantctl-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w.dir = dir
	w.buildBinaries()

	exe := execConfig(t, dir)
	configure := func(cfg *config.Config) {
		cfg.Profile = tenant.ProfileExec
		cfg.BaseDomain = baseDomain
		if w.routerPort != 0 {
			cfg.RouterAddress = fmt.Sprintf("127.0.0.1:%d", w.routerPort)
			cfg.PathRoutingHost = pathHost
		}
		cfg.Exec = exe
		if opts.CredsTTL != "" {
			cfg.Vault.CredsTTL, cfg.Vault.CredsMaxTTL = opts.CredsTTL, opts.CredsTTL
		}
		cfg.Update = config.Default().Update // the shipped health gating, not the harness's shortcut
		cfg.Backup.Dir = filepath.Join(dir, "backups")
		cfg.Backup.Schedule, cfg.Backup.Keep = opts.BackupSchedule, opts.BackupKeep
	}
	w.h = provisiontest.New(t, provisiontest.WithNomad(provisiontest.RealNomad(testenv.NomadOptions{}, &w.real)),
		provisiontest.WithConfig(configure))
	w.consul = testenv.SharedConsul(t).Client(t)
	w.cfgPath = filepath.Join(dir, "tenantctl.hcl")
	w.exe = exe
	w.writeConfig(exe)
	w.cliEnv = w.h.CLIEnv()
	w.cliEnv["TENANTCTL_CONFIG"] = w.cfgPath
	t.Logf("real Nomad %s at %s (tenantctl through %s)", w.real.Version, w.real.Nomad.Addr, w.real.Addr())
	return w
}

// execConfig is the exec profile's part of the config: this checkout's
// binaries, the Debian packages' servers, a data directory of the test's.
func execConfig(t *testing.T, dir string) config.Exec {
	t.Helper()
	exe := config.Default().Exec
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 {
		t.Fatal("e2e: no PostgreSQL server under /usr/lib/postgresql/*/bin; install it with: apt-get install -y postgresql")
	}
	sort.Strings(bins)
	exe.PostgresBinDir = filepath.Dir(bins[len(bins)-1])
	exe.RedisServer = testenv.RedisBinary(t)
	exe.RedisCLI = filepath.Join(filepath.Dir(exe.RedisServer), "redis-cli")
	exe.TenantApp = filepath.Join(dir, "bin", "tenant-app")
	exe.Tenantctl = filepath.Join(dir, "bin", "tenantctl")
	exe.DataDir = filepath.Join(dir, "data")
	if err := os.MkdirAll(exe.DataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return exe
}

// buildBinaries builds tenantctl and tenant-app from this checkout into
// dir/bin, which every task user can read.
func (w *world) buildBinaries() {
	w.t.Helper()
	out := filepath.Join(w.dir, "bin")
	if err := os.MkdirAll(out, 0o755); err != nil {
		w.t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", out+"/", "./cmd/tenantctl", "./cmd/tenant-app")
	cmd.Dir = filepath.Join("..", "..")
	if b, err := cmd.CombinedOutput(); err != nil {
		w.t.Fatalf("e2e: go build: %v\n%s", err, b)
	}
}

func (w *world) writeConfig(exe config.Exec) {
	w.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "profile        = \"exec\"\nbase_domain    = %q\n", baseDomain)
	if w.routerPort != 0 {
		fmt.Fprintf(&b, "router_address = \"127.0.0.1:%d\"\npath_routing_host = %q\n", w.routerPort, pathHost)
	}
	if w.opts.CredsTTL != "" {
		fmt.Fprintf(&b, "vault {\n  creds_ttl     = %q\n  creds_max_ttl = %q\n}\n", w.opts.CredsTTL, w.opts.CredsTTL)
	}
	fmt.Fprintf(&b, "exec {\n  postgres_bin_dir = %q\n  redis_server     = %q\n  redis_cli        = %q\n"+
		"  tenant_app       = %q\n  tenantctl        = %q\n  data_dir         = %q\n}\n",
		exe.PostgresBinDir, exe.RedisServer, exe.RedisCLI, exe.TenantApp, exe.Tenantctl, exe.DataDir)
	fmt.Fprintf(&b, "backup {\n  dir = %q\n", filepath.Join(w.dir, "backups"))
	if w.opts.BackupSchedule != "" {
		fmt.Fprintf(&b, "  schedule = %q\n", w.opts.BackupSchedule)
	}
	if w.opts.BackupKeep != 0 {
		fmt.Fprintf(&b, "  keep = %d\n", w.opts.BackupKeep)
	}
	b.WriteString("}\n")
	if err := os.WriteFile(w.cfgPath, []byte(b.String()), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// result is one tenantctl invocation.
type result struct {
	code           exit.Code
	stdout, stderr string
	took           time.Duration
	end            time.Time // when the command returned
}

// run runs tenantctl in-process with the world's environment.
func (w *world) run(args ...string) result {
	var stdout, stderr bytes.Buffer
	start := time.Now()
	err := cli.Run(context.Background(), append([]string{"tenantctl"}, args...),
		cli.Streams{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return w.cliEnv[k] }})
	return result{code: exit.CodeOf(err), stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start), end: time.Now()}
}

// must runs tenantctl and fails the test unless it exits 0.
func (w *world) must(args ...string) result {
	w.t.Helper()
	r := w.run(args...)
	if r.code != exit.OK {
		w.t.Fatalf("tenantctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// stepTimes reads the durations of the finished steps from `--json` output.
func stepTimes(stdout string) map[string]time.Duration {
	out := map[string]time.Duration{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e struct {
			Step     string        `json:"step"`
			Phase    string        `json:"phase"`
			Duration time.Duration `json:"duration_ns"`
		}
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Phase == "done" && e.Step != "" {
			out[e.Step] = e.Duration
		}
	}
	return out
}

// report prints a figure as a benchmark line that benchstat reads.
func report(name string, d time.Duration) {
	fmt.Printf("BenchmarkRealNomad/%s \t1\t%d ns/op\n", name, d.Nanoseconds())
}

// reportSteps prints a command's total and per-step times.
func reportSteps(name string, r result) {
	report(name+"/total", r.took)
	steps := stepTimes(r.stdout)
	names := make([]string, 0, len(steps))
	for s := range steps {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		report(name+"/"+s, steps[s])
	}
}

// startRouter registers the router job of the world's profile in the
// default namespace and waits until its Consul check passes.
func (w *world) startRouter() {
	w.t.Helper()
	file := "router.exec.nomad.hcl"
	if w.docker != nil {
		file = "router.docker.nomad.hcl"
	}
	src, err := jobspecs.FS.Open(file)
	if err != nil {
		w.t.Fatal(err)
	}
	hcl, _ := io.ReadAll(src)
	src.Close()
	vars := fmt.Sprintf("http_port = %d\nhttps_port = %d\npath_routing_host = %q\n", w.routerPort, testenv.FreePort(w.t), pathHost)
	if w.docker != nil {
		vars += fmt.Sprintf("nginx_image = %q\n", w.images.Nginx)
	} else {
		vars += fmt.Sprintf("nginx_binary = %q\n", testenv.NginxBinary(w.t))
	}
	c := w.real.Client()
	job, err := c.Jobs().ParseHCLOpts(&nomadapi.JobsParseRequest{JobHCL: string(hcl), Variables: vars, Canonicalize: true})
	if err != nil {
		w.t.Fatalf("e2e: parse router job: %v", err)
	}
	if _, _, err := c.Jobs().Register(job, nil); err != nil {
		w.t.Fatalf("e2e: register router job: %v", err)
	}
	start := time.Now()
	deadline := start.Add(90 * time.Second)
	for {
		es, _, err := w.consul.Health().Service(*job.ID, "", true, nil)
		if err == nil && len(es) > 0 {
			break
		}
		if time.Now().After(deadline) {
			nc, _ := nomad.New(nomad.Config{Address: w.real.Nomad.Addr})
			w.t.Fatalf("e2e: the router is not passing in Consul after 90 s: %s", nc.Describe(context.Background(), "default", *job.ID))
		}
		time.Sleep(250 * time.Millisecond)
	}
	report("router/healthy", time.Since(start))
}

// routed GETs path from the router with the tenant's Host header.
func (w *world) routed(id, path string) (int, string, error) {
	return w.get(id+"."+baseDomain, path)
}

// routedByPath GETs /<id><path> from the router on the shared path host.
func (w *world) routedByPath(id, path string) (int, string, error) {
	return w.get(pathHost, "/"+id+path)
}

func (w *world) get(host, path string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", w.routerPort, path), nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b), nil
}

// assertRouted checks that the router answers for the tenant's host, and
// for /<id>/ on the shared path host, from the tenant's own app.
func (w *world) assertRouted(id string) {
	w.t.Helper()
	code, body, err := w.routed(id, "/api/ready")
	if err != nil || code != http.StatusOK {
		w.t.Errorf("GET /api/ready with Host %s.%s through the router: got %d %q (%v); want 200", id, baseDomain, code, body, err)
	}
	want := fmt.Sprintf("%q:%q", "tenant", id)
	code, body, err = w.routedByPath(id, "/api/health")
	if err != nil || code != http.StatusOK || !strings.Contains(body, want) {
		w.t.Errorf("GET /%s/api/health with Host %s through the router: got %d %q (%v); want 200 naming the tenant", id, pathHost, code, body, err)
	}
}

// probe asks the router for the tenant's /api/ready every 200 ms until the
// returned function is called, which reports the answers.
func (w *world) probe(id string) func() (ok int, failures []string) {
	return w.probeEvery(id, 200*time.Millisecond)
}

// probeEvery is probe at another interval.
func (w *world) probeEvery(id string, every time.Duration) func() (ok int, failures []string) {
	done := make(chan struct{})
	var mu sync.Mutex
	var okN int
	var fails []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			code, body, err := w.routed(id, "/api/ready")
			mu.Lock()
			if err == nil && code == http.StatusOK {
				okN++
			} else {
				fails = append(fails, fmt.Sprintf("%s: %d %.80q %v", time.Now().Format("15:04:05.000"), code, body, err))
			}
			mu.Unlock()
		}
	}()
	return func() (int, []string) {
		close(done)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return okN, fails
	}
}
