package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DockerEnv names the environment variable that adds the docker profile to
// the opt-in real-Nomad suite: "1" starts a Docker engine (dockerd) for the
// test, a unix:// address uses an engine that already runs there. Nothing is
// ever pulled: the suite builds its images locally (scripts/images.sh) and
// checks that every image a job names exists before registering it.
const DockerEnv = "TENANTCTL_TEST_DOCKER"

// Docker is a Docker engine the real suite's Nomad agent runs tasks on.
type Docker struct {
	Host    string // unix:///…/docker.sock, for DOCKER_HOST and Nomad's docker plugin
	Bridge  string // the engine's default bridge: its address is reachable from containers and the host
	Version string
}

// StartDocker returns the engine TENANTCTL_TEST_DOCKER names, or skips the
// test, saying how to run it. With "1" it starts dockerd with its own
// socket, exec root and pid file in a scratch directory and its data root in
// the per-machine cache (so images built once stay), and stops it, by pid,
// when the test ends. Only one engine with the default bridge can run on a
// machine: when docker0 exists already, the test fails and says to point
// the variable at the engine that owns it.
func StartDocker(tb testing.TB) *Docker {
	tb.Helper()
	v := os.Getenv(DockerEnv)
	switch {
	case v == "":
		tb.Skipf("docker-profile test: set %s=1 (the suite starts dockerd) or to unix:///path/to/docker.sock; see docs/testing.md", DockerEnv)
	case strings.HasPrefix(v, "unix://"):
		d := &Docker{Host: v, Bridge: "docker0"}
		ver, err := d.Output(context.Background(), "version", "--format", "{{.Server.Version}}")
		if err != nil {
			tb.Fatalf("testenv: no Docker engine answers at %s=%s: %v", DockerEnv, v, err)
		}
		d.Version = strings.TrimSpace(ver)
		return d
	case v != "1":
		tb.Fatalf("testenv: %s=%q: want 1 (start dockerd) or a unix:// address", DockerEnv, v)
	}
	if pid := runningDockerd(); pid != 0 {
		tb.Fatalf("testenv: a Docker engine already runs on this machine (dockerd, pid %d) and owns the default bridge; set %s=unix:///path/to/its/docker.sock instead of 1", pid, DockerEnv)
	}
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		tb.Fatalf("testenv: dockerd is not installed (apt-get install -y docker.io): %v", err)
	}
	dir, err := scratchDir("docker")
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	dataRoot := filepath.Join(filepath.Dir(filepath.Dir(testserversBin())), "docker")
	if err := os.MkdirAll(dataRoot, 0o711); err != nil {
		tb.Fatalf("testenv: docker data root: %v", err)
	}
	sock := filepath.Join(dir, "docker.sock")
	args := []string{
		"--data-root", dataRoot,
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"--host", "unix://" + sock,
	}
	proc, err := startProcess("dockerd", dir, dockerd, args, baseEnv(dir), nil)
	if err != nil {
		_ = os.RemoveAll(dir)
		tb.Fatalf("testenv: %v", err)
	}
	d := &Docker{Host: "unix://" + sock, Bridge: "docker0"}
	err = proc.waitReady(60*time.Second, func() error {
		ver, err := d.Output(context.Background(), "version", "--format", "{{.Server.Version}}")
		if err != nil {
			return err
		}
		if _, err := net.InterfaceByName(d.Bridge); err != nil {
			return fmt.Errorf("bridge %s: %w", d.Bridge, err)
		}
		d.Version = strings.TrimSpace(ver)
		return nil
	})
	if err != nil {
		proc.stop()
		proc.cleanup()
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("--- dockerd log (last lines) ---\n%s", proc.tail(40))
		}
		// Containers still running (Nomad stops its own before this runs)
		// are stopped by the engine itself on SIGTERM; give it the time.
		stopGracefully(proc, 30*time.Second)
		// dockerd leaves its default network namespace mounted under
		// the exec root; the directory cannot be removed until it is
		// unmounted.
		unmountUnder(tb, dir)
		proc.cleanup()
	})
	return d
}

// runningDockerd returns the pid of a dockerd process running on the
// machine, or 0. It only reads /proc.
func runningDockerd() int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if comm, err := os.ReadFile("/proc/" + e.Name() + "/comm"); err == nil && strings.TrimSpace(string(comm)) == "dockerd" {
			return pid
		}
	}
	return 0
}

// stopGracefully sends SIGTERM to the process alone and waits up to grace
// before stop's process-group SIGTERM/SIGKILL.
func stopGracefully(p *process, grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(grace):
	}
	p.stop()
}

// Output runs the docker client against the engine and returns its stdout.
func (d *Docker) Output(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.Host)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// RequireImages fails unless the engine has every image locally, so no job
// ever makes it reach for a registry. The message names the command that
// builds them.
func (d *Docker) RequireImages(tb testing.TB, images ...string) {
	tb.Helper()
	var missing []string
	for _, img := range images {
		if _, err := d.Output(context.Background(), "image", "inspect", "--format", "{{.Id}}", img); err != nil {
			missing = append(missing, img)
		}
	}
	if len(missing) > 0 {
		tb.Fatalf("testenv: not in the Docker engine at %s (a job naming them would make it pull from a registry): %s; build them with: DOCKER_HOST=%s go tool task images -- --all",
			d.Host, strings.Join(missing, ", "), d.Host)
	}
}

// ImageSize returns an image's size in bytes as the engine reports it.
func (d *Docker) ImageSize(image string) (int64, error) {
	out, err := d.Output(context.Background(), "image", "inspect", "--format", "{{.Size}}", image)
	if err != nil {
		return 0, err
	}
	var n int64
	_, err = fmt.Sscan(strings.TrimSpace(out), &n)
	return n, err
}
