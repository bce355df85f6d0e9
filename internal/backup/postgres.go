package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tenantctl/tenantctl/internal/migrate"
)

// pgConn is a Postgres connection as the pg_dump, pg_restore and psql child
// processes get it: a connection string without the password (argv is
// visible to other users of the machine) and the password apart, for the
// child's PGPASSWORD.
type pgConn struct {
	conninfo string
	password string
	config   *pgx.ConnConfig
}

// kvPasswordRE finds password=… in a keyword/value connection string.
var kvPasswordRE = regexp.MustCompile(`(?i)(^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// parsePG splits databaseURL (a postgres:// URL or a keyword/value string)
// into a password-free connection string and the password. Its errors never
// hold the URL's password.
func parsePG(databaseURL string) (*pgConn, error) {
	if databaseURL == "" {
		return nil, &ConfigError{Option: "DatabaseURL", Err: errors.New("no database URL")}
	}
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, &ConfigError{Option: "DatabaseURL", Err: errors.New(scrub(err.Error(), databaseURL))}
	}
	c := &pgConn{password: cfg.Password, config: cfg}
	if strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://") {
		u, err := url.Parse(databaseURL)
		if err != nil {
			return nil, &ConfigError{Option: "DatabaseURL", Err: errors.New("the database URL does not parse")}
		}
		if u.User != nil {
			u.User = url.User(u.User.Username())
		}
		q := u.Query()
		q.Del("password")
		u.RawQuery = q.Encode()
		c.conninfo = u.String()
	} else {
		c.conninfo = strings.TrimSpace(kvPasswordRE.ReplaceAllString(databaseURL, "$1"))
	}
	return c, nil
}

// scrub removes secrets from a child's or a driver's message: every given
// secret (a password, a whole URL) and every password in a connection string.
func scrub(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return migrate.RedactURL(s)
}

// pgTools finds pg_dump, pg_restore and psql: in binDir when set, else on
// PATH.
type pgTools struct{ binDir string }

func (t pgTools) path(name string) (string, error) {
	if t.binDir != "" {
		p := filepath.Join(t.binDir, name)
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			return "", &ConfigError{Option: "PGBinDir", Err: fmt.Errorf("no %s in %s", name, t.binDir)}
		}
		return p, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", &ConfigError{Option: "PGBinDir", Err: fmt.Errorf("%s is not on PATH", name)}
	}
	return p, nil
}

// childEnv is the environment of a Postgres client child: the few variables
// of ours a libpq program (or Debian's pg_wrapper) may need, none of our
// secrets, and the password.
func childEnv(password string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "PATH", name == "HOME", name == "TMPDIR", name == "TZ", name == "LANG", strings.HasPrefix(name, "LC_"):
			env = append(env, kv)
		}
	}
	env = append(env, "PGAPPNAME=tenantctl-backup", "PGCONNECT_TIMEOUT=30", "PGPASSFILE="+os.DevNull)
	if password != "" {
		env = append(env, "PGPASSWORD="+password)
	}
	return env
}

// tailBuffer keeps the last max bytes written to it: a child's stderr.
type tailBuffer struct {
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

// childError words a failed child: its name, its error and its last lines
// of stderr, scrubbed.
func (c *pgConn) childError(name string, err error, stderr *tailBuffer) error {
	msg := strings.TrimSpace(string(bytes.ToValidUTF8(stderr.buf, []byte("?"))))
	msg = scrub(msg, c.password)
	if msg == "" {
		return fmt.Errorf("%s: %w", name, err)
	}
	return fmt.Errorf("%s: %v: %s", name, err, msg)
}

// dump runs pg_dump in the custom format into path, from the exported
// snapshot snapshot (so it sees exactly what the caller's transaction saw).
func (c *pgConn) dump(ctx context.Context, tools pgTools, snapshot, path string) error {
	bin, err := tools.path("pg_dump")
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, "--format=custom", "--no-password", "--snapshot="+snapshot,
		"--file="+path, "--dbname="+c.conninfo)
	stderr := &tailBuffer{max: 4 << 10}
	cmd.Env, cmd.Stdout, cmd.Stderr = childEnv(c.password), stderr, stderr
	if err := cmd.Run(); err != nil {
		return c.childError("pg_dump", err, stderr)
	}
	return nil
}

// restore replaces the database's public schema by the dump at path, in one
// transaction: pg_restore turns the dump into SQL (without owners and
// privileges: the restoring session's role, the schema owner, owns what it
// creates) and psql runs prelude, that SQL and postlude with ON_ERROR_STOP
// in a single transaction. tenantctl sits between the two and writes the
// postlude and closes psql's input only once pg_restore has succeeded; any
// failure kills psql before its input ends, so its transaction never
// commits: a restore changes everything or nothing.
func (c *pgConn) restore(ctx context.Context, tools pgTools, path string, prelude, postlude []string) error {
	pgRestore, err := tools.path("pg_restore")
	if err != nil {
		return err
	}
	psql, err := tools.path("psql")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	gen := exec.CommandContext(ctx, pgRestore, "--no-owner", "--no-privileges", "--exit-on-error", "--file=-", path)
	genErr := &tailBuffer{max: 4 << 10}
	gen.Env, gen.Stderr = childEnv(""), genErr
	sql, err := gen.StdoutPipe()
	if err != nil {
		return err
	}
	run := exec.CommandContext(ctx, psql, "--no-psqlrc", "--quiet", "--no-password", "--single-transaction",
		"--set=ON_ERROR_STOP=1", "--file=-", "--dbname="+c.conninfo)
	runErr := &tailBuffer{max: 4 << 10}
	run.Env, run.Stdout, run.Stderr = childEnv(c.password), &tailBuffer{max: 1 << 10}, runErr
	in, err := run.StdinPipe()
	if err != nil {
		return err
	}
	if err := gen.Start(); err != nil {
		return fmt.Errorf("pg_restore: %w", err)
	}
	if err := run.Start(); err != nil {
		cancel()
		_ = gen.Wait()
		return fmt.Errorf("psql: %w", err)
	}
	// abort kills both children (psql's transaction rolls back) and
	// returns cause; a failed write to psql means psql stopped on its own,
	// and its stderr says why.
	abort := func(cause error, psqlStopped bool) error {
		cancel()
		_ = gen.Wait()
		if err := run.Wait(); err != nil && psqlStopped && len(runErr.buf) > 0 {
			return c.childError("psql", err, runErr)
		}
		return cause
	}
	if _, err := io.WriteString(in, statements(prelude)); err != nil {
		return abort(fmt.Errorf("psql: write: %w", err), true)
	}
	if _, err := io.Copy(in, sql); err != nil {
		return abort(fmt.Errorf("psql: write: %w", err), true)
	}
	if err := gen.Wait(); err != nil {
		return abort(c.childError("pg_restore", err, genErr), false)
	}
	if _, err := io.WriteString(in, statements(postlude)); err != nil {
		return abort(fmt.Errorf("psql: write: %w", err), true)
	}
	if err := in.Close(); err != nil {
		return abort(fmt.Errorf("psql: %w", err), true)
	}
	if err := run.Wait(); err != nil {
		return c.childError("psql", err, runErr)
	}
	return nil
}

// statements joins SQL statements into a script.
func statements(qs []string) string {
	var b strings.Builder
	for _, q := range qs {
		b.WriteString(q)
		b.WriteString(";\n")
	}
	return b.String()
}
