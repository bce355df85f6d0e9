package app

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"
)

// WorkerOptions configure a Worker; zero fields take the defaults.
type WorkerOptions struct {
	// Stream is the Redis stream of jobs (DefaultStream).
	Stream string
	// Group is the consumer group every worker of the tenant joins
	// (DefaultGroup).
	Group string
	// Consumer names this worker in the group; it must be stable across
	// restarts of the same instance (the Nomad allocation id) so the
	// instance picks up what it had read but not acknowledged.
	Consumer string
	// ClaimIdle is how long a message may stay unacknowledged by another
	// consumer (crashed, or failing transiently) before this one claims it
	// (30s).
	ClaimIdle time.Duration
	// Block is how long one read waits for new jobs (1s). It bounds how
	// long a reload or a shutdown waits for the read in progress.
	Block time.Duration
	// Batch is how many messages one read returns at most (10).
	Batch int64
}

// DefaultGroup is the consumer group of the tenant's workers.
const DefaultGroup = "tenant-app-workers"

func (o WorkerOptions) withDefaults() WorkerOptions {
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.Group == "" {
		o.Group = DefaultGroup
	}
	if o.Consumer == "" {
		o.Consumer = "worker"
	}
	if o.ClaimIdle <= 0 {
		o.ClaimIdle = 30 * time.Second
	}
	if o.Block <= 0 {
		o.Block = time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 10
	}
	return o
}

// Worker consumes jobs from a Redis stream with a consumer group and applies
// each in one Postgres transaction together with its processed_jobs row:
// delivery is at least once (a message is acknowledged only after its
// transaction committed, and unacknowledged messages are claimed again after
// ClaimIdle), the effect exactly once (a second delivery finds the row and
// changes nothing).
type Worker struct {
	pools *Pools
	opts  WorkerOptions
	log   *slog.Logger

	done, duplicate, failed, retry, dead, claimed atomic.Int64
}

// NewWorker returns a Worker over pools.
func NewWorker(pools *Pools, opts WorkerOptions, logger *slog.Logger) *Worker {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{pools: pools, opts: opts.withDefaults(), log: logger}
}

// DeadLetterStream is where malformed messages of stream go.
func DeadLetterStream(stream string) string { return stream + ":dead" }

// Run consumes jobs until ctx ends; the batch in progress is finished first.
// Redis and Postgres errors are logged and retried with backoff; Run only
// returns when ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	st := &fetchState{ownPending: true}
	backoff := newBackoff()
	for ctx.Err() == nil {
		b, release := w.pools.acquire()
		msgs, err := w.fetch(ctx, b, st)
		if err == nil {
			// Jobs run to completion even when shutdown begins.
			jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
			for _, m := range msgs {
				w.handle(jctx, b, m)
			}
			cancel()
		}
		release()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if isNoGroup(err) {
				st.groupReady = false
			}
			w.log.WarnContext(ctx, "worker: read jobs", attrError, err.Error())
			backoff.wait(ctx)
			continue
		}
		backoff.reset()
	}
	return nil
}

// fetchState is what the read loop remembers between reads.
type fetchState struct {
	groupReady bool
	// ownPending: the consumer's own unacknowledged messages (from before
	// a restart) have not all been read yet; ownCursor is the last one read.
	ownPending bool
	ownCursor  string
	// claimCursor continues an XAUTOCLAIM scan; "" when none is running.
	claimCursor string
	lastClaim   time.Time
}

func isNoGroup(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOGROUP") }

// fetch returns the next messages: first this consumer's own pending ones,
// then, every ClaimIdle/2, messages other consumers left unacknowledged for
// ClaimIdle, otherwise new ones (waiting up to Block).
func (w *Worker) fetch(ctx context.Context, b *backends, st *fetchState) ([]redis.XMessage, error) {
	o := w.opts
	if !st.groupReady {
		err := b.rdb.XGroupCreateMkStream(ctx, o.Stream, o.Group, "0").Err()
		if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
			return nil, err
		}
		st.groupReady = true
	}
	if st.ownPending {
		// One pass over the consumer's own pending entries, from the
		// oldest; one that fails again stays pending for XAUTOCLAIM.
		if st.ownCursor == "" {
			st.ownCursor = "0"
		}
		res, err := b.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: o.Group, Consumer: o.Consumer,
			Streams: []string{o.Stream, st.ownCursor}, Count: o.Batch, Block: -1}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		if msgs := firstStream(res); len(msgs) > 0 {
			st.ownCursor = msgs[len(msgs)-1].ID
			return msgs, nil
		}
		st.ownPending = false
	}
	if st.claimCursor != "" || time.Since(st.lastClaim) >= o.ClaimIdle/2 {
		start := st.claimCursor
		if start == "" {
			start = "0-0"
		}
		msgs, next, err := b.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: o.Stream, Group: o.Group,
			Consumer: o.Consumer, MinIdle: o.ClaimIdle, Start: start, Count: o.Batch}).Result()
		if err != nil {
			return nil, err
		}
		if next == "0-0" {
			st.claimCursor, st.lastClaim = "", time.Now()
		} else {
			st.claimCursor = next
		}
		if len(msgs) > 0 {
			w.claimed.Add(int64(len(msgs)))
			return msgs, nil
		}
	}
	res, err := b.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: o.Group, Consumer: o.Consumer,
		Streams: []string{o.Stream, ">"}, Count: o.Batch, Block: o.Block}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return firstStream(res), nil
}

func firstStream(res []redis.XStream) []redis.XMessage {
	if len(res) == 0 {
		return nil
	}
	return res[0].Messages
}

// handle processes one message and acknowledges it unless it failed
// transiently.
func (w *Worker) handle(ctx context.Context, b *backends, m redis.XMessage) {
	log := w.log.With(attrMessage, m.ID)
	j, err := jobFromMessage(m)
	if err != nil {
		// Malformed (or deleted from the stream while pending): keep it
		// for inspection, then acknowledge so it stops coming back.
		if m.Values != nil {
			vals := map[string]any{"error": err.Error(), "message_id": m.ID}
			for k, v := range m.Values {
				vals["field_"+k] = v
			}
			if err := b.rdb.XAdd(ctx, &redis.XAddArgs{Stream: DeadLetterStream(w.opts.Stream), MaxLen: maxStreamLen,
				Approx: true, Values: vals}).Err(); err != nil {
				log.WarnContext(ctx, "worker: dead-letter a malformed job; left pending", attrError, err.Error())
				w.retry.Add(1)
				return
			}
		}
		w.dead.Add(1)
		log.WarnContext(ctx, "worker: malformed job moved to the dead-letter stream", attrError, err.Error())
		w.ack(ctx, b, m.ID, log)
		return
	}
	log = log.With(attrOrg, j.OrgID, attrJob, j.IdempotencyKey, attrJobType, j.Type)
	start := time.Now()
	outcome, err := w.process(ctx, b, j)
	switch outcome {
	case outcomeRetry:
		w.retry.Add(1)
		log.WarnContext(ctx, "worker: job failed; it will be redelivered", attrError, err.Error())
		return
	case outcomeDone:
		w.done.Add(1)
	case outcomeDuplicate:
		w.duplicate.Add(1)
	case outcomeFailed:
		w.failed.Add(1)
	}
	attrs := []any{attrOutcome, string(outcome), attrDurationMS, float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		attrs = append(attrs, attrError, err.Error())
	}
	log.InfoContext(ctx, "job", attrs...)
	w.ack(ctx, b, m.ID, log)
}

func (w *Worker) ack(ctx context.Context, b *backends, id string, log *slog.Logger) {
	// A lost ack means a redelivery, which processed_jobs turns into a
	// no-op.
	if err := b.rdb.XAck(ctx, w.opts.Stream, w.opts.Group, id).Err(); err != nil {
		log.WarnContext(ctx, "worker: acknowledge", attrError, err.Error())
	}
}

type outcome string

const (
	outcomeDone      outcome = "done"
	outcomeDuplicate outcome = "duplicate"
	outcomeFailed    outcome = "failed"
	outcomeRetry     outcome = "retry"
)

// process applies j once: in one transaction scoped to j's organization it
// claims (org, key) in processed_jobs, applies the effect and records the
// result. When the key was already there, nothing else happens. A permanent
// failure rolls the effect back and records the failure as the result, so a
// redelivery does not try again.
func (w *Worker) process(ctx context.Context, b *backends, j Job) (outcome, error) {
	var jobErr error
	fresh := false
	err := inOrg(ctx, b, j.OrgID, false, func(tx querier) error {
		tag, err := tx.Exec(ctx, `INSERT INTO processed_jobs (org_id, idempotency_key) VALUES ($1, $2)
			ON CONFLICT DO NOTHING`, j.OrgID, j.IdempotencyKey)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil // processed before
		}
		fresh = true
		res, err := runJob(ctx, tx, j)
		if err != nil {
			jobErr = err
			return err
		}
		out, err := json.Marshal(res)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE processed_jobs SET result = $3 WHERE org_id = $1 AND idempotency_key = $2`,
			j.OrgID, j.IdempotencyKey, out)
		return err
	})
	switch {
	case err == nil && !fresh:
		return outcomeDuplicate, nil
	case err == nil:
		return outcomeDone, nil
	case !isPermanent(err):
		return outcomeRetry, err
	}
	if jobErr == nil {
		// The claim itself failed permanently (the organization does not
		// exist): nothing can be recorded.
		return outcomeFailed, err
	}
	// Record the failure, once.
	result, _ := json.Marshal(map[string]string{"error": err.Error()})
	rerr := inOrg(ctx, b, j.OrgID, false, func(tx querier) error {
		_, err := tx.Exec(ctx, `INSERT INTO processed_jobs (org_id, idempotency_key, result) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, j.OrgID, j.IdempotencyKey, result)
		return err
	})
	if rerr != nil && !isPermanent(rerr) {
		return outcomeRetry, rerr
	}
	return outcomeFailed, err
}

// isPermanent reports whether retrying err cannot help: a permanentError, or
// a Postgres error about the data (classes 22 and 23) or a row refused by
// row-level security. Lost privileges (a revoked lease) are transient: the
// reload brings new credentials.
func isPermanent(err error) bool {
	var pe *permanentError
	if errors.As(err, &pe) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return strings.HasPrefix(pg.Code, "22") || strings.HasPrefix(pg.Code, "23") ||
			pg.Code == "42501" && strings.Contains(pg.Message, "row-level security")
	}
	return false
}

// backoff waits 100ms, doubling up to 5s, between failed reads.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 100 * time.Millisecond} }

func (b *backoff) reset() { b.d = 100 * time.Millisecond }

func (b *backoff) wait(ctx context.Context) {
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	b.d = min(2*b.d, 5*time.Second)
}
