package provision

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The converged check reports what running its checks in order would have
// found first, and a check that waits (the route probe) stops as soon as
// another one finds a difference.
func TestFirstDifferenceOrderAndStop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan bool, 1)
	why, err := firstDifference(cancel,
		func() (string, error) { time.Sleep(20 * time.Millisecond); return "", nil },
		func() (string, error) { time.Sleep(30 * time.Millisecond); return "first in order", nil },
		func() (string, error) { return "found sooner, later in order", nil },
		func() (string, error) {
			select {
			case <-ctx.Done():
				stopped <- true
			case <-time.After(time.Minute):
				stopped <- false
			}
			return "the route does not answer yet", nil
		},
	)
	if err != nil || why != "first in order" {
		t.Fatalf("firstDifference = %q, %v; want the difference first in order", why, err)
	}
	if !<-stopped {
		t.Fatal("the waiting check was not stopped by the difference another check found")
	}

	boom := errors.New("boom")
	why, err = firstDifference(nil,
		func() (string, error) { return "", nil },
		func() (string, error) { return "", boom },
		func() (string, error) { return "a difference after the error", nil },
	)
	if !errors.Is(err, boom) || why != "" {
		t.Fatalf("firstDifference = %q, %v; want the error, which comes first in order", why, err)
	}
	if why, err := firstDifference(nil, func() (string, error) { return "", nil }); why != "" || err != nil {
		t.Fatalf("no difference: got %q, %v", why, err)
	}
}
