package provision

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tenantctl/tenantctl/internal/exit"
)

// TestInterruptedSaysSo: a command whose context is cancelled (Ctrl-C)
// exits 130 and says it was interrupted, naming the step, instead of asking
// the operator to fix a cause that does not exist.
func TestInterruptedSaysSo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := runner{command: "up", tenant: "acme", now: time.Now}
	steps := []Step{
		{Name: "namespace", Apply: func(context.Context) (Outcome, error) { return Outcome{Changed: true}, nil }},
		{Name: "app", Apply: func(ctx context.Context) (Outcome, error) {
			cancel()
			<-ctx.Done()
			return Outcome{}, ctx.Err()
		}},
		{Name: "routing", Apply: func(context.Context) (Outcome, error) {
			t.Error("a step after the interruption ran")
			return Outcome{}, nil
		}},
	}
	_, err := r.run(ctx, steps)
	if got := exit.CodeOf(err); got != exit.Interrupted {
		t.Fatalf("exit code of an interrupted up: got %d (%v); want %d", got, err, exit.Interrupted)
	}
	hint := exit.HintOf(err)
	for _, want := range []string{"interrupted during step app", "tenantctl up acme"} {
		if !strings.Contains(hint, want) {
			t.Errorf("hint: got %q; want it to contain %q", hint, want)
		}
	}
	if strings.Contains(hint, "fix the cause") {
		t.Errorf("hint: got %q; an interruption has no cause to fix", hint)
	}

	// A step that fails on its own deadline is not an interruption.
	dctx, dcancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer dcancel()
	_, err = r.run(context.Background(), []Step{{Name: "app", Apply: func(context.Context) (Outcome, error) {
		<-dctx.Done()
		return Outcome{}, dctx.Err()
	}}})
	if got := exit.CodeOf(err); got == exit.Interrupted || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a step's own timeout: got code %d (%v); want a failure, not an interruption", got, err)
	}
}
