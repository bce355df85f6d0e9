package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tenantctl/tenantctl/internal/app"
)

// TestWorkerExactlyOnce runs two workers over jobs that arrive more than
// once: submitted twice with one key, read by a consumer that crashed before
// acknowledging (claimed after ClaimIdle), and re-added after processing (an
// acknowledgement lost). Every job has its effect exactly once; malformed
// and impossible jobs end up dead-lettered or recorded as failed.
func TestWorkerExactlyOnce(t *testing.T) {
	const n = 30
	s := newStack(t, "worker")
	c := s.issue(s.names.DBRoleWorker, s.names.RedisRoleWorker)
	s.writeEnv(c)
	ctx := context.Background()
	orgA, orgB := s.newOrg("Org A"), s.newOrg("Org B")

	var deals []string
	for i := range n {
		var id string
		if err := s.observer.QueryRow(ctx, `INSERT INTO deals (org_id, name) VALUES ($1, $2) RETURNING id::text`,
			orgA, fmt.Sprintf("Deal %d", i)).Scan(&id); err != nil {
			t.Fatal(err)
		}
		deals = append(deals, id)
	}
	job := func(i int) app.Job {
		p, _ := json.Marshal(map[string]string{"deal_id": deals[i], "title": fmt.Sprintf("Call about deal %d", i)})
		return app.Job{OrgID: orgA, IdempotencyKey: fmt.Sprintf("task-%d", i), Type: app.JobCreateDealTask, Payload: p}
	}
	rdb := s.admin()
	stream := app.DefaultStream
	enqueue := func(j app.Job) {
		t.Helper()
		if _, err := app.Enqueue(ctx, rdb, stream, j); err != nil {
			t.Fatal(err)
		}
	}

	// A consumer reads the first 10 jobs and dies without acknowledging.
	if err := rdb.XGroupCreateMkStream(ctx, stream, app.DefaultGroup, "0").Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		enqueue(job(i))
	}
	if err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: app.DefaultGroup, Consumer: "crashed",
		Streams: []string{stream, ">"}, Count: 10, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	// The rest, and the first 5 submitted a second time with the same keys.
	for i := 10; i < n; i++ {
		enqueue(job(i))
	}
	for i := range 5 {
		enqueue(job(i))
	}
	// Org B asks for a task on A's deal: invisible to B, a permanent failure.
	cross := job(0)
	cross.OrgID, cross.IdempotencyKey = orgB, "cross-org"
	enqueue(cross)
	// A malformed message.
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"org_id", "nope"}}).Err(); err != nil {
		t.Fatal(err)
	}

	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	pools, err := app.OpenPools(app.SettingsSource{File: s.envFile}, "tenant-app-worker-test", logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pools.Close)
	wctx, stop := context.WithCancel(ctx)
	var workers []*app.Worker
	var wg sync.WaitGroup
	for _, name := range []string{"w1", "w2"} {
		w := app.NewWorker(pools, app.WorkerOptions{Consumer: name, ClaimIdle: time.Second, Block: 200 * time.Millisecond}, logger)
		workers = append(workers, w)
		wg.Add(1)
		go func() { defer wg.Done(); _ = w.Run(wctx) }()
	}
	t.Cleanup(func() { stop(); wg.Wait() })
	total := func() app.WorkerStats {
		var sum app.WorkerStats
		for _, w := range workers {
			st := w.Stats()
			sum.Done += st.Done
			sum.Duplicate += st.Duplicate
			sum.Failed += st.Failed
			sum.Retry += st.Retry
			sum.DeadLettered += st.DeadLettered
			sum.Claimed += st.Claimed
		}
		return sum
	}
	waitFor := func(what string, cond func(app.WorkerStats) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond(total()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: timed out; stats %+v", what, total())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// n jobs + 5 duplicates + cross-org + malformed.
	waitFor("first pass", func(st app.WorkerStats) bool {
		return st.Done+st.Duplicate+st.Failed+st.DeadLettered >= n+5+2
	})

	// Acknowledgements lost after commit: the same messages come again.
	for i := 10; i < 20; i++ {
		enqueue(job(i))
	}
	waitFor("redelivery", func(st app.WorkerStats) bool { return st.Duplicate >= 15 })

	st := total()
	t.Logf("worker stats: %+v", st)
	// On a slow machine a worker may claim a message another is still
	// processing (idle past ClaimIdle): more duplicates, and a failure or a
	// dead-lettering counted twice, but never a second effect.
	if st.Done != n || st.Duplicate < 15 || st.Failed < 1 || st.DeadLettered < 1 {
		t.Errorf("stats: got %+v; want Done %d, Duplicate >= 15, Failed >= 1, DeadLettered >= 1", st, n)
	}
	if st.Claimed < 10 {
		t.Errorf("claimed from the crashed consumer: got %d; want >= 10", st.Claimed)
	}

	// Exactly one task per deal, and one processed_jobs row per key.
	rows, err := s.observer.Query(ctx, `SELECT d.id::text, count(t.id) FROM deals d LEFT JOIN tasks t ON t.deal_id = d.id
		GROUP BY d.id`)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for rows.Next() {
		var id string
		var k int
		if err := rows.Scan(&id, &k); err != nil {
			t.Fatal(err)
		}
		counts[id] = k
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for i, d := range deals {
		if counts[d] != 1 {
			t.Errorf("tasks of deal %d: got %d; want 1", i, counts[d])
		}
	}
	var processedA, processedB int
	var failure string
	if err := s.observer.QueryRow(ctx, `SELECT count(*) FILTER (WHERE org_id = $1), count(*) FILTER (WHERE org_id = $2),
		coalesce(max(result->>'error') FILTER (WHERE org_id = $2), '') FROM processed_jobs`, orgA, orgB).Scan(&processedA, &processedB, &failure); err != nil {
		t.Fatal(err)
	}
	if processedA != n || processedB != 1 || failure == "" {
		t.Errorf("processed_jobs: got %d for A, %d for B (error %q); want %d, 1 with an error", processedA, processedB, failure, n)
	}
	pending, err := rdb.XPending(ctx, stream, app.DefaultGroup).Result()
	if err != nil {
		t.Fatal(err)
	}
	if pending.Count != 0 {
		t.Errorf("pending messages: got %d; want 0", pending.Count)
	}
	if l, err := rdb.XLen(ctx, app.DeadLetterStream(stream)).Result(); err != nil || l < 1 || l > st.DeadLettered {
		t.Errorf("dead-letter stream: got %d entries, %v; want 1 (one per dead-lettering)", l, err)
	}
	s.assertNoSecrets("worker log", logs.String())
}
