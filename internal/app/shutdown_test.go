package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantctl/tenantctl/internal/app"
)

// runApp runs app.Run in-process with the task environment and returns the
// listening address, a cancel standing in for SIGTERM, and Run's result.
func runApp(t *testing.T, envFile string, args ...string) (addr string, term func(), result <-chan error, logs *syncBuffer) {
	t.Helper()
	logs = &syncBuffer{}
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	done := make(chan struct{})
	env := map[string]string{app.EnvFileVar: envFile, app.TenantIDVar: "inproc"}
	go func() {
		defer close(done)
		res <- app.Run(ctx, args, app.Env{Getenv: func(k string) string { return env[k] }, Stderr: logs, Ready: ready})
	}()
	select {
	case addr = <-ready:
	case err := <-res:
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run: not listening after 30s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("Run still running 10s after the test")
		}
	})
	return addr, cancel, res, logs
}

// TestGracefulShutdown holds a request in flight (its UPDATE waits on a row
// lock) while the app is told to stop: the request completes, then Run
// returns nil. A second app whose request outlives --shutdown-timeout
// returns once the timeout has passed.
func TestGracefulShutdown(t *testing.T) {
	s := newStack(t, "shutdown")
	s.writeEnv(s.issue(s.names.DBRoleApp, s.names.RedisRoleApp))
	org := s.newOrg("Org")
	ctx := context.Background()

	addr, term, result, logs := runApp(t, s.envFile, "serve", "--addr", "127.0.0.1:0", "--shutdown-timeout", "10s")
	cl := newClient(t, "http://"+addr, org)
	var c app.Contact
	cl.must(http.StatusCreated, "POST", "/api/contacts", app.ContactInput{Name: "Locked"}, &c)

	lock, err := s.observer.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, `SELECT 1 FROM contacts WHERE id = $1 FOR UPDATE`, c.ID); err != nil {
		t.Fatal(err)
	}
	inflight := make(chan int, 1)
	go func() {
		status, err := cl.do("PUT", "/api/contacts/"+c.ID, app.ContactInput{Name: "Updated"}, nil)
		if err != nil {
			t.Errorf("in-flight PUT: %v", err)
		}
		inflight <- status
	}()
	// Wait until the UPDATE is blocked by the lock holder.
	probe := s.connect(observerUser, observerPassword)
	holder := s.observer.PgConn().PID()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting int
		if err := probe.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE $1::int = ANY (pg_blocking_pids(pid))`, holder).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 1 {
			break
		}
		select {
		case status := <-inflight:
			t.Fatalf("the PUT finished (status %d) while the row was locked", status)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the PUT never waited on the row lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
	term()
	// Draining: readiness fails, the in-flight request is still running.
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-result:
		t.Fatalf("Run returned (%v) with a request in flight; want it to wait", err)
	default:
	}
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if status := <-inflight; status != http.StatusOK {
		t.Errorf("in-flight PUT during shutdown: got %d; want 200", status)
	}
	select {
	case err := <-result:
		if err != nil {
			t.Errorf("Run after SIGTERM: got %v; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the in-flight request finished")
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("log: no \"stopped\" line")
	}

	// A request outliving the timeout does not hold the process.
	addr, term, result, _ = runApp(t, s.envFile, "serve", "--addr", "127.0.0.1:0", "--shutdown-timeout", "500ms")
	cl = newClient(t, "http://"+addr, org)
	lock, err = s.observer.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback(ctx) }()
	if _, err := lock.Exec(ctx, `SELECT 1 FROM contacts WHERE id = $1 FOR UPDATE`, c.ID); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = cl.do("PUT", "/api/contacts/"+c.ID, app.ContactInput{Name: "Never"}, nil) }()
	time.Sleep(300 * time.Millisecond)
	term()
	select {
	case err := <-result:
		if err != nil {
			t.Errorf("Run after the shutdown timeout: got %v; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run still running 10s after SIGTERM with a 500ms shutdown timeout")
	}
}

// TestWorkerResumesOwnPending restarts a consumer that had read jobs without
// acknowledging them: it processes them at once, without waiting for the
// claim timeout.
func TestWorkerResumesOwnPending(t *testing.T) {
	s := newStack(t, "resume")
	s.writeEnv(s.issue(s.names.DBRoleWorker, s.names.RedisRoleWorker))
	ctx := context.Background()
	org := s.newOrg("Org")
	var contact string
	if err := s.observer.QueryRow(ctx, `INSERT INTO contacts (org_id, name) VALUES ($1, 'Scored') RETURNING id::text`, org).Scan(&contact); err != nil {
		t.Fatal(err)
	}
	rdb := s.admin()
	if err := rdb.XGroupCreateMkStream(ctx, app.DefaultStream, app.DefaultGroup, "0").Err(); err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]string{"contact_id": contact})
	for i := range 3 {
		if _, err := app.Enqueue(ctx, rdb, app.DefaultStream, app.Job{OrgID: org, IdempotencyKey: fmt.Sprintf("score-%d", i),
			Type: app.JobContactScore, Payload: payload}); err != nil {
			t.Fatal(err)
		}
	}
	// The previous life of consumer "alloc-1" read them and died.
	if err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: app.DefaultGroup, Consumer: "alloc-1",
		Streams: []string{app.DefaultStream, ">"}, Count: 10, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	addr, _, _, _ := runApp(t, s.envFile, "work", "--addr", "127.0.0.1:0", "--consumer", "alloc-1", "--claim-idle", "1h")
	newClient(t, "http://"+addr, "").must(http.StatusOK, "GET", "/api/health", nil, nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		var score string
		if err := s.observer.QueryRow(ctx, `SELECT count(*), coalesce(min(result->>'score'), '') FROM processed_jobs`).Scan(&n, &score); err != nil {
			t.Fatal(err)
		}
		if n == 3 {
			if score != "0" {
				t.Errorf("score of a contact without deals: got %q; want 0", score)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processed jobs: got %d; want 3 without waiting for the claim timeout", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	pending, err := rdb.XPending(ctx, app.DefaultStream, app.DefaultGroup).Result()
	if err != nil || pending.Count != 0 {
		t.Errorf("pending after resume: got %v, %v; want 0", pending, err)
	}
}
