package app

// This file gives the external tests (package app_test) what they observe of
// a Worker; it is compiled only with the tests.

// WorkerStats count what a Worker did with the messages it handled.
type WorkerStats struct {
	// Done jobs had their effect now.
	Done int64
	// Duplicate jobs had been processed before (redelivered, or submitted
	// twice with one key): acknowledged without a second effect.
	Duplicate int64
	// Failed jobs failed permanently; the failure is their recorded result.
	Failed int64
	// Retry counts transient failures, left unacknowledged for redelivery.
	Retry int64
	// DeadLettered messages were malformed and moved to the dead-letter
	// stream.
	DeadLettered int64
	// Claimed messages were taken over from another consumer.
	Claimed int64
}

// Stats returns the counts so far.
func (w *Worker) Stats() WorkerStats {
	return WorkerStats{Done: w.done.Load(), Duplicate: w.duplicate.Load(), Failed: w.failed.Load(),
		Retry: w.retry.Load(), DeadLettered: w.dead.Load(), Claimed: w.claimed.Load()}
}

// Connections returns the identities of the current Postgres pool and Redis
// client, so a test can tell which of them a reload replaced.
func (p *Pools) Connections() (pg, redis any) {
	b, release := p.acquire()
	defer release()
	return b.pg, b.rdb
}
