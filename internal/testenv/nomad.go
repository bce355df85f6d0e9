package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
)

// NomadBinEnv names the environment variable that points the opt-in
// real-Nomad tests at a nomad binary (v1.10 or newer). Nomad cannot be built
// from the registries this project's machines reach and is not open source,
// so the harness never fetches or builds it: a developer provides it.
const NomadBinEnv = "TENANTCTL_TEST_NOMAD_BIN"

// NomadBinary returns the nomad binary named by TENANTCTL_TEST_NOMAD_BIN, or
// skips the test, saying how to run it.
func NomadBinary(tb testing.TB) string {
	tb.Helper()
	bin := os.Getenv(NomadBinEnv)
	if bin == "" {
		tb.Skipf("real-Nomad test: set %s to a nomad binary (v1.10 or newer) to run it; see docs/testing.md", NomadBinEnv)
	}
	st, err := os.Stat(bin)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		tb.Fatalf("testenv: %s=%s is not an executable file (%v)", NomadBinEnv, bin, err)
	}
	return bin
}

// NomadOptions configure a Nomad dev agent.
type NomadOptions struct {
	Bin    string  // the nomad binary; NomadBinary by default
	Consul *Consul // the agent registers services here when set
	Vault  *Vault  // the agent's workload identities log in here when set
	// JWTAuthPath is Vault's jwt auth mount for workload identities
	// (jwt-nomad when empty).
	JWTAuthPath string
	// DockerEndpoint enables the docker driver against this engine
	// (unix:///path/to/docker.sock).
	DockerEndpoint string
	// NetworkInterface is the client's network interface: mapped ports are
	// published on its address and services registered with it. A dev
	// agent uses loopback, which containers cannot reach; with the docker
	// driver, name the engine's bridge (Docker.Bridge).
	NetworkInterface string
	// HostVolumesDir is where the client creates dynamic host volumes
	// (a directory under the agent's data dir when empty).
	HostVolumesDir string
	// StaticHostVolumes are host volumes the client declares in its config
	// (host_volume "<name>" { path = … }), by name: the docker profile's
	// backup root (backup.volume).
	StaticHostVolumes map[string]string
}

// Nomad is a Nomad dev agent: server and client in one, on loopback.
type Nomad struct {
	Addr    string // http://127.0.0.1:port
	DataDir string // the agent's data directory; task directories live below it
	Version string
}

// Client returns an API client for the agent.
func (n *Nomad) Client(tb testing.TB) *nomadapi.Client {
	tb.Helper()
	c, err := n.client()
	if err != nil {
		tb.Fatalf("testenv: nomad client: %v", err)
	}
	return c
}

func (n *Nomad) client() (*nomadapi.Client, error) {
	cfg := nomadapi.DefaultConfig()
	cfg.Address = n.Addr
	cfg.SecretID = ""
	cfg.Namespace = ""
	cfg.Region = ""
	return nomadapi.NewClient(cfg)
}

// JWKSURL is where the agent publishes its workload-identity keys.
func (n *Nomad) JWKSURL() string { return n.Addr + "/.well-known/jwks.json" }

// StartNomad starts a Nomad dev agent with raw_exec enabled and the cloud
// fingerprinters off, wired to opts' Consul and Vault, and waits until its
// node is ready with its drivers healthy and Consul and Vault fingerprinted.
// t.Cleanup purges every job, waits for their tasks to stop and stops the
// agent; task processes that outlive it are stopped by pid.
func StartNomad(tb testing.TB, opts NomadOptions) *Nomad {
	tb.Helper()
	if opts.Bin == "" {
		opts.Bin = NomadBinary(tb)
	}
	if opts.JWTAuthPath == "" {
		opts.JWTAuthPath = "jwt-nomad"
	}
	dir, err := scratchDir("nomad")
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	// Tasks that run as another user (Postgres refuses root) must traverse
	// the client's data and allocation directories.
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		n, proc, err := startNomad(dir, opts)
		if err == nil {
			tb.Cleanup(func() {
				if tb.Failed() {
					tb.Logf("--- nomad log (last lines) ---\n%s", proc.tail(80))
				}
				n.drain(tb)
				proc.stop()
				stopOrphanTasks(tb, n.DataDir)
				unmountUnder(tb, dir)
				proc.cleanup()
			})
			return n
		}
		lastErr = err
	}
	_ = os.RemoveAll(dir)
	tb.Fatalf("testenv: %v", lastErr)
	return nil
}

func startNomad(dir string, opts NomadOptions) (*Nomad, *process, error) {
	var ports [3]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		ports[i] = p
	}
	data := filepath.Join(dir, "data")
	// A fresh data dir per attempt: a half-started agent leaves state behind.
	_ = os.RemoveAll(data)
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, nil, err
	}
	if err := os.Chmod(data, 0o755); err != nil {
		return nil, nil, err
	}
	hostVolumes := opts.HostVolumesDir
	if hostVolumes == "" {
		hostVolumes = filepath.Join(data, "host_volumes")
	}
	conf := nomadAgentConfig(data, hostVolumes, ports, opts)
	confPath := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, nil, err
	}
	args := []string{"agent", "-dev", "-config=" + confPath}
	var secrets []string
	if opts.Vault != nil {
		secrets = append(secrets, opts.Vault.Token)
	}
	proc, err := startProcess("nomad", dir, opts.Bin, args, baseEnv(dir), nil, secrets...)
	if err != nil {
		return nil, nil, err
	}
	n := &Nomad{Addr: "http://127.0.0.1:" + strconv.Itoa(ports[0]), DataDir: data}
	client, err := n.client()
	if err != nil {
		proc.stop()
		return nil, nil, err
	}
	err = proc.waitReady(90*time.Second, func() error { return n.ready(client, opts) })
	if err != nil {
		proc.stop()
		return nil, nil, err
	}
	if self, err := client.Agent().Self(); err == nil {
		if v, ok := self.Config["Version"].(map[string]any); ok {
			n.Version, _ = v["Version"].(string)
		}
	}
	return n, proc, nil
}

// nomadAgentConfig is the agent's HCL config. Every address is loopback;
// the cgroup parent is the agent's own so two agents on one machine (or one
// left by a crashed run) do not share one.
func nomadAgentConfig(data, hostVolumes string, ports [3]int, opts NomadOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "data_dir  = %q\n", data)
	b.WriteString("bind_addr = \"127.0.0.1\"\nlog_level = \"INFO\"\ndisable_update_check = true\n")
	fmt.Fprintf(&b, "ports {\n  http = %d\n  rpc  = %d\n  serf = %d\n}\n", ports[0], ports[1], ports[2])
	b.WriteString("advertise {\n  http = \"127.0.0.1\"\n  rpc  = \"127.0.0.1\"\n  serf = \"127.0.0.1\"\n}\n")
	b.WriteString("client {\n  enabled = true\n")
	fmt.Fprintf(&b, "  cgroup_parent = %q\n", "tenantctl-test-"+randomSecret(4)+".slice")
	fmt.Fprintf(&b, "  host_volumes_dir = %q\n", hostVolumes)
	if opts.NetworkInterface != "" {
		fmt.Fprintf(&b, "  network_interface = %q\n", opts.NetworkInterface)
	}
	for _, name := range slices.Sorted(maps.Keys(opts.StaticHostVolumes)) {
		fmt.Fprintf(&b, "  host_volume %q {\n    path      = %q\n    read_only = false\n  }\n", name, opts.StaticHostVolumes[name])
	}
	b.WriteString("  options = {\n    \"driver.raw_exec.enable\" = \"1\"\n" +
		"    \"fingerprint.denylist\" = \"env_aws,env_gce,env_azure,env_digitalocean\"\n  }\n}\n")
	b.WriteString("plugin \"raw_exec\" {\n  config {\n    enabled = true\n  }\n}\n")
	if opts.DockerEndpoint != "" {
		fmt.Fprintf(&b, "plugin \"docker\" {\n  config {\n    endpoint = %q\n    volumes {\n      enabled = true\n    }\n", opts.DockerEndpoint)
		// Images are built locally; the driver must never reach a registry
		// for an image it already has, and must not delete them afterwards.
		b.WriteString("    gc {\n      image = false\n    }\n  }\n}\n")
	}
	if opts.Consul != nil {
		fmt.Fprintf(&b, "consul {\n  address = %q\n}\n", opts.Consul.Addr)
	}
	if opts.Vault != nil {
		fmt.Fprintf(&b, "vault {\n  enabled = true\n  address = %q\n  jwt_auth_backend_path = %q\n"+
			"  default_identity {\n    aud = [\"vault.io\"]\n    ttl = \"1h\"\n  }\n}\n", opts.Vault.Addr, opts.JWTAuthPath)
	}
	return b.String()
}

// ready reports nil once the agent's node is ready, its drivers healthy and
// Consul and Vault (when configured) fingerprinted.
func (n *Nomad) ready(client *nomadapi.Client, opts NomadOptions) error {
	nodes, _, err := client.Nodes().List(nil)
	if err != nil {
		return err
	}
	if len(nodes) == 0 {
		return errors.New("no client node yet")
	}
	node, _, err := client.Nodes().Info(nodes[0].ID, nil)
	if err != nil {
		return err
	}
	if node.Status != "ready" {
		return fmt.Errorf("node is %s", node.Status)
	}
	drivers := []string{"raw_exec"}
	if opts.DockerEndpoint != "" {
		drivers = append(drivers, "docker")
	}
	for _, d := range drivers {
		if info := node.Drivers[d]; info == nil || !info.Healthy {
			return fmt.Errorf("driver %s is not healthy yet", d)
		}
	}
	if opts.Consul != nil && node.Attributes["consul.version"] == "" {
		return errors.New("consul not fingerprinted yet")
	}
	if opts.Vault != nil && node.Attributes["vault.version"] == "" {
		return errors.New("vault not fingerprinted yet")
	}
	return nil
}

// drain stops and purges every job in every namespace and waits (bounded)
// until their allocations have stopped, so tasks shut down through Nomad
// rather than being orphaned by the agent's exit.
func (n *Nomad) drain(tb testing.TB) {
	client, err := n.client()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	q := (&nomadapi.QueryOptions{Namespace: "*"}).WithContext(ctx)
	jobs, _, err := client.Jobs().List(q)
	if err != nil {
		return
	}
	for _, j := range jobs {
		w := (&nomadapi.WriteOptions{Namespace: j.Namespace}).WithContext(ctx)
		_, _, _ = client.Jobs().Deregister(j.ID, false, w)
	}
	for ctx.Err() == nil {
		allocs, _, err := client.Allocations().List(q)
		if err != nil {
			return
		}
		running := 0
		for _, a := range allocs {
			if a.ClientStatus == "running" || a.ClientStatus == "pending" {
				running++
			}
		}
		if running == 0 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, j := range jobs {
		w := (&nomadapi.WriteOptions{Namespace: j.Namespace}).WithContext(ctx)
		_, _, _ = client.Jobs().Deregister(j.ID, true, w)
	}
	if ctx.Err() != nil {
		tb.Logf("testenv: nomad: some allocations were still running after 60 s; their tasks are stopped by pid")
	}
}

// stopOrphanTasks stops task processes that the agent started and left
// behind: those whose environment names an allocation directory under data.
// It only ever signals processes this agent started, found by that marker.
func stopOrphanTasks(tb testing.TB, data string) {
	marker := []byte("NOMAD_ALLOC_DIR=" + data + "/")
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(env, marker) {
			continue
		}
		pids = append(pids, pid)
	}
	for _, pid := range pids {
		tb.Logf("testenv: nomad left task process %d running; stopping it", pid)
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for time.Now().Before(deadline) && syscall.Kill(pid, 0) == nil {
			time.Sleep(50 * time.Millisecond)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// unmountUnder detaches every mount below dir, deepest first: a dev agent
// stopped with its allocations' task directories still in place leaves
// their secrets and private tmpfs mounts behind (about 20 per exec cycle),
// dockerd its network namespaces under its exec root, and the scratch
// directory cannot be removed while they exist. Only mounts under dir, which
// this harness made for its own process, are touched.
func unmountUnder(tb testing.TB, dir string) {
	for _, mp := range mountsUnder(dir) {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil {
			tb.Logf("testenv: nomad: unmount %s: %v", mp, err)
		}
	}
}

// mountsUnder lists the mount points strictly below dir from
// /proc/self/mountinfo, deepest first.
func mountsUnder(dir string) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	prefix := filepath.Clean(dir) + "/"
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountPath(f[4])
		if strings.HasPrefix(mp, prefix) {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
