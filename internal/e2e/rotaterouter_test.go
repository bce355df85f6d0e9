package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
)

// TestRealNomadRotateThroughRouter rotates a one-instance tenant several
// times on a real Nomad agent while a client asks the router for it every
// 50 ms, and fails on any request that does not answer 200. Each rotation
// stops two instances (the old one, then the extra one), and the router
// must take each out of nginx's upstream, and put its successor in, inside
// the instance's shutdown_delay. The exec cycle rotates once at 200 ms;
// this is the closer look at the same promise (docs/routing.md, splay).
//
// It also reports the router's lag: for every change of the app's passing
// instances in Consul, the time until Nomad signalled nginx to reload
// (the router task's "Signaling" events). TENANTCTL_TEST_ROTATIONS sets the
// number of rotations (default 3). The tenant has an id of its own: Vault
// and Consul outlive each test's agent, with the records and bootstrap
// secrets of the tenants other tests leave up.
func TestRealNomadRotateThroughRouter(t *testing.T) {
	rotations := 3
	if v := os.Getenv("TENANTCTL_TEST_ROTATIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 50 {
			t.Fatalf("TENANTCTL_TEST_ROTATIONS=%q: want a whole number from 1 to 50", v)
		}
		rotations = n
	}
	w := newWorld(t)
	w.startRouter()
	w.must("up", "rotor", "--name", "Rotor Ltd", "--json", "--timeout", "5m")
	w.assertRouted("rotor")

	total := 0
	var allLags []time.Duration
	for i := range rotations {
		changes := w.watchPassing("rotor--app")
		stop := w.probeEvery("rotor", 50*time.Millisecond)
		time.Sleep(time.Second)
		r := w.must("rotate", "rotor", "--json")
		time.Sleep(2 * time.Second)
		ok, fails := stop()
		lags := routerLags(changes(), w.routerSignals())
		allLags = append(allLags, lags...)
		fmt.Printf("BenchmarkRealNomad/rotate-through-router/%d \t1\t%d ns/op\t%d requests\t%d failed\t%d changes\t%d max-router-lag-ms\n",
			i+1, r.took.Nanoseconds(), ok+len(fails), len(fails), len(lags), slices.Max(append(lags, 0)).Milliseconds())
		total += len(fails)
		if ok == 0 || len(fails) > 0 {
			t.Errorf("rotation %d of %d: %d requests through the router answered, %d failed; want none failed:\n%s",
				i+1, rotations, ok, len(fails), strings.Join(fails, "\n"))
			w.dumpRouter()
		}
	}
	slices.Sort(allLags)
	var ms []string
	for _, l := range allLags {
		ms = append(ms, strconv.FormatInt(l.Milliseconds(), 10))
	}
	t.Logf("%d rotations, %d failed requests; router lags (ms, Consul change to nginx signalled): %s",
		rotations, total, strings.Join(ms, " "))
	w.assertRouted("rotor")
}

// passingChange is a moment the set of passing instances of a service
// changed, as a blocking query saw it.
type passingChange struct {
	at  time.Time
	ids []string
}

// watchPassing follows the passing instances of service with blocking
// queries until the returned function is called, which returns every
// change seen after the first answer.
func (w *world) watchPassing(service string) func() []passingChange {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var out []passingChange
	done := make(chan struct{})
	go func() {
		defer close(done)
		var index uint64
		var last []string
		first := true
		for ctx.Err() == nil {
			q := (&consulapi.QueryOptions{WaitIndex: index, WaitTime: 10 * time.Second}).WithContext(ctx)
			es, meta, err := w.consul.Health().Service(service, "", true, q)
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			index = meta.LastIndex
			ids := make([]string, 0, len(es))
			for _, e := range es {
				ids = append(ids, e.Service.ID)
			}
			slices.Sort(ids)
			if !first && !slices.Equal(ids, last) {
				mu.Lock()
				out = append(out, passingChange{at: time.Now(), ids: ids})
				mu.Unlock()
			}
			first, last = false, ids
		}
	}()
	return func() []passingChange {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return out
	}
}

// routerSignals returns the times Nomad signalled the router's nginx task
// (a template re-rendered), from the task's recent events.
func (w *world) routerSignals() []time.Time {
	c := w.real.Client()
	q := &nomadapi.QueryOptions{Namespace: "default"}
	allocs, _, err := c.Jobs().Allocations("tenantctl-router", false, q)
	if err != nil {
		w.t.Logf("router signals: %v", err)
		return nil
	}
	var out []time.Time
	for _, a := range allocs {
		for _, ts := range a.TaskStates {
			for _, ev := range ts.Events {
				if ev.Type == nomadapi.TaskSignaling {
					out = append(out, time.Unix(0, ev.Time))
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// routerLags pairs every change with the first signal after it: how long
// nginx served the old list of instances.
func routerLags(changes []passingChange, signals []time.Time) []time.Duration {
	var lags []time.Duration
	for _, c := range changes {
		for _, s := range signals {
			if !s.Before(c.at) {
				lags = append(lags, s.Sub(c.at))
				break
			}
		}
	}
	return lags
}
