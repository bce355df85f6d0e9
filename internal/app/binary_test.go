package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenantctl/tenantctl/internal/app"
)

// buildBinary builds cmd/tenant-app into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tenant-app")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/tenantctl/tenantctl/cmd/tenant-app")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a running tenant-app process and its log.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	logs *syncBuffer
	addr string
	done chan error
}

var listeningRE = regexp.MustCompile(`"msg":"listening"[^\n]*"addr":"([0-9.:]+)"`)

// startBinary runs bin with args and the task environment Nomad gives it,
// and waits until it listens.
func startBinary(t *testing.T, bin, envFile string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, logs: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), app.EnvFileVar + "=" + envFile, app.TenantIDVar + "=binary"}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- %s log ---\n%s", args[0], p.logs.String())
		}
	})
	p.waitLog(`"msg":"listening"`)
	p.addr = listeningRE.FindStringSubmatch(p.logs.String())[1]
	return p
}

// waitLog waits until the log contains want, n times in all.
func (p *proc) waitLogN(want string, n int) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(p.logs.String(), want) < n {
		select {
		case err := <-p.done:
			p.t.Fatalf("process exited (%v) before logging %s", err, want)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s in the log", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) waitLog(want string) { p.waitLogN(want, 1) }

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			p.t.Errorf("exit after SIGTERM: %v; want status 0", err)
		}
	case <-time.After(15 * time.Second):
		p.t.Errorf("no exit within 15s of SIGTERM")
	}
}

// TestBinaryReloadsOnSIGHUP runs the built binary's serve and work commands
// as the exec profile does, rotates both sets of credentials with a real
// SIGHUP, and checks that both keep working and shut down cleanly.
func TestBinaryReloadsOnSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	s := newStack(t, "binary")
	ctx := context.Background()
	workerEnv := filepath.Join(t.TempDir(), "worker.env")
	appOld := s.issue(s.names.DBRoleApp, s.names.RedisRoleApp)
	workOld := s.issue(s.names.DBRoleWorker, s.names.RedisRoleWorker)
	s.writeEnv(appOld)
	s.writeEnvFile(workerEnv, workOld)

	srv := startBinary(t, bin, s.envFile, "serve", "--addr", "127.0.0.1:0", "--shutdown-timeout", "3s")
	wrk := startBinary(t, bin, workerEnv, "work", "--addr", "127.0.0.1:0", "--claim-idle", "1s")
	org := s.newOrg("Binary Org")
	cl := newClient(t, "http://"+srv.addr, org)
	newClient(t, "http://"+wrk.addr, "").must(http.StatusOK, "GET", "/api/ready", nil, nil)
	// The health answer names the tenant (TENANT_ID), so a router check can
	// tell that it reached this tenant and not another one.
	var health map[string]string
	cl.must(http.StatusOK, "GET", "/api/health", nil, &health)
	if health["tenant"] != "binary" {
		t.Errorf("GET /api/health: got %v; want tenant binary", health)
	}

	var deal app.Deal
	cl.must(http.StatusCreated, "POST", "/api/deals", app.DealInput{Name: "Binary deal"}, &deal)
	submit := func(key string) {
		t.Helper()
		payload, _ := json.Marshal(map[string]string{"deal_id": deal.ID, "title": key})
		cl.must(http.StatusAccepted, "POST", "/api/jobs", map[string]any{"idempotency_key": key, "type": app.JobCreateDealTask,
			"payload": json.RawMessage(payload)}, nil)
	}
	waitTask := func(title string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var n int
			if err := s.observer.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE title = $1`, title).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 1 {
				return
			}
			if n > 1 || time.Now().After(deadline) {
				t.Fatalf("tasks titled %q: got %d; want 1", title, n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	submit("before-rotation")
	waitTask("before-rotation")

	// Rotate: new credentials rendered, SIGHUP, old leases revoked.
	appNew := s.issue(s.names.DBRoleApp, s.names.RedisRoleApp)
	workNew := s.issue(s.names.DBRoleWorker, s.names.RedisRoleWorker)
	s.writeEnv(appNew)
	s.writeEnvFile(workerEnv, workNew)
	for _, p := range []*proc{srv, wrk} {
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	srv.waitLog(`"msg":"reload: connections replaced"`)
	wrk.waitLog(`"msg":"reload: connections replaced"`)
	s.revoke(appOld)
	s.revoke(workOld)

	cl.must(http.StatusOK, "GET", "/api/ready", nil, nil)
	cl.must(http.StatusOK, "GET", "/api/contacts", nil, nil)
	newClient(t, "http://"+wrk.addr, "").must(http.StatusOK, "GET", "/api/ready", nil, nil)
	submit("after-rotation")
	waitTask("after-rotation")
	// A duplicate submission has no second effect.
	submit("after-rotation")
	wrk.waitLogN(`"outcome":"duplicate"`, 1)
	waitTask("after-rotation")

	srv.stop()
	wrk.stop()
	for _, p := range []*proc{srv, wrk} {
		out := p.logs.String()
		if !strings.Contains(out, `"msg":"stopped"`) {
			t.Errorf("log: no \"stopped\" line after SIGTERM")
		}
		s.assertNoSecrets("binary log", out)
	}
}

// TestBinaryUsage checks that settings are refused on the command line and
// a missing env file is a usage error with a remedy.
func TestBinaryUsage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"url argument", []string{"serve", "--addr", "127.0.0.1:0", "postgres://u:p@h/db"}, nil, "never on the command line"},
		{"no env file", []string{"serve", "--addr", "127.0.0.1:0"}, []string{app.EnvFileVar + "=/nonexistent/tenant.env"}, "Try: check the template"},
		{"no address", []string{"work"}, nil, "NOMAD_PORT_http"},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Env = tc.env
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%s: got %v; want exit status 2", tc.name, err)
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%s: got output %q; want it to contain %q", tc.name, out, tc.want)
		}
	}
}
