package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a throwaway PostgreSQL cluster with scram-sha-256 password
// authentication on 127.0.0.1.
type Postgres struct {
	Host     string
	Port     int
	User     string // superuser
	Password string // superuser's password
	// SocketDir holds the server's Unix socket.
	SocketDir string
}

// URL returns a connection URL for database db as the superuser.
func (p *Postgres) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(p.User, p.Password),
		Host:     fmt.Sprintf("%s:%d", p.Host, p.Port),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Conn connects to database db as the superuser; the connection is closed by
// t.Cleanup.
func (p *Postgres) Conn(tb testing.TB, db string) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.URL(db))
	if err != nil {
		tb.Fatalf("testenv: connect to postgres database %q: %v", db, err)
	}
	tb.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

var dbNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// CreateDatabase creates database name and returns its superuser URL.
func (p *Postgres) CreateDatabase(tb testing.TB, name string) string {
	tb.Helper()
	if !dbNameRE.MatchString(name) {
		tb.Fatalf("testenv: database name %q must match %s", name, dbNameRE)
	}
	conn := p.Conn(tb, "postgres")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("testenv: create database %q: %v", name, err)
	}
	return p.URL(name)
}

// StartPostgres starts a private PostgreSQL cluster stopped by t.Cleanup.
func StartPostgres(tb testing.TB) *Postgres {
	tb.Helper()
	pg, proc, err := startPostgres()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	private(tb, proc)
	return pg
}

// SharedPostgres returns the test binary's shared PostgreSQL cluster.
func SharedPostgres(tb testing.TB) *Postgres {
	tb.Helper()
	pg := startShared(tb, &shared.pg, startPostgres, StartPostgres)
	for _, p := range shared.procs {
		if p.name == "postgres" {
			logOnFailure(tb, p)
		}
	}
	return pg
}

// pgTemplate is one initdb per test binary; each cluster starts from a copy,
// which takes a fraction of initdb's time.
var pgTemplate struct {
	once     sync.Once
	dir      string
	password string
	cred     *syscall.Credential
	err      error
}

// postgresCredential returns the credential to run PostgreSQL with: it
// refuses to run as root, so root runs it as the postgres user.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("postgres must not run as root and there is no postgres user; install it with: apt-get install -y postgresql")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func chownTree(root string, cred *syscall.Credential) error {
	if cred == nil {
		return nil
	}
	return filepath.Walk(root, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(cred.Uid), int(cred.Gid))
	})
}

func initPostgresTemplate() error {
	pgTemplate.once.Do(func() {
		pgTemplate.err = func() error {
			initdb, err := postgresBinary("initdb")
			if err != nil {
				return err
			}
			cred, err := postgresCredential()
			if err != nil {
				return err
			}
			removeOrphanTemplates()
			dir, err := scratchDir("pgtemplate")
			if err != nil {
				return err
			}
			// The template lives as long as the test binary, which has no
			// cleanup of its own to remove it: the next binary does, once
			// this one has exited (removeOrphanTemplates).
			if err := os.WriteFile(filepath.Join(dir, templateOwnerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
				return err
			}
			if err := os.Chmod(dir, 0o755); err != nil {
				return err
			}
			password := randomSecret(16)
			pwfile := filepath.Join(dir, "pwfile")
			if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
				return err
			}
			data := filepath.Join(dir, "data")
			if err := chownTree(dir, cred); err != nil {
				return err
			}
			cmd := exec.Command(initdb, "-D", data, "-U", "postgres", "--auth=scram-sha-256",
				"--pwfile="+pwfile, "-E", "UTF8", "--locale=C", "--no-sync")
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
			cmd.Env = baseEnv(dir)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("postgres: initdb: %v\n%s", err, out)
			}
			_ = os.Remove(pwfile)
			pgTemplate.dir, pgTemplate.password, pgTemplate.cred = data, password, cred
			return nil
		}()
	})
	return pgTemplate.err
}

// templateOwnerFile holds the pid of the test binary a Postgres template
// belongs to.
const templateOwnerFile = "owner.pid"

// removeOrphanTemplates deletes the Postgres templates of test binaries that
// have exited (each about 40 MB in the temporary directory). A template whose
// owner still runs, or whose owner is unknown, is left alone; nothing is
// signalled.
func removeOrphanTemplates() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "tenantctl-pgtemplate-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, templateOwnerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

func startPostgres() (*Postgres, *process, error) {
	if err := initPostgresTemplate(); err != nil {
		return nil, nil, err
	}
	bin, err := postgresBinary("postgres")
	if err != nil {
		return nil, nil, err
	}
	dir, err := scratchDir("postgres")
	if err != nil {
		return nil, nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, nil, err
	}
	data := filepath.Join(dir, "data")
	if out, err := exec.Command("cp", "-a", pgTemplate.dir, data).CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("postgres: copy template cluster: %v: %s", err, out)
	}
	if err := chownTree(dir, pgTemplate.cred); err != nil {
		return nil, nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		args := []string{"-D", data, "-p", strconv.Itoa(port), "-k", dir,
			"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
			"-c", "full_page_writes=off", "-c", "max_connections=300", "-c", "shared_buffers=32MB",
			"-c", "log_min_messages=warning"}
		proc, err := startProcess("postgres", dir, bin, args, baseEnv(dir), pgTemplate.cred, pgTemplate.password)
		if err != nil {
			return nil, nil, err
		}
		// Fast shutdown: SIGTERM (smart) waits for every client to leave,
		// and the tenants' pools outlive the server's cleanup, so each stop
		// ran into the 5 s grace period (8 minutes for 100 tenants).
		proc.stopSignal = syscall.SIGINT
		pg := &Postgres{Host: "127.0.0.1", Port: port, User: "postgres", Password: pgTemplate.password, SocketDir: dir}
		err = proc.waitReady(30*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			conn, err := pgx.Connect(ctx, pg.URL("postgres"))
			if err != nil {
				return err
			}
			return conn.Close(ctx)
		})
		if err == nil {
			return pg, proc, nil
		}
		proc.stop()
		lastErr = err
		// Most likely the port was taken between freePort and bind: retry.
		_ = os.Remove(filepath.Join(data, "postmaster.pid"))
	}
	_ = os.RemoveAll(dir)
	return nil, nil, lastErr
}
