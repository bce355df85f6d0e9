package provision

import (
	"context"
	"fmt"
	"time"
)

// defaultProgressEvery is how often a long wait says what it last saw.
const defaultProgressEvery = 15 * time.Second

func (e Env) progressEvery() time.Duration {
	if e.ProgressEvery > 0 {
		return e.ProgressEvery
	}
	return defaultProgressEvery
}

// reportWhile runs wait and, every Env.ProgressEvery until it returns,
// reports on step what describe says it is waiting for ("waiting for
// acme--app (45s): deployment running: 0/1 healthy; …"), so an operator
// watching a slow step knows why it is slow.
func (e Env) reportWhile(ctx context.Context, r runner, step, what string, describe func(context.Context) string, wait func() error) error {
	done := make(chan struct{})
	stopped := make(chan struct{})
	start := e.now()
	go func() {
		defer close(stopped)
		t := time.NewTicker(e.progressEvery())
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				msg := describe(ctx)
				select {
				case <-done: // finished while describing: the report is stale
					return
				default:
				}
				elapsed := e.now().Sub(start).Round(time.Second)
				if msg == "" {
					msg = "no news yet"
				}
				r.info(step, fmt.Sprintf("waiting for %s (%s): %s", what, elapsed, msg))
			}
		}
	}()
	err := wait()
	close(done)
	<-stopped
	return err
}
