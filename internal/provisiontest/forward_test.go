package provisiontest

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestForwarderOutlivesFileDescriptorExhaustion runs in a child process
// with a low file limit: a connection that arrives while the process has no
// file descriptor left must still be relayed once descriptors are free
// again, as a server process would serve it. A forwarder that gave up on
// its first accept error left a tenant's Postgres unreachable for good
// under the 100-tenant benchmark.
func TestForwarderOutlivesFileDescriptorExhaustion(t *testing.T) {
	if os.Getenv("PROVISIONTEST_FD_CHILD") == "1" {
		forwardUnderFDExhaustion(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestForwarderOutlivesFileDescriptorExhaustion$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PROVISIONTEST_FD_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func forwardUnderFDExhaustion(t *testing.T) {
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	port, err := dynamicTestPort()
	if err != nil {
		t.Fatal(err)
	}
	fw, err := forward(port, target.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close()

	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = 256
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) }()
	var hoard []*os.File
	release := func() {
		for _, f := range hoard {
			f.Close()
		}
		hoard = nil
	}
	defer release()
	for range 1024 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				t.Fatalf("open: %v; want EMFILE once the limit is reached", err)
			}
			break
		}
		hoard = append(hoard, f)
	}
	if len(hoard) == 0 || len(hoard) == 1024 {
		t.Fatalf("hoarded %d files; want to reach the limit of 256", len(hoard))
	}
	// Room for the client's socket only: the forwarder's accept fails.
	hoard[len(hoard)-1].Close()
	hoard = hoard[:len(hoard)-1]
	c, err := net.DialTimeout("tcp", port, 5*time.Second)
	if err != nil {
		t.Fatalf("dial the forwarder: %v", err)
	}
	defer c.Close()
	time.Sleep(200 * time.Millisecond) // the forwarder meets EMFILE meanwhile
	release()

	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("through the forwarder after the descriptors came back: got %q (%v); want the echo", buf, err)
	}
}

// dynamicTestPort is a free loopback address to listen on.
func dynamicTestPort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
