package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Redis is a Redis server with ACLs: the default user is off and AdminUser
// may run every command.
type Redis struct {
	Addr          string // host:port
	AdminUser     string
	AdminPassword string
	// ACLFile is the server's ACL file, so tests can inspect what was saved.
	ACLFile string
}

// StartRedis starts a private Redis server stopped by t.Cleanup.
func StartRedis(tb testing.TB) *Redis {
	tb.Helper()
	r, proc, err := startRedis()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	private(tb, proc)
	return r
}

// SharedRedis returns the test binary's shared Redis server.
func SharedRedis(tb testing.TB) *Redis {
	tb.Helper()
	return startShared(tb, &shared.redis, startRedis, StartRedis)
}

func startRedis() (*Redis, *process, error) {
	bin, err := debianBinary("redis-server", "redis-server")
	if err != nil {
		return nil, nil, err
	}
	dir, err := scratchDir("redis")
	if err != nil {
		return nil, nil, err
	}
	r := &Redis{AdminUser: "admin", AdminPassword: randomSecret(16), ACLFile: filepath.Join(dir, "users.acl")}
	acl := fmt.Sprintf("user default off\nuser %s on >%s ~* &* +@all\n", r.AdminUser, r.AdminPassword)
	if err := os.WriteFile(r.ACLFile, []byte(acl), 0o600); err != nil {
		return nil, nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--aclfile", r.ACLFile, "--dir", dir, "--protected-mode", "yes"}
		proc, err := startProcess("redis", dir, bin, args, baseEnv(dir), nil, r.AdminPassword)
		if err != nil {
			return nil, nil, err
		}
		err = proc.waitReady(15*time.Second, func() error {
			reply, err := redisCommand(r.Addr, "AUTH", r.AdminUser, r.AdminPassword)
			if err != nil {
				return err
			}
			if reply != "+OK" {
				return fmt.Errorf("AUTH answered %q", reply)
			}
			return nil
		})
		if err == nil {
			return r, proc, nil
		}
		proc.stop()
		lastErr = err
	}
	_ = os.RemoveAll(dir)
	return nil, nil, lastErr
}

// redisCommand sends one command on a new connection and returns the first
// line of the reply. It is enough for readiness checks.
func redisCommand(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}
