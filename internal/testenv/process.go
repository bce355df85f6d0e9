package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one server started by the harness.
type process struct {
	name    string
	cmd     *exec.Cmd
	dir     string // scratch directory removed by cleanup; may be empty
	logPath string
	secrets []string // values redacted from printed logs
	// stopSignal asks the server to stop; SIGTERM when zero.
	stopSignal syscall.Signal

	once sync.Once
	done chan struct{}
	err  error
}

// startProcess starts bin with args, its output appended to a log file in
// dir. The process gets its own process group, and the kernel kills it if the
// test binary dies first.
func startProcess(name, dir, bin string, args []string, env []string, cred *syscall.Credential, secrets ...string) (*process, error) {
	logPath := dir + "/" + name + ".log"
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: open log: %w", name, err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", name, bin, err)
	}
	p := &process{name: name, cmd: cmd, dir: dir, logPath: logPath, secrets: secrets, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process group: its stop signal, then SIGKILL after a grace
// period.
func (p *process) stop() {
	p.once.Do(func() {
		if p.exited() {
			return
		}
		pgid := p.cmd.Process.Pid
		sig := p.stopSignal
		if sig == 0 {
			sig = syscall.SIGTERM
		}
		_ = syscall.Kill(-pgid, sig)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
	})
}

// cleanup removes the scratch directory.
func (p *process) cleanup() {
	if p.dir != "" {
		_ = os.RemoveAll(p.dir)
	}
}

// tail returns the last n lines of the log with secrets redacted.
func (p *process) tail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := string(bytes.Join(lines, []byte("\n")))
	for _, s := range p.secrets {
		if s != "" {
			out = strings.ReplaceAll(out, s, "[redacted]")
		}
	}
	return out
}

// waitReady polls ready until it succeeds, the process exits or the deadline
// passes.
func (p *process) waitReady(timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	delay := 20 * time.Millisecond
	var last error
	for {
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready (%v):\n%s", p.name, p.err, p.tail(30))
		}
		if last = ready(); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v\n%s", p.name, timeout, last, p.tail(30))
		}
		time.Sleep(delay)
		if delay < 200*time.Millisecond {
			delay *= 2
		}
	}
}

// baseEnv is a minimal environment for a server process: no tokens or
// addresses from the developer's shell leak into it.
func baseEnv(home string, extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "LANG=C.UTF-8", "TMPDIR=" + home}
	return append(env, extra...)
}

// scratchDir makes a directory for one server.
func scratchDir(name string) (string, error) {
	dir, err := os.MkdirTemp("", "tenantctl-"+name+"-")
	if err != nil {
		return "", fmt.Errorf("%s: scratch dir: %w", name, err)
	}
	return dir, nil
}
