package app

import (
	"sync"
	"testing"
	"time"
)

// TestInUseAddWhileWaiting: holders may come and go while another goroutine
// waits for zero (Close during a worker batch), which a sync.WaitGroup does
// not allow; Wait returns once the count reaches zero. Run with -race.
func TestInUseAddWhileWaiting(t *testing.T) {
	var u inUse
	u.Add(1)
	waited := make(chan struct{})
	go func() { u.Wait(); close(waited) }()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				u.Add(1)
				u.Done()
			}
		}()
	}
	wg.Wait()
	select {
	case <-waited:
		t.Fatal("Wait returned while a holder remained")
	case <-time.After(50 * time.Millisecond):
	}
	u.Done()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after the last holder left")
	}
	u.Wait() // zero: returns at once
}
