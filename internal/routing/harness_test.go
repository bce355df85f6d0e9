package routing

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	consultemplates "github.com/tenantctl/tenantctl/consul-templates"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/testenv"
	nginxconf "github.com/tenantctl/tenantctl/nginx"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// router is a real nginx configured by a real consul-template from the
// project's base nginx.conf and tenants template, as the router job runs them.
type router struct {
	dir      string // nginx prefix: nginx.conf, tenants.conf, logs
	Addr     string // HTTP 127.0.0.1:port
	TLSAddr  string // HTTPS 127.0.0.1:port, when started with TLS
	CertPool *x509.CertPool
	nginx    string
	env      []string
	procs    []*proc
}

// routerOptions tunes startRouter.
type routerOptions struct {
	// Wait is consul-template's -wait (min:max); empty renders at once.
	Wait string
	// TLS starts nginx with a self-signed certificate for *.example.test.
	TLS bool
	// NoWatch renders once and starts nginx, without a consul-template
	// watching Consul.
	NoWatch bool
	// SIGHUP makes consul-template reload nginx by sending SIGHUP to its
	// master, as the router job's change_signal does, instead of running
	// `nginx -s reload` (which parses the whole configuration a second time
	// just to find the pid file).
	SIGHUP bool
	// Env adds or overrides the template's settings (TENANTCTL_ROUTER_*).
	Env []string
}

// startRouter renders the tenants template once from consul, starts nginx on
// the result, then starts consul-template watching Consul and reloading nginx
// with `nginx -s reload` on every change (the standalone mode in
// docs/routing.md; the router job sends SIGHUP, which is the same reload).
func startRouter(tb testing.TB, consulAddr string, opts routerOptions) *router {
	tb.Helper()
	dir := tb.TempDir()
	r := &router{dir: dir, nginx: testenv.NginxBinary(tb)}
	r.Addr = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(tb))
	r.env = append(os.Environ(),
		"TENANTCTL_ROUTER_LISTEN="+r.Addr,
		"TENANTCTL_ROUTER_ACCESS_LOG="+filepath.Join(dir, "access.log"),
		"TENANTCTL_ROUTER_RATE=1000r/s", "TENANTCTL_ROUTER_BURST=1000")
	r.env = append(r.env, opts.Env...) // later entries win in exec
	if opts.TLS {
		r.TLSAddr = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(tb))
		cert, key, pool := writeTestCert(tb, dir)
		r.CertPool = pool
		r.env = append(r.env, "TENANTCTL_ROUTER_TLS_LISTEN="+r.TLSAddr,
			"TENANTCTL_ROUTER_TLS_CERT="+cert, "TENANTCTL_ROUTER_TLS_KEY="+key)
	}
	writeFile(tb, filepath.Join(dir, nginxconf.BaseConf), readEmbedded(tb, nginxconf.FS, nginxconf.BaseConf))
	tmpl := filepath.Join(dir, "tenants.ctmpl")
	writeFile(tb, tmpl, readEmbedded(tb, consultemplates.FS, consultemplates.NginxTenants))
	out := filepath.Join(dir, nginxconf.TenantsConf)

	ct := testenv.ConsulTemplateBinary(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	once := exec.CommandContext(ctx, ct, "-consul-addr", consulAddr, "-once", "-log-level", "warn",
		"-config", testenv.ConsulTemplateConfig(tb, tmpl, out, ""))
	once.Env = r.env
	if b, err := once.CombinedOutput(); err != nil {
		tb.Fatalf("consul-template -once: %v\n%s", err, b)
	}

	r.procs = append(r.procs, startProc(tb, "nginx", syscall.SIGQUIT, dir, r.env, r.nginx, r.nginxArgs()...))
	waitFor(tb, 15*time.Second, "nginx to answer", func() (bool, string) {
		st, body, _ := r.get(tb, "nobody.example.test", "/")
		return st == http.StatusNotFound, fmt.Sprintf("got %d %q; want 404", st, body)
	})

	if opts.NoWatch {
		return r
	}
	reload := strings.Join(append([]string{r.nginx}, append(r.nginxArgs()[:4], "-s", "reload")...), " ")
	if opts.SIGHUP {
		reload = "kill -HUP $(cat " + filepath.Join(dir, "nginx.pid") + ")"
	}
	args := []string{"-consul-addr", consulAddr, "-log-level", "info",
		"-config", testenv.ConsulTemplateConfig(tb, tmpl, out, reload)}
	if opts.Wait != "" {
		args = append(args, "-wait", opts.Wait)
	}
	r.procs = append(r.procs, startProc(tb, "consul-template", syscall.SIGINT, dir, r.env, ct, args...))
	return r
}

// nginxArgs are nginx's arguments; the first four (-p, -c) are what every
// nginx command needs. As root, the workers run as root too, since the
// test's temporary directories are not open to other users.
func (r *router) nginxArgs() []string {
	globals := "daemon off;"
	if os.Geteuid() == 0 {
		globals += " user root;"
	}
	return []string{"-p", r.dir + "/", "-c", filepath.Join(r.dir, nginxconf.BaseConf), "-g", globals}
}

// conf returns the rendered tenants.conf.
func (r *router) conf(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, nginxconf.TenantsConf))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// nginxTest runs `nginx -t` on the router's current configuration.
func (r *router) nginxTest(tb testing.TB) {
	tb.Helper()
	args := append(r.nginxArgs()[:4], "-t", "-q")
	cmd := exec.Command(r.nginx, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("nginx -t: %v\n%s\n--- tenants.conf ---\n%s", err, b, r.conf(tb))
	}
}

// get sends GET path with the Host header host to the router's HTTP port,
// on a new connection. A transport error is reported as status 0.
func (r *router) get(tb testing.TB, host, path string) (int, string, http.Header) {
	tb.Helper()
	return httpGet(tb, &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second},
		"http://"+r.Addr+path, host)
}

func httpGet(tb testing.TB, client *http.Client, url, host string) (int, string, http.Header) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error(), nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), resp.Header
}

// proc is a process a test started; t.Cleanup stops it.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startProc starts bin in its own process group with output to a log file in
// dir; cleanup sends it stop, then kills its group after 5s, and prints the
// log when the test failed.
func startProc(tb testing.TB, name string, stop syscall.Signal, dir string, env []string, bin string, args ...string) *proc {
	tb.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		tb.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	tb.Cleanup(func() {
		if tb.Failed() {
			b, _ := os.ReadFile(logPath)
			tb.Logf("--- %s log ---\n%s", name, tail(string(b), 60))
		}
		_ = syscall.Kill(cmd.Process.Pid, stop)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	})
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls cond every 50ms until it holds or timeout passes; then it
// fails the test with cond's last description of what it saw.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	tb.Helper()
	pollFor(tb, timeout, 50*time.Millisecond, what, cond)
}

// pollFor is waitFor with the given interval between polls.
func pollFor(tb testing.TB, timeout, interval time.Duration, what string, cond func() (bool, string)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("waiting %s for %s: %s", timeout, what, seen)
		}
		time.Sleep(interval)
	}
}

// backend is a tenant app instance: an HTTP server answering every path
// with its tenant and instance, and /api/health with 200 or 503.
type backend struct {
	Tenant   string
	Instance string
	srv      *httptest.Server
	healthy  atomic.Bool
	// lastHeaders holds the headers of the last non-health request.
	lastHeaders atomic.Pointer[http.Header]
}

func startBackend(tb testing.TB, tenantID, instance string) *backend {
	tb.Helper()
	b := &backend{Tenant: tenantID, Instance: instance}
	b.healthy.Store(true)
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.Path == "/api/health" {
			if !b.healthy.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintf(w, "unhealthy tenant=%s instance=%s\n", b.Tenant, b.Instance)
				return
			}
			// As tenant-app answers: JSON naming its tenant.
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, "{\"status\":\"ok\",\"tenant\":%q,\"instance\":%q}\n", b.Tenant, b.Instance)
			return
		}
		h := r.Header.Clone()
		b.lastHeaders.Store(&h)
		fmt.Fprintf(w, "tenant=%s instance=%s host=%s path=%s\n", b.Tenant, b.Instance, r.Host, r.URL.Path)
	}))
	tb.Cleanup(b.srv.Close)
	return b
}

// Port is the backend's TCP port.
func (b *backend) Port() int { return b.srv.Listener.Addr().(*net.TCPAddr).Port }

// registration is a service instance as Nomad registers it in Consul.
type registration struct {
	ID      string // service id; default like Nomad's, with a random part
	Service string
	Tags    []string
	Port    int
	Address string // default 127.0.0.1
	// HTTPCheck adds an HTTP check on /api/health every second (Nomad's
	// check on the app); otherwise a TTL check starting at Status.
	HTTPCheck bool
	Status    string // TTL check's initial status; default passing
}

// tenantTags are the tags the app job gives its service.
func tenantTags(id, host string) []string {
	return []string{"tenantctl", "tenantctl.tenant=" + id, "tenantctl.host=" + host}
}

// register registers reg through the agent API, as Nomad's Consul
// integration does, and returns the service id; cleanup deregisters it.
func register(tb testing.TB, c *consulapi.Client, reg registration) string {
	tb.Helper()
	id := reg.ID
	if id == "" {
		id = fmt.Sprintf("_nomad-task-%s-app-%s-http", randomHex(tb), reg.Service)
	}
	if reg.Address == "" {
		reg.Address = "127.0.0.1"
	}
	check := &consulapi.AgentServiceCheck{
		CheckID: id + "-check", Name: fmt.Sprintf("service: %q check", reg.Service),
		DeregisterCriticalServiceAfter: "10m",
	}
	if reg.HTTPCheck {
		check.HTTP = fmt.Sprintf("http://%s%s", net.JoinHostPort(reg.Address, strconv.Itoa(reg.Port)), DefaultHealthPath)
		check.Interval, check.Timeout = "1s", "1s"
	} else {
		check.TTL = "10m"
		check.Status = reg.Status
		if check.Status == "" {
			check.Status = consulapi.HealthPassing
		}
	}
	err := c.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
		ID: id, Name: reg.Service, Tags: reg.Tags, Address: reg.Address, Port: reg.Port,
		Checks: consulapi.AgentServiceChecks{check},
	})
	if err != nil {
		tb.Fatalf("register %s: %v", reg.Service, err)
	}
	tb.Cleanup(func() { _ = c.Agent().ServiceDeregister(id) })
	return id
}

// registerBackend registers b as its tenant's app service with an HTTP check.
func registerBackend(tb testing.TB, c *consulapi.Client, b *backend, host string) string {
	tb.Helper()
	id := tenant.ID(b.Tenant)
	return register(tb, c, registration{
		Service: tenant.NamesFor(id).ServiceApp, Tags: tenantTags(b.Tenant, host),
		Port: b.Port(), HTTPCheck: true,
	})
}

func randomHex(tb testing.TB) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

func readEmbedded(tb testing.TB, fsys interface{ ReadFile(string) ([]byte, error) }, name string) []byte {
	tb.Helper()
	b, err := fsys.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func writeFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// writeTestCert writes a self-signed certificate for *.example.test and its
// key into dir and returns their paths and a pool trusting it.
func writeTestCert(tb testing.TB, dir string) (certPath, keyPath string, pool *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tenantctl test"},
		DNSNames:  []string{"*.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(tb, certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeFile(tb, keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

// httpsClient trusts the router's test certificate and dials its TLS port
// whatever the URL's host, so the URL can carry the tenant's host (SNI).
func (r *router) httpsClient() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{RootCAs: r.CertPool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, r.TLSAddr)
		},
	}}
}
