package provisiontest

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
	vaultapi "github.com/hashicorp/vault/api"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/nomad"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/testenv"
	"github.com/tenantctl/tenantctl/internal/vault"
	"github.com/tenantctl/tenantctl/jobspecs"
	"github.com/tenantctl/tenantctl/migrations"
)

// Nomad is the Nomad side of a Harness: the in-repo double by default, a
// real agent in the opt-in suite (see the package doc).
type Nomad interface {
	// Addr is the HTTP address of Nomad's API, for tenantctl and the tests.
	Addr() string
	// JWKSURL is where Nomad publishes its workload-identity keys; `cluster
	// init` points Vault's jwt auth at it.
	JWKSURL() string
	// Client is an API client for the tests' own reads.
	Client() *nomadapi.Client
	// AddTenant readies the cluster to run tenant id's jobs; New's harness
	// calls it from Harness.AddTenant.
	AddTenant(h *Harness, id string)
	// Postgres returns a URL to database db of tenant id's Postgres as a
	// superuser that Vault's root rotation leaves alone, for observations.
	Postgres(h *Harness, id, db string) (string, error)
}

// Servers are the real servers a Harness runs tenants against; a Nomad agent
// is configured with their addresses.
type Servers struct {
	Vault  *testenv.Vault
	Consul *testenv.Consul
	Redis  *testenv.Redis
}

// Harness runs tenantctl's provisioning against real Vault and Consul and a
// Nomad (the double by default). Build one with New.
type Harness struct {
	t       testing.TB
	servers Servers
	nomad   Nomad
	// vaultProxy and consulProxy sit in front of Vault and Consul for
	// tenantctl only: they count writes and inject faults.
	vaultProxy, consulProxy *Proxy
	vaultRoot               *vaultapi.Client
	consulAPI               *consulapi.Client
	cfg                     config.Config
	migrations              fs.FS

	mu    sync.Mutex
	sinks map[string]func(provision.Event) // by tenant
	// brokenApps are app builds (exec: the tenant-app path) that exit 1 at
	// once on the double, as a bad release would.
	brokenApps map[string]bool
}

// Option changes a Harness as New builds it.
type Option func(*options)

type options struct {
	migrations fs.FS
	pgPool     int
	checkFloor time.Duration
	nomad      func(testing.TB, Servers) Nomad
	config     func(*config.Config)
}

// WithMigrations makes the migrate tasks and the env use fsys instead of the
// embedded migrations.
func WithMigrations(fsys fs.FS) Option { return func(o *options) { o.migrations = fsys } }

// WithPostgresPool pre-starts n Postgres servers that the double's postgres
// tasks take instead of starting their own, so a benchmark measures tenantctl
// rather than the harness's initdb copies.
func WithPostgresPool(n int) Option { return func(o *options) { o.pgPool = n } }

// WithCheckIntervalFloor makes the double register every Consul check
// with an interval of at least d (nomadtest.WithCheckIntervalFloor): for
// benchmarks that run a hundred tenants' workloads on one machine.
func WithCheckIntervalFloor(d time.Duration) Option { return func(o *options) { o.checkFloor = d } }

// WithNomad runs tenants on the Nomad start returns (a real agent) instead
// of the double.
func WithNomad(start func(tb testing.TB, s Servers) Nomad) Option {
	return func(o *options) { o.nomad = start }
}

// WithConfig changes the project config the harness's env uses (the exec
// profile's host binaries, for a real agent).
func WithConfig(f func(*config.Config)) Option { return func(o *options) { o.config = f } }

// New starts what a Harness needs and runs `cluster init` against it.
func New(t testing.TB, opts ...Option) *Harness {
	t.Helper()
	o := options{migrations: migrations.FS}
	for _, opt := range opts {
		opt(&o)
	}
	h := &Harness{t: t, sinks: map[string]func(provision.Event){}, migrations: o.migrations, brokenApps: map[string]bool{}}
	h.servers = Servers{Vault: testenv.SharedVault(t), Consul: testenv.SharedConsul(t), Redis: testenv.SharedRedis(t)}
	h.vaultRoot = h.servers.Vault.Client(t)
	h.consulAPI = h.servers.Consul.Client(t)
	h.vaultProxy = newProxy(t, h.servers.Vault.Addr)
	h.consulProxy = newProxy(t, h.servers.Consul.HTTPAddr)

	cfg := config.Default()
	cfg.Profile = tenant.ProfileExec
	cfg.RouterAddress = ""
	cfg.Update = config.Update{MinHealthyTime: "0s", HealthyDeadline: "1m", ProgressDeadline: "2m"}
	cfg.Backup.Dir = t.TempDir() // the backup root of the harness's tenants
	if o.config != nil {
		o.config(&cfg)
	}
	h.cfg = cfg

	if o.nomad != nil {
		h.nomad = o.nomad(t, h.servers)
	} else {
		h.nomad = newDouble(t, h.servers, o.pgPool, o.checkFloor)
	}
	// cluster init against this harness's Nomad.
	admin := vault.New(h.vaultRoot, vault.Mounts{}, nil)
	if _, err := admin.EnsureCluster(context.Background(), vault.ClusterConfig{JWKSURL: h.nomad.JWKSURL()}, false); err != nil {
		t.Fatalf("cluster init: %v", err)
	}
	return h
}

// Nomad returns the harness's Nomad side.
func (h *Harness) Nomad() Nomad { return h.nomad }

// Double returns the Nomad double, for tests of what only it can do
// (faults, scripted outcomes, counting writes); it skips the test on a real
// agent.
func (h *Harness) Double() *nomadtest.Server {
	h.t.Helper()
	d, ok := h.nomad.(*double)
	if !ok {
		h.t.Skip("this test needs the Nomad double (fault injection, scripts or write counts)")
	}
	return d.Server
}

// VaultProxy and ConsulProxy are the proxies in front of Vault and Consul
// that tenantctl talks through.
func (h *Harness) VaultProxy() *Proxy { return h.vaultProxy }

// VaultRoot is a root client of the harness's Vault, not through the
// proxy, for tests that change Vault behind tenantctl's back.
func (h *Harness) VaultRoot() *vaultapi.Client { return h.vaultRoot }

// ConsulProxy is the proxy in front of Consul that tenantctl talks through.
func (h *Harness) ConsulProxy() *Proxy { return h.consulProxy }

// Env builds what the CLI builds: adapters over Nomad and the proxies, the
// read-only Vault for the converged check, the embedded jobspecs.
func (h *Harness) Env() provision.Env {
	nc, cc, vc := h.adapters()
	return provision.Env{
		Nomad:      nc,
		Vault:      vc,
		VaultCheck: vc.ReadOnly(),
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

// adapters builds the adapters Env hands out: new clients on every call, as
// before (one shared set made a later request on a reused connection to the
// proxies fail with "unexpected EOF" in TestFaultMatrix and
// TestApplyConvergesFleet; not yet understood).
func (h *Harness) adapters() (*nomad.Client, *consul.Client, *vault.Client) {
	nc, err := nomad.New(nomad.Config{Address: h.nomad.Addr()})
	if err != nil {
		h.t.Fatal(err)
	}
	cc, err := consul.New(consul.Config{Address: h.consulProxy.URL()})
	if err != nil {
		h.t.Fatal(err)
	}
	return nc, cc, vault.New(h.vaultAPI(), vault.Mounts{}, nil)
}

// CLIEnv is the environment the CLI reads to reach the harness's Nomad,
// Consul and Vault (through the proxies), as a map for its tests' Getenv.
func (h *Harness) CLIEnv() map[string]string {
	return map[string]string{
		"NOMAD_ADDR":       h.nomad.Addr(),
		"CONSUL_HTTP_ADDR": h.consulProxy.URL(),
		"VAULT_ADDR":       h.vaultProxy.URL(),
		"VAULT_TOKEN":      h.servers.Vault.Token,
	}
}

// OnEvent makes f receive the events of tenant id's commands run on Env;
// nil stops it.
func (h *Harness) OnEvent(id string, f func(provision.Event)) {
	h.mu.Lock()
	h.sinks[id] = f
	h.mu.Unlock()
}

// BreakAppBuild makes every app and worker task whose command is artifact
// (an exec-profile tenant-app path, as a fleet file's app block names it)
// exit 1 before it is ever healthy on the double: a bad release, which
// fails its deployment. On a real agent, name a script that exits 1 instead.
func (h *Harness) BreakAppBuild(artifact string) {
	h.mu.Lock()
	h.brokenApps[artifact] = true
	h.mu.Unlock()
}

func (h *Harness) appBuildBroken(artifact string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.brokenApps[artifact]
}

// AddTenant readies the Nomad side to run the jobs of tenants ids (the
// double: their task hooks). Call it before a tenant's first up.
func (h *Harness) AddTenant(ids ...string) {
	for _, id := range ids {
		h.nomad.AddTenant(h, id)
	}
}

func (h *Harness) vaultAPI() *vaultapi.Client {
	cfg := vaultapi.DefaultConfig()
	cfg.Address = h.vaultProxy.URL()
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	c.SetToken(h.servers.Vault.Token)
	return c
}

// Spec is the exec-profile spec of tenant id on the harness's base domain.
func Spec(tb testing.TB, id string) tenant.Spec {
	tb.Helper()
	s, err := tenant.NewSpec(tenant.SpecInput{ID: id, BaseDomain: "tenants.localhost.test", Plan: "small", Profile: "exec"})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// ID parses id or fails the test.
func ID(tb testing.TB, id string) tenant.ID {
	tb.Helper()
	tid, err := tenant.ParseID(id)
	if err != nil {
		tb.Fatal(err)
	}
	return tid
}

// Names are tenant id's resource names.
func Names(tb testing.TB, id string) tenant.Names {
	tb.Helper()
	return tenant.NamesFor(ID(tb, id))
}

// UpOptions are the options Up uses for tenant id.
func (h *Harness) UpOptions(id string) provision.UpOptions {
	return provision.UpOptions{Spec: Spec(h.t, id), Timeout: 2 * time.Minute, LockTimeout: 20 * time.Second,
		Holder: consul.Holder{Operator: "test", Command: "up " + id}}
}

// Up runs up for tenant id.
func (h *Harness) Up(ctx context.Context, id string) (provision.UpResult, error) {
	return provision.Up(ctx, h.Env(), h.UpOptions(id))
}

// MustUp runs up for tenant id and waits until its services pass.
func (h *Harness) MustUp(id string) provision.UpResult {
	h.t.Helper()
	res, err := h.Up(context.Background(), id)
	if err != nil {
		h.t.Fatalf("up %s: %v", id, err)
	}
	h.WaitPassing(id)
	return res
}

// Down runs down for tenant id, keeping its data (the default).
func (h *Harness) Down(ctx context.Context, id string) (provision.Report, error) {
	return provision.Down(ctx, h.Env(), h.DownOptions(id, false))
}

// DownOptions are the options Down uses for tenant id; purge is
// --purge-data.
func (h *Harness) DownOptions(id string, purge bool) provision.DownOptions {
	return provision.DownOptions{ID: ID(h.t, id), Profile: tenant.ProfileExec, PurgeData: purge,
		LockTimeout: 20 * time.Second, Holder: consul.Holder{Operator: "test", Command: "down " + id}}
}

// MustDownPurge runs down --purge-data for tenant id.
func (h *Harness) MustDownPurge(id string) provision.Report {
	h.t.Helper()
	rep, err := provision.Down(context.Background(), h.Env(), h.DownOptions(id, true))
	if err != nil {
		h.t.Fatalf("down --purge-data %s: %v", id, err)
	}
	return rep
}

// MustDown runs down for tenant id.
func (h *Harness) MustDown(id string) provision.Report {
	h.t.Helper()
	rep, err := h.Down(context.Background(), id)
	if err != nil {
		h.t.Fatalf("down %s: %v", id, err)
	}
	return rep
}

// WaitPassing waits until every service of the tenant passes its Consul
// checks. A real Nomad deployment with health_check = "checks" is healthy
// only then; the double takes health from the hooks' Ready functions, so the
// worker's HTTP check may still be pending when up returns.
func (h *Harness) WaitPassing(id string) {
	h.t.Helper()
	if err := h.WaitPassingErr(id); err != nil {
		h.t.Fatal(err)
	}
}

// WaitPassingErr is WaitPassing returning its failure.
func (h *Harness) WaitPassingErr(id string) error { return h.WaitPassingWithin(id, 60*time.Second) }

// WaitPassingWithin is WaitPassingErr with another limit.
func (h *Harness) WaitPassingWithin(id string, limit time.Duration) error {
	n := Names(h.t, id)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for _, c := range tenant.Components() {
		svc := n.Service(c)
		if svc == "" {
			continue
		}
		for {
			if _, err := h.passingAddr(ctx, svc); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("service %s: got no passing instance within %s; want one\n%s",
					svc, limit, h.diagnose(svc, n.Namespace, n.Job(c)))
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// diagnose says why a service does not pass: its instances' checks with
// their output, and the last lines each running allocation of its job wrote
// to stderr (where the tenant app logs the error behind a failing check).
func (h *Harness) diagnose(svc, ns, job string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b strings.Builder
	entries, _, err := h.consulAPI.Health().Service(svc, "", false, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		fmt.Fprintf(&b, "  consul: %v\n", err)
	}
	for _, e := range entries {
		for _, c := range e.Checks {
			if c.ServiceID == "" {
				continue
			}
			fmt.Fprintf(&b, "  instance %s check %q: %s %.200q\n", e.Service.ID, c.Name, c.Status, strings.TrimSpace(c.Output))
		}
	}
	nc, err := nomadapi.NewClient(&nomadapi.Config{Address: h.nomad.Addr()})
	if err != nil {
		return b.String()
	}
	q := (&nomadapi.QueryOptions{Namespace: ns}).WithContext(ctx)
	allocs, _, err := nc.Jobs().Allocations(job, false, q)
	if err != nil {
		fmt.Fprintf(&b, "  nomad: allocations of %s: %v\n", job, err)
		return b.String()
	}
	for _, a := range allocs {
		if a.ClientStatus != nomadapi.AllocClientStatusRunning {
			continue
		}
		for task := range a.TaskStates {
			path := fmt.Sprintf("/v1/client/fs/logs/%s?task=%s&type=stderr&plain=true&origin=end&offset=2048",
				url.PathEscape(a.ID), url.QueryEscape(task))
			rc, err := nc.Raw().Response(path, q)
			if err != nil {
				fmt.Fprintf(&b, "  allocation %s task %s stderr: %v\n", a.ID[:8], task, err)
				continue
			}
			text, _ := io.ReadAll(io.LimitReader(rc, 4096))
			rc.Close()
			fmt.Fprintf(&b, "  allocation %s task %s stderr (end):\n%s\n", a.ID[:8], task, text)
		}
	}
	return b.String()
}
