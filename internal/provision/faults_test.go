package provision_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/provisiontest"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/migrations"
)

// faultFor arms, at the start of step, a fault that fails it for tenant n
// only (every path names the tenant); nil when the step has no natural
// fault (it is covered by the kill).
func faultFor(h *provisiontest.Harness, step string, n tenant.Names) func() {
	write := func(s string) func(*http.Request) bool {
		return func(r *http.Request) bool { return provisiontest.IsWrite(r) && strings.Contains(r.URL.Path, s) }
	}
	switch step {
	case provision.StepCheck:
		return func() {
			h.ConsulProxy().Fail(n.ID.String(), 1, provisiontest.PathContains(http.MethodGet, "/v1/kv/"+n.KVPrefix))
		}
	case provision.StepLock:
		return func() {
			h.ConsulProxy().Fail(n.ID.String(), 1, provisiontest.PathContains(http.MethodPut, "/v1/kv/"+n.LockKey))
		}
	case provision.StepNamespace:
		// The namespace is written to PUT /v1/namespace (no name in the
		// path); its read names the tenant.
		return func() { h.Double().Fault("GET /v1/namespace/"+n.Namespace, 1, nomadtest.FaultError) }
	case provision.StepVault:
		// Vault's client retries a 5xx twice: fail more often than that.
		return func() { h.VaultProxy().Fail(n.ID.String(), 10, write("/"+n.IdentityPostgres)) }
	case provision.StepDataServices:
		return func() { h.Double().Fault("PUT /v1/job/"+n.JobPostgres+"/plan", 1, nomadtest.FaultError) }
	case provision.StepSecretsEngines:
		return func() { h.VaultProxy().Fail(n.ID.String(), 10, write("/config/"+n.DBConnection)) }
	case provision.StepMigrations:
		return func() { h.Double().Fault("PUT /v1/job/"+n.JobMigrate+"/dispatch", 1, nomadtest.FaultError) }
	case provision.StepApp:
		return func() { h.Double().Fault("PUT /v1/job/"+n.JobApp+"/plan", 1, nomadtest.FaultError) }
	case provision.StepBackupJobs:
		return func() { h.Double().Fault("PUT /v1/job/"+n.JobBackup+"/plan", 1, nomadtest.FaultError) }
	case provision.StepRecord:
		return func() {
			h.ConsulProxy().Fail(n.ID.String(), 1, provisiontest.PathContains(http.MethodPut, "/v1/kv/"+n.KVPrefix))
		}
	}
	return nil
}

type faultRow struct {
	step, how, id string
	first         string // how the interrupted up ended
	again         string // the next up
	down          string // down, and what was left
	ok            bool
	steps         []string // up's steps, in order
}

// upSteps runs one uninterrupted up of a new tenant and returns the names of
// its steps in order: the matrix covers every step up has, whatever it has.
// The tenant is removed again.
func upSteps(t *testing.T, h *provisiontest.Harness) []string {
	t.Helper()
	h.AddTenant("probe")
	res := h.MustUp("probe")
	var steps []string
	for _, s := range res.Steps {
		steps = append(steps, s.Name)
	}
	h.MustDown("probe")
	h.AssertGone("probe")
	if len(steps) < 3 {
		t.Fatalf("up's steps: got %v; want a full apply", steps)
	}
	return steps
}

// TestFaultMatrix interrupts up at every step, by cancelling its context
// when the step starts (a killed tenantctl) and, where the step has one, by
// an injected HTTP 500 from Nomad, Vault or Consul; then up again must
// converge and down must leave nothing.
func TestFaultMatrix(t *testing.T) {
	h := provisiontest.New(t)
	steps := upSteps(t, h)
	var rows []*faultRow
	for _, step := range steps {
		short := strings.ReplaceAll(step, "secrets-engines", "secrets")
		short = strings.ReplaceAll(short, "data-services", "data")
		rows = append(rows, &faultRow{step: step, how: "kill", id: "k-" + short, steps: steps})
		if faultFor(h, step, provisiontest.Names(t, "x-"+short)) != nil {
			rows = append(rows, &faultRow{step: step, how: "fault", id: "f-" + short, steps: steps})
		}
	}
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, r := range rows {
		h.AddTenant(r.id)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			runFaultRow(t, h, r)
		}()
	}
	wg.Wait()
	var b strings.Builder
	fmt.Fprintf(&b, "\n| step | interruption | interrupted up | up again | down |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.step, r.how, r.first, r.again, r.down)
		if !r.ok {
			t.Errorf("fault matrix row %s/%s (%s): interrupted up: %s; up again: %s; down: %s", r.step, r.how, r.id, r.first, r.again, r.down)
		}
	}
	t.Log(b.String())
}

func runFaultRow(t *testing.T, h *provisiontest.Harness, r *faultRow) {
	n := provisiontest.Names(t, r.id)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	arm := faultFor(h, r.step, n)
	var once sync.Once
	h.OnEvent(r.id, func(e provision.Event) {
		if e.Command != "up" || e.Step != r.step || e.Phase != provision.PhaseStart {
			return
		}
		once.Do(func() {
			if r.how == "kill" {
				cancel()
			} else {
				arm()
			}
		})
	})
	_, err := h.Up(ctx, r.id)
	h.OnEvent(r.id, nil)
	h.VaultProxy().ClearFaults(r.id)
	h.ConsulProxy().ClearFaults(r.id)
	var se *provision.StepError
	switch {
	case err == nil:
		r.first = "no error (interruption missed)"
		return
	case errors.As(err, &se) && se.Step == r.step:
		r.first = fmt.Sprintf("failed at %s, exit %d", se.Step, exit.CodeOf(err))
	case errors.As(err, &se) && r.how == "kill" && stepIndex(r.steps, se.Step) > stepIndex(r.steps, r.step):
		// A step that never looks at its context (volumes, a no-op in the
		// exec profile) completes; the runner stops before the next one.
		r.first = fmt.Sprintf("failed at the next step, %s, exit %d", se.Step, exit.CodeOf(err))
	case errors.As(err, &se):
		r.first = fmt.Sprintf("failed at %s (wanted %s): %s", se.Step, r.step, firstLine(err))
		return
	default:
		r.first = "error: " + firstLine(err)
		return
	}
	res, err := h.Up(context.Background(), r.id)
	if err != nil {
		r.again = "error: " + firstLine(err)
		return
	}
	if err := h.WaitPassingErr(r.id); err != nil {
		r.again = err.Error()
		return
	}
	if res.Record.Status != tenant.StatusReady {
		r.again = "record status " + string(res.Record.Status)
		return
	}
	again, err := h.Up(context.Background(), r.id)
	if err != nil || !again.NoChanges {
		r.again = fmt.Sprintf("converged, but a third up: NoChanges=%v err=%v", again.NoChanges, err)
		return
	}
	r.again = "converged (ready; next up: no changes)"
	if _, err := provision.Down(context.Background(), h.Env(), h.DownOptions(r.id, true)); err != nil {
		r.down = "error: " + firstLine(err)
		return
	}
	if left := h.Leftovers(r.id); len(left) > 0 {
		r.down = "left " + strings.Join(left, ", ")
		return
	}
	r.down = "nothing left"
	r.ok = true
}

func stepIndex(steps []string, step string) int {
	for i, s := range steps {
		if s == step {
			return i
		}
	}
	return -1
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// TestConcurrentUpAppliesOnce starts two up of one new tenant at once: the
// one that gets the lock applies; the other waits for the lock and finds
// nothing left to change. With a short lock timeout, the loser fails with
// exit.Locked instead, having changed nothing.
func TestConcurrentUpAppliesOnce(t *testing.T) {
	h := provisiontest.New(t)
	for _, tc := range []struct {
		id          string
		lockTimeout time.Duration
	}{{"twice", 90 * time.Second}, {"twice-short", time.Second}} {
		h.AddTenant(tc.id)
		type result struct {
			res provision.UpResult
			err error
		}
		results := make([]result, 2)
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				opt := h.UpOptions(tc.id)
				opt.LockTimeout = tc.lockTimeout
				opt.Holder.Command = fmt.Sprintf("up %s #%d", tc.id, i)
				results[i].res, results[i].err = provision.Up(context.Background(), h.Env(), opt)
			}()
		}
		wg.Wait()
		applied, idle, locked := 0, 0, 0
		for i, r := range results {
			switch {
			case r.err == nil && r.res.Changed():
				applied++
			case r.err == nil && !r.res.Changed():
				idle++
			case exit.CodeOf(r.err) == exit.Locked && !r.res.Changed():
				locked++
			default:
				t.Errorf("%s: up #%d: got changed=%v err=%v; want an apply, a no-op or exit.Locked", tc.id, i, r.res.Changed(), r.err)
			}
		}
		if applied != 1 || applied+idle+locked != 2 {
			t.Errorf("%s: got %d applied, %d no-op, %d locked out; want exactly one apply", tc.id, applied, idle, locked)
		}
		if tc.lockTimeout < 10*time.Second && locked != 1 {
			t.Errorf("%s: got %d locked out with a %s lock timeout; want 1", tc.id, locked, tc.lockTimeout)
		}
		if tc.lockTimeout >= 10*time.Second && idle != 1 {
			t.Errorf("%s: got %d no-op runs with a %s lock timeout; want 1 (waited, then found it converged)", tc.id, idle, tc.lockTimeout)
		}
		// Each job was registered once: version 0.
		n := provisiontest.Names(t, tc.id)
		for _, c := range tenant.Components() {
			if c.Stage == tenant.StageScheduled {
				continue // no backup schedule: no job
			}
			job := n.Job(c)
			j, _, err := h.Nomad().Client().Jobs().Info(job, &nomadapi.QueryOptions{Namespace: n.Namespace})
			if err != nil {
				t.Fatalf("%s: read job %s: %v", tc.id, job, err)
			}
			if *j.Version != 0 {
				t.Errorf("%s: job %s at version %d; want 0 (registered once)", tc.id, job, *j.Version)
			}
		}
		runs, _, err := h.Nomad().Client().Jobs().List(&nomadapi.QueryOptions{Namespace: n.Namespace, Prefix: n.JobMigrate + "/dispatch-"})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 {
			t.Errorf("%s: got %d migration runs; want 1", tc.id, len(runs))
		}
		h.WaitPassing(tc.id)
		h.MustDown(tc.id)
		h.AssertGone(tc.id)
	}
}

// TestFailingMigrationStopsRollout adds a migration whose SQL fails: up stops
// at the migrations step with the SQL error in its text, and the app and
// worker are never registered.
func TestFailingMigrationStopsRollout(t *testing.T) {
	broken := fstest.MapFS{}
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := fs.ReadFile(migrations.FS, f)
		if err != nil {
			t.Fatal(err)
		}
		broken[f] = &fstest.MapFile{Data: b}
	}
	broken["00007_broken.sql"] = &fstest.MapFile{Data: []byte("-- +goose Up\nALTER TABLE no_such_table ADD COLUMN x int;\n")}
	h := provisiontest.New(t, provisiontest.WithMigrations(broken))
	h.AddTenant("badmig")
	_, err = h.Up(context.Background(), "badmig")
	var se *provision.StepError
	if !errors.As(err, &se) || se.Step != provision.StepMigrations {
		t.Fatalf("up with a broken migration: got %v; want a failure at step %s", err, provision.StepMigrations)
	}
	for _, want := range []string{`relation "no_such_table" does not exist`, "00007_broken.sql", "exited with code 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("up error: got %q; want it to contain %q", err.Error(), want)
		}
	}
	if exit.CodeOf(err) != exit.Partial {
		t.Errorf("up exit code: got %d; want %d (partial)", exit.CodeOf(err), exit.Partial)
	}
	n := provisiontest.Names(t, "badmig")
	for _, job := range []string{n.JobApp, n.JobWorker} {
		if j, _, err := h.Nomad().Client().Jobs().Info(job, &nomadapi.QueryOptions{Namespace: n.Namespace}); err == nil && j != nil {
			t.Errorf("job %s: registered after a failed migration; want it absent", job)
		}
	}
	rec, err := h.Env().Consul.ReadRecord(context.Background(), n.KVPrefix)
	if err != nil || rec == nil || rec.Status != tenant.StatusFailed || rec.LastStep != provision.StepMigrations {
		t.Errorf("record after the failed migration: got %+v (err %v); want status failed at step migrations", rec, err)
	}
	h.MustDown("badmig")
	h.AssertGone("badmig")
}

// TestNeverHealthyFailsByDeadline keeps the app's allocation running but
// never healthy: up fails by its deadline with a digest of the task events.
func TestNeverHealthyFailsByDeadline(t *testing.T) {
	h := provisiontest.New(t)
	h.AddTenant("sick")
	n := provisiontest.Names(t, "sick")
	h.Double().Script(n.Namespace, n.JobApp, "app", nomadtest.Outcome{NeverHealthy: true,
		Events: []*nomadapi.TaskEvent{{Type: "Template", DisplayMessage: "Missing: vault.read(database/creds/sick--app)"}}})
	opt := h.UpOptions("sick")
	opt.Timeout = 12 * time.Second
	var mu sync.Mutex
	var waits []string
	h.OnEvent("sick", func(e provision.Event) {
		if e.Phase == provision.PhaseInfo && e.Step == provision.StepApp && strings.HasPrefix(e.Detail, "waiting for ") {
			mu.Lock()
			waits = append(waits, e.Detail)
			mu.Unlock()
		}
	})
	env := h.Env()
	env.ProgressEvery = 2 * time.Second
	_, err := provision.Up(context.Background(), env, opt)
	h.OnEvent("sick", nil)
	// The wait said, again and again, what it was waiting for.
	mu.Lock()
	if len(waits) < 3 {
		t.Errorf("progress reports during the 12 s wait: got %d (%q); want at least 3 (one every 2 s)", len(waits), waits)
	}
	for _, w := range waits {
		if !strings.Contains(w, "waiting for "+n.JobApp) || !strings.Contains(w, "0/1 healthy") || !strings.Contains(w, "allocation ") {
			t.Errorf("progress report %q: want it to name %s, its deployment's 0/1 healthy and its allocation", w, n.JobApp)
		}
	}
	mu.Unlock()
	var se *provision.StepError
	if !errors.As(err, &se) || se.Step != provision.StepApp {
		t.Fatalf("up with an app never healthy: got %v; want a failure at step %s", err, provision.StepApp)
	}
	for _, want := range []string{n.JobApp, "not healthy before the deadline", "Missing: vault.read"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("up error: got %q; want it to contain %q", err.Error(), want)
		}
	}
	h.MustDown("sick")
	h.AssertGone("sick")
}
