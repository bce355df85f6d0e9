// Package testenv starts real Vault, Consul, PostgreSQL, Redis, nginx and
// consul-template processes for tenantctl's tests, on free loopback ports.
//
// Each Start* function starts a private server that t.Cleanup stops. Each
// Shared* function returns one server per test binary, started on first use,
// when the package's TestMain wraps its tests with Run; without Run it falls
// back to a private server. A server's log is printed, with secrets redacted,
// when a test that used it fails.
//
// Vault, Consul and consul-template are built from the Go module proxy by
// scripts/testservers.sh and cached outside the repository, keyed by version;
// PostgreSQL, Redis and nginx come from Debian packages. A missing binary
// fails the test with the exact command that installs or builds it.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
)

// Pinned versions of the servers built from source.
const (
	VaultVersion          = "v1.13.0"
	ConsulVersion         = "v1.14.11"
	ConsulTemplateVersion = "v0.42.1"
)

// shared holds the servers shared by one test binary. It is test support, so
// package-level state is acceptable here; it is only ever touched under mu.
var shared struct {
	mu     sync.Mutex
	active bool
	vault  *Vault
	consul *Consul
	pg     *Postgres
	redis  *Redis
	procs  []*process
}

// Run runs the package's tests with shared servers available, stops them
// afterwards and returns the exit code for os.Exit. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }
func Run(m *testing.M) int {
	shared.mu.Lock()
	shared.active = true
	shared.mu.Unlock()

	code := m.Run()

	shared.mu.Lock()
	procs := shared.procs
	shared.procs = nil
	shared.active = false
	shared.vault, shared.consul, shared.pg, shared.redis = nil, nil, nil, nil
	shared.mu.Unlock()
	for _, p := range procs {
		if code != 0 {
			fmt.Fprintf(os.Stderr, "--- %s log (last lines) ---\n%s\n", p.name, p.tail(40))
		}
		p.stop()
	}
	for _, p := range procs {
		p.cleanup()
	}
	return code
}

// startShared returns the shared server in *slot, starting it with start on
// first use. Without Run it starts a private server for tb instead.
func startShared[T any](tb testing.TB, slot **T, start func() (*T, *process, error), private func(testing.TB) *T) *T {
	tb.Helper()
	shared.mu.Lock()
	if !shared.active {
		shared.mu.Unlock()
		return private(tb)
	}
	defer shared.mu.Unlock()
	if *slot == nil {
		s, p, err := start()
		if err != nil {
			tb.Fatalf("testenv: %v", err)
		}
		*slot = s
		shared.procs = append(shared.procs, p)
	}
	return *slot
}

// logOnFailure prints p's log when tb fails.
func logOnFailure(tb testing.TB, p *process) {
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("--- %s log (last lines) ---\n%s", p.name, p.tail(60))
		}
	})
}

// private registers p to be stopped when tb ends, printing its log on failure.
func private(tb testing.TB, p *process) {
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("--- %s log (last lines) ---\n%s", p.name, p.tail(60))
		}
		p.stop()
		p.cleanup()
	})
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	port, err := freePort()
	if err != nil {
		tb.Fatalf("testenv: free port: %v", err)
	}
	return port
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// randomSecret returns n random bytes as hex.
func randomSecret(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}
