package testenv

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Run(m)) }

func TestPostgresIsReal(t *testing.T) {
	t.Parallel()
	pg := SharedPostgres(t)
	url := pg.CreateDatabase(t, "harness_check")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		t.Fatalf("server_version: %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE ROLE harness_role LOGIN PASSWORD 'x-not-a-secret'"); err != nil {
		t.Fatalf("create role: %v", err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_roles WHERE rolname = 'harness_role'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("role count = %d, %v; want 1", n, err)
	}
	// scram: a wrong password is refused.
	bad := *pg
	bad.Password = "wrong"
	if c, err := pgx.Connect(ctx, bad.URL("postgres")); err == nil {
		c.Close(ctx)
		t.Fatalf("connect with a wrong password succeeded; want refusal")
	}
	t.Logf("postgres %s on port %d", version, pg.Port)
}

// TestPostgresStopsWithClientsConnected checks that the harness stops a
// Postgres server with a fast shutdown: a smart one (SIGTERM) waits for
// every client to leave, so a server whose clients outlive it was killed
// only after the grace period, one after another at a benchmark's end.
func TestPostgresStopsWithClientsConnected(t *testing.T) {
	t.Parallel()
	pg, proc, err := startPostgres()
	if err != nil {
		t.Fatal(err)
	}
	defer proc.cleanup()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		proc.stop()
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	proc.stop()
	log, err := os.ReadFile(proc.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "fast shutdown request") {
		t.Errorf("postgres log after stop:\n%s\nwant a fast shutdown request", log)
	}
	if err := conn.Ping(ctx); err == nil {
		t.Errorf("a client's connection still answers after stop; want it closed by the shutdown")
	}
}
