package consul

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

func newClient(t *testing.T) *Client {
	t.Helper()
	c, err := New(Config{Address: testenv.SharedConsul(t).Addr})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func names(t *testing.T, id string) tenant.Names {
	t.Helper()
	tid, err := tenant.ParseID(id)
	if err != nil {
		t.Fatalf("ParseID(%q): %v", id, err)
	}
	return tenant.NamesFor(tid)
}

func TestPreflight(t *testing.T) {
	t.Parallel()
	if err := newClient(t).Preflight(context.Background()); err != nil {
		t.Fatalf("Preflight against a real agent: %v", err)
	}
	bad, _ := New(Config{Address: "127.0.0.1:1"})
	err := bad.Preflight(context.Background())
	if exit.CodeOf(err) != exit.Unreachable || exit.CauseOf(err) != CauseUnreachable {
		t.Fatalf("Preflight of a closed port = %v (code %d, cause %q); want Unreachable with cause %s", err, exit.CodeOf(err), exit.CauseOf(err), CauseUnreachable)
	}
}

func TestLockExcludesASecondHolderAndNamesTheFirst(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ctx := context.Background()
	key := names(t, "lock-a").LockKey
	first, err := c.Acquire(ctx, key, Holder{Operator: "alice", Host: "h1", PID: 1, Command: "up", Since: time.Now()}, time.Second)
	if err != nil {
		t.Fatalf("first Acquire: %v", err)
	}
	_, err = c.Acquire(ctx, key, Holder{Operator: "bob", Command: "up"}, 300*time.Millisecond)
	if exit.CodeOf(err) != exit.Locked || !strings.Contains(err.Error(), "alice on h1") {
		t.Fatalf("second Acquire = %v (code %d); want Locked naming alice", err, exit.CodeOf(err))
	}
	// Another tenant's lock is independent, even when its id extends this one's.
	other, err := c.Acquire(ctx, names(t, "lock-a-corp").LockKey, Holder{Operator: "carol"}, time.Second)
	if err != nil {
		t.Fatalf("Acquire of lock-a-corp while lock-a is held: %v", err)
	}
	_ = other.Destroy()

	if err := first.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
	second, err := c.Acquire(ctx, key, Holder{Operator: "bob"}, 5*time.Second)
	if err != nil {
		t.Fatalf("Acquire after release: %v", err)
	}
	if err := second.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if kv, _, _ := c.api.KV().Get(key, nil); kv != nil {
		t.Fatalf("lock key still present after Destroy: %+v", kv)
	}
}

func TestLockWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	key := names(t, "lock-ctx").LockKey
	held, err := c.Acquire(context.Background(), key, Holder{Operator: "alice"}, time.Second)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	defer held.Destroy()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = c.Acquire(ctx, key, Holder{Operator: "bob"}, time.Minute)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire with an ending context = %v; want context.DeadlineExceeded", err)
	}
}

func TestRecordWritesOnlyOnChange(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ctx := context.Background()
	n := names(t, "rec-a")
	r := tenant.Record{Tenant: "rec-a", Name: "Rec A", Host: "rec-a.example.test", Plan: "small", Profile: "exec",
		SpecVersion: "v1", Status: "ready", LastApply: time.Now().UTC()}
	if changed, err := c.WriteRecord(ctx, n.KVPrefix, r); err != nil || !changed {
		t.Fatalf("first WriteRecord = %v, %v; want changed", changed, err)
	}
	r.LastApply = r.LastApply.Add(time.Hour)
	if changed, err := c.WriteRecord(ctx, n.KVPrefix, r); err != nil || changed {
		t.Fatalf("WriteRecord of the same state = %v, %v; want unchanged", changed, err)
	}
	r.Status = "failed"
	if changed, err := c.WriteRecord(ctx, n.KVPrefix, r); err != nil || !changed {
		t.Fatalf("WriteRecord of a new status = %v, %v; want changed", changed, err)
	}
	got, err := c.ReadRecord(ctx, n.KVPrefix)
	if err != nil || got == nil || got.Status != "failed" {
		t.Fatalf("ReadRecord = %+v, %v; want status failed", got, err)
	}
}

func TestDeletePrefixSparesTenantsSharingAPrefix(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	ctx := context.Background()
	acme, corp := names(t, "del-acme"), names(t, "del-acme-corp")
	for _, n := range []tenant.Names{acme, corp} {
		if _, err := c.WriteRecord(ctx, n.KVPrefix, tenant.Record{Tenant: n.ID.String(), Status: "ready"}); err != nil {
			t.Fatalf("WriteRecord: %v", err)
		}
	}
	if changed, err := c.DeletePrefix(ctx, acme.KVPrefix); err != nil || !changed {
		t.Fatalf("DeletePrefix = %v, %v; want changed", changed, err)
	}
	if changed, err := c.DeletePrefix(ctx, acme.KVPrefix); err != nil || changed {
		t.Fatalf("second DeletePrefix = %v, %v; want no change", changed, err)
	}
	if r, _ := c.ReadRecord(ctx, corp.KVPrefix); r == nil {
		t.Fatalf("del-acme-corp's record is gone after deleting del-acme")
	}
	if _, err := c.DeletePrefix(ctx, "tenantctl/"); err == nil {
		t.Fatalf("DeletePrefix of a non-tenant prefix succeeded; want refusal")
	}
	list, err := c.ListRecords(ctx)
	if err != nil {
		t.Fatalf("ListRecords: %v", err)
	}
	for _, r := range list {
		if r.Tenant == "del-acme" {
			t.Fatalf("ListRecords still lists del-acme")
		}
	}
}

func TestServiceHealth(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer backend.Close()
	port, _ := strconv.Atoi(backend.URL[strings.LastIndex(backend.URL, ":")+1:])
	svc := names(t, "health-a").ServiceApp
	err := c.api.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
		ID: svc + "-1", Name: svc, Address: "127.0.0.1", Port: port,
		Check: &consulapi.AgentServiceCheck{HTTP: backend.URL, Interval: "100ms", Timeout: "1s"},
	})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	defer c.api.Agent().ServiceDeregister(svc + "-1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		is, err := c.ServiceHealth(context.Background(), svc)
		if err != nil {
			t.Fatalf("ServiceHealth: %v", err)
		}
		if len(Passing(is)) == 1 && is[0].Port == port {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instances = %+v; want one passing", is)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
