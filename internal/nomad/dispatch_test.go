package nomad

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tenantctl/tenantctl/internal/nomadtest"
)

func TestDispatchAndWaitComplete(t *testing.T) {
	const ns, id = "acme--tenant", "acme--migrate"
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	mustNamespace(t, c, ns)
	res := applied(t, c, batchSrc(ns, id), "")
	if res.EvalID != "" {
		t.Errorf("got eval %q for a parameterized job; want none", res.EvalID)
	}
	ctx := ctxFor(t, waitLimit)
	child, err := c.Dispatch(ctx, ns, id, map[string]string{"version": "1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(child, id+"/dispatch-") {
		t.Errorf("got child %q; want %s/dispatch-…", child, id)
	}
	out, err := c.WaitDispatched(ctx, ns, child)
	if err != nil {
		t.Fatalf("got %v; want success", err)
	}
	if !out.Succeeded || out.ExitCode != 0 || out.Status != "dead" || out.AllocID == "" {
		t.Errorf("got %+v; want succeeded, exit 0, dead, an allocation", out)
	}
	st, err := c.JobStatus(ctx, ns, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Children["dead"] != 1 {
		t.Errorf("got children %v; want one dead", st.Children)
	}
}

func TestDispatchFailureCarriesExitCodeAndLogTail(t *testing.T) {
	const ns, id = "acme--tenant", "acme--migrate"
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	mustNamespace(t, c, ns)
	// A log longer than the tail, so only its end comes back.
	long := strings.Repeat("applying 00001_init.sql ... ok\n", 300)
	srv.Script(ns, id, "migrate", nomadtest.Outcome{
		Fail: true, ExitCode: 3,
		Stdout: long + "applying 00002_crm.sql\n",
		Stderr: "ERROR: relation \"accounts\" does not exist (SQLSTATE 42P01)\n",
	})
	applied(t, c, batchSrc(ns, id), "")
	ctx := ctxFor(t, waitLimit)
	child, err := c.Dispatch(ctx, ns, id, map[string]string{"version": "1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.WaitDispatched(ctx, ns, child)
	var de *DispatchError
	if !errors.As(err, &de) {
		t.Fatalf("got %v; want a *DispatchError", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got a deadline error; want a failure")
	}
	if out.Succeeded || out.ExitCode != 3 || out.Task != "migrate" {
		t.Errorf("got succeeded=%v exit=%d task=%q; want failed, 3, migrate", out.Succeeded, out.ExitCode, out.Task)
	}
	if !strings.Contains(out.Stderr, `relation "accounts" does not exist`) {
		t.Errorf("got stderr %q; want the SQL error", out.Stderr)
	}
	if !strings.HasSuffix(out.Stdout, "applying 00002_crm.sql\n") || len(out.Stdout) > logTailBytes {
		t.Errorf("got stdout of %d bytes ending %q; want at most %d ending with the last line", len(out.Stdout), tail(out.Stdout), logTailBytes)
	}
	if strings.Contains(out.Stdout, "\n\n") || !strings.HasPrefix(out.Stdout, "applying") {
		t.Errorf("got stdout starting %q; want whole lines", out.Stdout[:min(40, len(out.Stdout))])
	}
	var sawTerminated bool
	for _, e := range out.Events {
		sawTerminated = sawTerminated || e.Type == "Terminated"
	}
	if !sawTerminated {
		t.Errorf("got events %+v; want a Terminated event", out.Events)
	}
	for _, w := range []string{"exited with code 3", "SQLSTATE 42P01", "--- stderr (end) ---"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("got error:\n%s\nwant it to contain %q", err, w)
		}
	}
}

func tail(s string) string { return s[max(0, len(s)-40):] }

func TestDispatchIdempotencyTokenReturnsSameChild(t *testing.T) {
	const ns, id = "acme--tenant", "acme--migrate"
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	mustNamespace(t, c, ns)
	applied(t, c, batchSrc(ns, id), "")
	ctx := ctxFor(t, waitLimit)
	meta := map[string]string{"version": "1"}
	first, err := c.Dispatch(ctx, ns, id, meta, "spec-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitDispatched(ctx, ns, first); err != nil {
		t.Fatal(err)
	}
	before := srv.Writes()
	again, err := c.Dispatch(ctx, ns, id, meta, "spec-1")
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("got child %q; want %q (same token)", again, first)
	}
	if got := srv.Writes(); got != before {
		t.Errorf("got %d writes; want none for a token already used", got-before)
	}
	other, err := c.Dispatch(ctx, ns, id, meta, "spec-2")
	if err != nil {
		t.Fatal(err)
	}
	if other == first {
		t.Errorf("got the same child for a new token; want a new one")
	}
}

func TestDispatchMissingMetaIsAnError(t *testing.T) {
	const ns, id = "acme--tenant", "acme--migrate"
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	mustNamespace(t, c, ns)
	applied(t, c, batchSrc(ns, id), "")
	_, err := c.Dispatch(context.Background(), ns, id, nil, "")
	if err == nil || !strings.Contains(err.Error(), "required meta keys") {
		t.Errorf("got %v; want Nomad's missing meta error", err)
	}
}

func TestWaitDispatchedDeadlineCarriesPlacementFailure(t *testing.T) {
	const ns, id = "acme--tenant", "acme--migrate"
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	mustNamespace(t, c, ns)
	srv.Script(ns, id, "", nomadtest.Outcome{PlacementFailure: true})
	applied(t, c, batchSrc(ns, id), "")
	child, err := c.Dispatch(context.Background(), ns, id, map[string]string{"version": "1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	settle(t, c, ns, child, &nomadtest.Outcome{PlacementFailure: true})
	out, err := c.WaitDispatched(ctxFor(t, 200*time.Millisecond), ns, child)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v; want the deadline", err)
	}
	if out.Succeeded || len(out.Digest.Placement) != 1 {
		t.Errorf("got %+v; want not succeeded, one placement failure", out)
	}
	if !strings.Contains(err.Error(), `Dimension "memory" exhausted`) {
		t.Errorf("got error:\n%s\nwant the placement failure in it", err)
	}
}
