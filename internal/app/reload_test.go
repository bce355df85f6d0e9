package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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

// TestReloadKeepsServingConnections renders credentials that cannot serve
// (a wrong Postgres password, an unknown Redis user): the reload keeps the
// current connections and says why, requests go on succeeding, and the next
// reload with working credentials swaps. This is the app's half of lossless
// rotation: new credentials become current only once they have proved they
// serve.
func TestReloadKeepsServingConnections(t *testing.T) {
	s := newStack(t, "keep")
	old := s.issue(s.names.DBRoleApp, s.names.RedisRoleApp)
	s.writeEnv(old)
	logs := &syncBuffer{}
	pools, base := s.startServer(logs)
	cl := newClient(t, base, s.newOrg("Keep Org"))
	cl.must(http.StatusCreated, "POST", "/api/contacts", app.ContactInput{Name: "Before"}, nil)

	for _, tc := range []struct {
		name string
		bad  func(c creds) creds
	}{
		{"wrong postgres password", func(c creds) creds {
			c.settings.DatabaseURL = strings.Replace(c.settings.DatabaseURL, "@", "x@", 1)
			return c
		}},
		{"unknown redis user", func(c creds) creds {
			c.settings.RedisUsername += "-gone"
			return c
		}},
	} {
		s.writeEnv(tc.bad(old))
		swapped, err := pools.Reload(context.Background())
		if swapped || !errors.Is(err, app.ErrNewNotServing) {
			t.Errorf("%s: Reload got %v, %v; want false and ErrNewNotServing", tc.name, swapped, err)
		}
		cl.must(http.StatusOK, "GET", "/api/contacts", nil, nil)
		cl.must(http.StatusOK, "GET", "/api/ready", nil, nil)
	}

	fresh := s.issue(s.names.DBRoleApp, s.names.RedisRoleApp)
	s.writeEnv(fresh)
	if swapped, err := pools.Reload(context.Background()); !swapped || err != nil {
		t.Fatalf("Reload with working credentials: got %v, %v; want swapped", swapped, err)
	}
	s.revoke(old)
	cl.must(http.StatusCreated, "POST", "/api/contacts", app.ContactInput{Name: "After"}, nil)
	cl.must(http.StatusOK, "GET", "/api/ready", nil, nil)
	if !strings.Contains(logs.String(), "do not serve yet") && !strings.Contains(logs.String(), "connections replaced") {
		t.Errorf("logs: want the reloads reported; got %q", logs.String())
	}
	s.assertNoSecrets("logs", logs.String())
}

// TestReloadReplacesOnlyTheChangedCredential rotates the Redis credential
// alone, then the Postgres one alone (what the per-credential templates
// render): each reload replaces only the connections of the credential that
// changed, and revoking the replaced lease breaks nothing.
func TestReloadReplacesOnlyTheChangedCredential(t *testing.T) {
	s := newStack(t, "onecred")
	c := s.issue(s.names.DBRoleApp, s.names.RedisRoleApp)
	s.writeEnv(c)
	pools, base := s.startServer(io.Discard)
	org := s.newOrg("One Org")
	cl := newClient(t, base, org)
	cl.must(http.StatusCreated, "POST", "/api/contacts", app.ContactInput{Name: "Someone"}, nil)
	job := func(key string) app.Job {
		return app.Job{IdempotencyKey: key, Type: app.JobContactScore, Payload: []byte(`{"contact_id":"00000000-0000-0000-0000-000000000000"}`)}
	}

	// Redis only.
	pg0, rdb0 := pools.Connections()
	r := s.issue(s.names.DBRoleApp, s.names.RedisRoleApp)
	s.revoke(creds{leases: r.leases[:1]}) // only its Redis half is used
	next := c
	next.settings.RedisUsername, next.settings.RedisPassword = r.settings.RedisUsername, r.settings.RedisPassword
	s.writeEnv(next)
	if swapped, err := pools.Reload(context.Background()); !swapped || err != nil {
		t.Fatalf("Reload (redis): got %v, %v; want swapped", swapped, err)
	}
	pg1, rdb1 := pools.Connections()
	if pg1 != pg0 || rdb1 == rdb0 {
		t.Errorf("after a Redis rotation: postgres replaced %v, redis replaced %v; want false, true", pg1 != pg0, rdb1 != rdb0)
	}
	s.revoke(creds{leases: c.leases[1:]}) // the old Redis user
	cl.must(http.StatusAccepted, "POST", "/api/jobs", job("after-redis"), nil)
	cl.must(http.StatusOK, "GET", "/api/contacts", nil, nil)

	// Postgres only.
	p := s.issue(s.names.DBRoleApp, s.names.RedisRoleApp)
	s.revoke(creds{leases: p.leases[1:]})
	next.settings.DatabaseURL = p.settings.DatabaseURL
	s.writeEnv(next)
	if swapped, err := pools.Reload(context.Background()); !swapped || err != nil {
		t.Fatalf("Reload (postgres): got %v, %v; want swapped", swapped, err)
	}
	pg2, rdb2 := pools.Connections()
	if pg2 == pg1 || rdb2 != rdb1 {
		t.Errorf("after a Postgres rotation: postgres replaced %v, redis replaced %v; want true, false", pg2 != pg1, rdb2 != rdb1)
	}
	s.revoke(creds{leases: c.leases[:1]}) // the old Postgres user
	cl.must(http.StatusOK, "GET", "/api/contacts", nil, nil)
	cl.must(http.StatusAccepted, "POST", "/api/jobs", job("after-postgres"), nil)
	cl.must(http.StatusOK, "GET", "/api/ready", nil, nil)
}
