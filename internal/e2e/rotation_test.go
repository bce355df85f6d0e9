package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
	vaultapi "github.com/hashicorp/vault/api"

	"github.com/tenantctl/tenantctl/internal/app"
	"github.com/tenantctl/tenantctl/internal/provisiontest"
	"github.com/tenantctl/tenantctl/internal/testenv"
)

// rotationTTL is the credential TTL (and max TTL) of the rotation test: the
// shortest the config accepts (config.RenewalMargin with equal TTLs), so
// Nomad's template runner replaces every credential about every 55 s.
const rotationTTL = "75s"

// TestRealNomadRotation runs one tenant (one app and one worker instance)
// under steady load on a real Nomad agent with the shortest credential TTLs
// the config accepts, and counts what its users would see:
//
//   - unattended: Vault and Nomad's template runner rotate each of the four
//     credentials (app and worker, Postgres and Redis) at least four times;
//     no request may fail and no worker job may be lost or applied twice;
//   - rotate: `tenantctl rotate` of the one-instance tenant; no request may
//     fail, Consul must always list a passing app instance, and the worker
//     keeps consuming (no job lost or applied twice).
//
// The load picks a passing instance of the app's Consul service for every
// request, as the router does. Figures are printed as benchmark lines.
func TestRealNomadRotation(t *testing.T) {
	w := newWorldWith(t, worldOptions{NoRouter: true, CredsTTL: rotationTTL})
	r := w.must("up", "acme", "--name", "ACME Corporation", "--json", "--timeout", "5m")
	reportSteps("rotation/up", r)
	w.h.AssertAppServes("acme")
	n := provisiontest.Names(t, "acme")
	vc := testenv.SharedVault(t).Client(t)

	l := newLoad(t, w.h, w.consul, n.ServiceApp)
	l.seed()
	roles := []string{n.DBRoleApp, n.DBRoleWorker, n.RedisRoleApp, n.RedisRoleWorker}

	// Unattended: wait, under load, until every credential was replaced at
	// least four times.
	start := time.Now()
	watch := newLeaseWatch(t, vc, roles)
	stopLoad := l.run(100 * time.Millisecond)
	deadline := start.Add(9 * time.Minute)
	for watch.minRotations() < 4 {
		if time.Now().After(deadline) {
			stopLoad()
			t.Fatalf("unattended rotation: after 9 minutes the credentials were replaced %v times; want at least 4 each", watch.rotations())
		}
		time.Sleep(2 * time.Second)
		watch.poll()
	}
	stopLoad()
	phase := l.snapshot()
	lost, dup := l.settleJobs(w.h)
	report := fmt.Sprintf("BenchmarkRealNomad/rotation/unattended \t1\t%d ns/op\t%d requests\t%d failed\t%d no-passing\t%d jobs\t%d jobs-lost\t%d jobs-duplicated",
		time.Since(start).Nanoseconds(), phase.requests, phase.failed, phase.noPassing, phase.jobs, lost, dup)
	for _, role := range roles {
		report += fmt.Sprintf("\t%d rotations-%s", watch.rotations()[role], strings.TrimPrefix(role, "acme--"))
	}
	fmt.Println(report)
	if phase.failed > 0 || lost > 0 || dup > 0 || phase.requests == 0 {
		t.Errorf("unattended rotation under load: %d of %d requests failed, %d jobs lost, %d applied twice; want none (and some requests):\n%s",
			phase.failed, phase.requests, lost, dup, strings.Join(phase.failures, "\n"))
		w.dumpLogs(n.Namespace, n.JobApp, n.JobWorker)
	}

	// status shows the leases in use, without secrets.
	r = w.must("status", "acme", "--json")
	var st struct {
		Leases      []struct{ Role, Lease string } `json:"leases"`
		LeasesError string                         `json:"leases_error"`
	}
	if err := json.Unmarshal([]byte(lastLine(r.stdout)), &st); err != nil {
		t.Errorf("status --json: %v", err)
	}
	seen := map[string]bool{}
	for _, le := range st.Leases {
		seen[le.Role] = true
	}
	for _, role := range roles {
		if !seen[role] {
			t.Errorf("status --json leases: got %+v (%s); want a lease of %s", st.Leases, st.LeasesError, role)
		}
	}

	// Operator rotation of the one-instance tenant, under the same load.
	l.reset()
	stopLoad = l.run(100 * time.Millisecond)
	time.Sleep(time.Second)
	r = w.must("rotate", "acme", "--json")
	time.Sleep(2 * time.Second)
	stopLoad()
	phase = l.snapshot()
	lost, dup = l.settleJobs(w.h)
	reportSteps("rotation/rotate", r)
	fmt.Printf("BenchmarkRealNomad/rotation/rotate-under-load \t1\t%d ns/op\t%d requests\t%d failed\t%d no-passing\t%d jobs\t%d jobs-lost\t%d jobs-duplicated\n",
		r.took.Nanoseconds(), phase.requests, phase.failed, phase.noPassing, phase.jobs, lost, dup)
	if phase.failed > 0 || phase.noPassing > 0 || lost > 0 || dup > 0 || phase.requests == 0 {
		t.Errorf("rotate under load: %d of %d requests failed, %d moments without a passing instance, %d jobs lost, %d applied twice; want none:\n%s",
			phase.failed, phase.requests, phase.noPassing, lost, dup, strings.Join(phase.failures, "\n"))
		w.dumpLogs(n.Namespace, n.JobApp, n.JobWorker)
	}
	if out := r.stdout + r.stderr; strings.Contains(out, "password") {
		t.Errorf("rotate output mentions a password:\n%s", out)
	}
	w.h.AssertAppServes("acme")
}

// load is a steady client of one tenant's app: each tick it asks Consul for
// the passing instances of the app's service (as the router does), picks
// one, and sends one request: reads and writes of contacts, readiness, and
// worker jobs (deal.create_task, whose task is titled with the job's key, so
// a job applied twice shows as two tasks).
type load struct {
	t       *testing.T
	h       *provisiontest.Harness
	consul  *consulapi.Client
	service string
	http    *http.Client
	org     string
	deal    string
	seq     atomic.Int64

	mu        sync.Mutex
	requests  int
	failed    int
	noPassing int
	failures  []string
	accepted  []string // job keys the app accepted, over the whole test
	phaseJobs int
}

type loadFigures struct {
	requests, failed, noPassing, jobs int
	failures                          []string
}

func newLoad(t *testing.T, h *provisiontest.Harness, c *consulapi.Client, service string) *load {
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	t.Cleanup(tr.CloseIdleConnections)
	return &load{t: t, h: h, consul: c, service: service, http: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

// instance picks a passing instance of the service; "" when there is none.
func (l *load) instance() (string, error) {
	es, _, err := l.consul.Health().Service(l.service, "", true, nil)
	if err != nil {
		return "", err
	}
	if len(es) == 0 {
		return "", nil
	}
	i, _ := rand.Int(rand.Reader, big.NewInt(int64(len(es))))
	e := es[i.Int64()]
	addr := e.Service.Address
	if addr == "" {
		addr = e.Node.Address
	}
	return fmt.Sprintf("http://%s:%d", addr, e.Service.Port), nil
}

// call sends one request to base and decodes a JSON answer into out.
func (l *load) call(base, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return 0, err
	}
	if l.org != "" {
		req.Header.Set(app.OrgHeader, l.org)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := l.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// seed creates the load's organization (as the schema owner: organizations
// have no API) and, through the app, a contact and a deal for the jobs.
func (l *load) seed() {
	l.t.Helper()
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	h := hex.EncodeToString(b)
	org := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	l.org = org
	base, err := l.instance()
	if err != nil || base == "" {
		l.t.Fatalf("load: no passing app instance (%v)", err)
	}
	l.createOrg() // a Vault-issued owner with the test's short TTL: used at once

	var c app.Contact
	if code, err := l.call(base, "POST", "/api/contacts", app.ContactInput{Name: "Rotation Contact"}, &c); err != nil || code != http.StatusCreated {
		l.t.Fatalf("load: create contact: %d %v", code, err)
	}
	var d struct {
		ID string `json:"id"`
	}
	if code, err := l.call(base, "POST", "/api/deals", map[string]any{"name": "Rotation Deal", "contact_id": c.ID, "value": 1000, "stage": "sql"}, &d); err != nil || code != http.StatusCreated {
		l.t.Fatalf("load: create deal: %d %v", code, err)
	}
	l.deal = d.ID
}

// createOrg inserts the load's organization as the schema owner.
func (l *load) createOrg() {
	l.t.Helper()
	conn := l.h.Observe("acme", "acme__app")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer conn.Close(ctx) //nolint:errcheck
	tx, err := conn.Begin(ctx)
	if err != nil {
		l.t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, `SELECT set_config('app.current_org', $1, true)`, l.org); err != nil {
		l.t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO organizations (id, name) VALUES ($1, 'Rotation Org')`, l.org); err != nil {
		l.t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		l.t.Fatal(err)
	}
}

// run sends one request every interval until the returned function is
// called.
func (l *load) run(interval time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		var inflight sync.WaitGroup
		defer inflight.Wait()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			inflight.Add(1)
			go func() { defer inflight.Done(); l.one() }()
		}
	}()
	return func() { close(done); wg.Wait() }
}

// one sends one request and records the outcome.
func (l *load) one() {
	at := time.Now().Format("15:04:05.000")
	base, err := l.instance()
	if err != nil || base == "" {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.noPassing++
		l.failures = append(l.failures, fmt.Sprintf("%s: no passing instance (%v)", at, err))
		return
	}
	k := l.seq.Add(1)
	var what string
	var code, want int
	switch k % 4 {
	case 0:
		what, want = "GET /api/contacts", http.StatusOK
		code, err = l.call(base, "GET", "/api/contacts", nil, nil)
	case 1:
		what, want = "POST /api/contacts", http.StatusCreated
		code, err = l.call(base, "POST", "/api/contacts", app.ContactInput{Name: fmt.Sprintf("Load %d", k)}, nil)
	case 2:
		what, want = "GET /api/ready", http.StatusOK
		code, err = l.call(base, "GET", "/api/ready", nil, nil)
	default:
		key := fmt.Sprintf("rotation-job-%d", k)
		what, want = "POST /api/jobs", http.StatusAccepted
		code, err = l.call(base, "POST", "/api/jobs", map[string]any{"idempotency_key": key, "type": app.JobCreateDealTask,
			"payload": map[string]string{"deal_id": l.deal, "title": key}}, nil)
		if err == nil && code == want {
			l.mu.Lock()
			l.accepted = append(l.accepted, key)
			l.phaseJobs++
			l.mu.Unlock()
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests++
	if err != nil || code != want {
		l.failed++
		l.failures = append(l.failures, fmt.Sprintf("%s: %s at %s: %d %v", at, what, base, code, err))
	}
}

func (l *load) snapshot() loadFigures {
	l.mu.Lock()
	defer l.mu.Unlock()
	return loadFigures{requests: l.requests, failed: l.failed, noPassing: l.noPassing, jobs: l.phaseJobs,
		failures: append([]string(nil), l.failures...)}
}

// reset starts a new phase's figures; the accepted jobs stay.
func (l *load) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests, l.failed, l.noPassing, l.phaseJobs, l.failures = 0, 0, 0, 0, nil
}

// settleJobs waits (up to 90 s: a job left pending by a stopped worker is
// claimed after 30 s) until every accepted job has its task, then counts the
// accepted jobs without a task (lost) and those with more than one (applied
// twice).
func (l *load) settleJobs(h *provisiontest.Harness) (lost, duplicated int) {
	l.t.Helper()
	l.mu.Lock()
	keys := append([]string(nil), l.accepted...)
	l.mu.Unlock()
	deadline := time.Now().Add(90 * time.Second)
	for {
		counts := taskCounts(l.t, h, l.org)
		lost, duplicated = 0, 0
		for _, k := range keys {
			switch counts[k] {
			case 0:
				lost++
			case 1:
			default:
				duplicated++
			}
		}
		if lost == 0 || time.Now().After(deadline) {
			return lost, duplicated
		}
		time.Sleep(2 * time.Second)
	}
}

// taskCounts counts the organization's tasks by title, as the schema owner.
func taskCounts(t *testing.T, h *provisiontest.Harness, org string) map[string]int {
	t.Helper()
	conn := h.Observe("acme", "acme__app")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer conn.Close(ctx) //nolint:errcheck
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, `SELECT set_config('app.current_org', $1, true)`, org); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, `SELECT title, count(*) FROM tasks GROUP BY title`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var title string
		var n int
		if err := rows.Scan(&title, &n); err != nil {
			t.Fatal(err)
		}
		out[title] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// leaseWatch records the distinct leases of each role it has seen: a
// credential's rotation is a new lease (renewals keep the lease id).
type leaseWatch struct {
	t     *testing.T
	vault *vaultapi.Client
	roles []string
	seen  map[string]map[string]bool
}

func newLeaseWatch(t *testing.T, vc *vaultapi.Client, roles []string) *leaseWatch {
	w := &leaseWatch{t: t, vault: vc, roles: roles, seen: map[string]map[string]bool{}}
	for _, r := range roles {
		w.seen[r] = map[string]bool{}
	}
	w.poll()
	return w
}

func (w *leaseWatch) poll() {
	for _, role := range w.roles {
		s, err := w.vault.Logical().List("sys/leases/lookup/database/creds/" + role + "/")
		if err != nil || s == nil {
			continue
		}
		keys, _ := s.Data["keys"].([]any)
		for _, k := range keys {
			if id, ok := k.(string); ok {
				w.seen[role][id] = true
			}
		}
	}
}

// rotations is, per role, the number of leases seen after the first.
func (w *leaseWatch) rotations() map[string]int {
	out := map[string]int{}
	for r, ids := range w.seen {
		out[r] = max(len(ids)-1, 0)
	}
	return out
}

func (w *leaseWatch) minRotations() int {
	least := -1
	for _, n := range w.rotations() {
		if least < 0 || n < least {
			least = n
		}
	}
	return least
}

// dumpLogs prints the tail of the jobs' newest allocations' task logs (the
// app logs no secrets).
func (w *world) dumpLogs(ns string, jobs ...string) {
	c := w.real.Client()
	for _, job := range jobs {
		allocs, _, err := c.Jobs().Allocations(job, true, &nomadapi.QueryOptions{Namespace: ns})
		if err != nil {
			w.t.Logf("logs of %s: %v", job, err)
			continue
		}
		sort.Slice(allocs, func(i, j int) bool { return allocs[i].CreateIndex > allocs[j].CreateIndex })
		for i, a := range allocs {
			if i >= 2 {
				break
			}
			for task := range a.TaskStates {
				alloc, _, err := c.Allocations().Info(a.ID, &nomadapi.QueryOptions{Namespace: ns})
				if err != nil {
					continue
				}
				rc, err := c.AllocFS().Cat(alloc, "alloc/logs/"+task+".stderr.0", &nomadapi.QueryOptions{Namespace: ns})
				if err != nil {
					w.t.Logf("logs of %s/%s: %v", a.Name, task, err)
					continue
				}
				b, _ := io.ReadAll(rc)
				rc.Close()
				// Everything but successful requests: reloads, warnings, errors.
				var keep []string
				causes := map[string]int{}
				for _, line := range strings.Split(string(b), "\n") {
					if strings.Contains(line, `"error":`) {
						causes[failureCause(line)]++
					}
					if strings.Contains(line, `"msg":"request"`) && !strings.Contains(line, `"status":5`) &&
						!strings.Contains(line, `"status":4`) {
						continue
					}
					keep = append(keep, line)
				}
				if len(keep) > 80 {
					keep = keep[len(keep)-80:]
				}
				w.t.Logf("stderr of %s (%s), task %s: errors by cause %v; all but successful requests:\n%s",
					a.Name, a.ID[:8], task, causes, strings.Join(keep, "\n"))
			}
		}
	}
}

// failureCause sorts a logged error: credentials (a login refused, a user
// without its privileges or gone: what a rotation gone wrong looks like),
// timeouts (an overloaded machine), or other.
func failureCause(line string) string {
	l := strings.ToLower(line)
	for _, s := range []string{"password authentication failed", "permission denied", "does not exist", "wrongpass", "noperm", "noauth"} {
		if strings.Contains(l, s) {
			return "credentials"
		}
	}
	for _, s := range []string{"deadline exceeded", "context canceled", "timeout", "i/o timeout"} {
		if strings.Contains(l, s) {
			return "timeout"
		}
	}
	return "other"
}

// dumpRouter logs the router's last error-log lines (nginx's stderr:
// refused upstream connections, reloads) and its last access-log lines
// that were not 2xx (which upstreams a failed request tried): what the
// router saw when a probe failed.
func (w *world) dumpRouter() {
	c := w.real.Client()
	q := &nomadapi.QueryOptions{Namespace: "default"}
	allocs, _, err := c.Jobs().Allocations("tenantctl-router", false, q)
	if err != nil || len(allocs) == 0 {
		w.t.Logf("router logs: no allocation (%v)", err)
		return
	}
	alloc, _, err := c.Allocations().Info(allocs[0].ID, q)
	if err != nil {
		w.t.Logf("router logs: %v", err)
		return
	}
	for _, f := range []string{"stderr", "stdout"} {
		rc, err := c.AllocFS().Cat(alloc, "alloc/logs/nginx."+f+".0", q)
		if err != nil {
			w.t.Logf("router %s: %v", f, err)
			continue
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		var keep []string
		for _, line := range strings.Split(string(b), "\n") {
			if f == "stdout" && (strings.Contains(line, " 200 ") || strings.Contains(line, "status=200") || strings.Contains(line, `"status":200`)) {
				continue
			}
			keep = append(keep, line)
		}
		if len(keep) > 60 {
			keep = keep[len(keep)-60:]
		}
		w.t.Logf("router %s (last lines%s):\n%s", f, map[bool]string{true: " but 200s"}[f == "stdout"], strings.Join(keep, "\n"))
	}
}
