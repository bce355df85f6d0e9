package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantctl/tenantctl/internal/app"
)

// TestRotationUnderLoad issues requests continuously (2 s at about 200 per
// second) while the app's credentials are rotated the way Nomad does it: new
// credentials from Vault, the env file re-rendered, SIGHUP (here: Reload),
// then the old leases revoked.
func TestRotationUnderLoad(t *testing.T) {
	s := newStack(t, "rotate")
	old := s.issue(s.names.DBRoleApp, s.names.RedisRoleApp)
	s.writeEnv(old)
	logs := &syncBuffer{}
	pools, base := s.startServer(logs)
	org := s.newOrg("Rotating Org")
	cl := newClient(t, base, org)
	for i := range 20 {
		cl.must(http.StatusCreated, "POST", "/api/contacts", app.ContactInput{Name: fmt.Sprintf("Contact %02d", i)}, nil)
	}

	const (
		duration = 2 * time.Second
		interval = 5 * time.Millisecond // 200 per second
		rotateAt = 700 * time.Millisecond
	)
	type result struct {
		start time.Time
		err   string
	}
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
		seq     atomic.Int64
	)
	request := func() {
		defer wg.Done()
		start := time.Now()
		var status int
		var err error
		if n := seq.Add(1); n%10 == 0 {
			status, err = cl.do("POST", "/api/contacts", app.ContactInput{Name: fmt.Sprintf("Load %d", n)}, nil)
			if err == nil && status != http.StatusCreated {
				err = fmt.Errorf("POST status %d", status)
			}
		} else {
			var list struct{ Contacts []app.Contact }
			status, err = cl.do("GET", "/api/contacts", nil, &list)
			if err == nil && (status != http.StatusOK || len(list.Contacts) < 20) {
				err = fmt.Errorf("GET status %d, %d contacts", status, len(list.Contacts))
			}
		}
		r := result{start: start}
		if err != nil {
			r.err = err.Error()
		}
		mu.Lock()
		results = append(results, r)
		mu.Unlock()
	}

	var switched time.Time
	var fresh creds
	rotated := make(chan struct{})
	var rotatedFlag atomic.Bool
	begin := time.Now()
	go func() {
		defer close(rotated)
		time.Sleep(rotateAt)
		fresh = s.issue(s.names.DBRoleApp, s.names.RedisRoleApp)
		s.writeEnv(fresh)
		swapped, err := pools.Reload(context.Background())
		if err != nil || !swapped {
			t.Errorf("Reload: got %v, %v; want swapped", swapped, err)
		}
		switched = time.Now()
		s.revoke(old)
		rotatedFlag.Store(true)
	}()
	// Requests run for duration and, on a slow machine, until half a
	// second after the old leases were revoked (bounded at 30 s).
	tick := time.NewTicker(interval)
	var revokedAt time.Time
	for time.Since(begin) < duration || revokedAt.IsZero() || time.Since(revokedAt) < 500*time.Millisecond {
		if time.Since(begin) > 30*time.Second {
			t.Fatal("rotation did not finish within 30s")
		}
		<-tick.C
		if revokedAt.IsZero() && rotatedFlag.Load() {
			revokedAt = time.Now()
		}
		wg.Add(1)
		go request()
	}
	tick.Stop()
	wg.Wait()
	<-rotated

	var failed, failedAfter int
	for _, r := range results {
		if r.err == "" {
			continue
		}
		failed++
		if r.start.After(switched) {
			failedAfter++
		}
		if failed <= 5 {
			t.Logf("failed request at +%v: %s", r.start.Sub(begin).Round(time.Millisecond), r.err)
		}
	}
	t.Logf("rotation under load: %d requests, %d failed (%d after the switch at +%v)",
		len(results), failed, failedAfter, switched.Sub(begin).Round(time.Millisecond))
	if failed > 2 {
		t.Errorf("requests failed during rotation: got %d; want at most 2 (in flight at the switch)", failed)
	}
	if failedAfter != 0 {
		t.Errorf("requests failed after the switch: got %d; want 0", failedAfter)
	}

	// The old user is gone, nothing connects as it, and the app is ready on
	// the new credentials.
	var n int
	if err := s.observer.QueryRow(context.Background(), `SELECT count(*) FROM pg_roles WHERE rolname = $1`, old.pgUser).Scan(&n); err != nil || n != 0 {
		t.Errorf("old user after revocation: got %d roles, %v; want 0", n, err)
	}
	if err := s.observer.QueryRow(context.Background(),
		`SELECT count(*) FROM pg_stat_activity WHERE usename = $1`, old.pgUser).Scan(&n); err != nil || n != 0 {
		t.Errorf("sessions of the old user: got %d, %v; want 0 (old pool drained)", n, err)
	}
	if err := s.observer.QueryRow(context.Background(),
		`SELECT count(*) FROM pg_stat_activity WHERE usename = $1`, fresh.pgUser).Scan(&n); err != nil || n == 0 {
		t.Errorf("sessions of the new user: got %d, %v; want some", n, err)
	}
	cl.must(http.StatusOK, "GET", "/api/ready", nil, nil)
	s.assertNoSecrets("logs", logs.String())
}

// TestRotationRevokeFirst measures the other order, where the old leases are
// revoked before the new credentials are rendered (what a rotation that
// revokes every lease at once and waits for the templates does): requests
// fail between the revocation and the reload, and none after it. The
// failure count is reported, not asserted.
func TestRotationRevokeFirst(t *testing.T) {
	s := newStack(t, "revoke")
	old := s.issue(s.names.DBRoleApp, s.names.RedisRoleApp)
	s.writeEnv(old)
	pools, base := s.startServer(io.Discard)
	org := s.newOrg("Org")
	cl := newClient(t, base, org)
	cl.must(http.StatusCreated, "POST", "/api/contacts", app.ContactInput{Name: "Someone"}, nil)

	s.revoke(old)
	var codes []string
	for range 5 {
		var e errorBody
		status, err := cl.do("GET", "/api/contacts", nil, &e)
		codes = append(codes, fmt.Sprintf("%d %s %v", status, e.Error.Code, err))
	}
	readyStatus, _ := cl.do("GET", "/api/ready", nil, nil)
	t.Logf("after revocation, before reload: requests answered %q; ready %d", codes, readyStatus)
	if readyStatus == http.StatusOK {
		t.Errorf("ready with revoked credentials: got 200; want 503")
	}

	s.writeEnv(s.issue(s.names.DBRoleApp, s.names.RedisRoleApp))
	if _, err := pools.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	cl.must(http.StatusOK, "GET", "/api/contacts", nil, nil)
	cl.must(http.StatusOK, "GET", "/api/ready", nil, nil)
}
