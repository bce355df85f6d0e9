package e2e

import (
	"fmt"
	"sort"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// minHealthy is the shipped update.min_healthy_time the real suite runs with.
func minHealthy(t *testing.T) time.Duration {
	d, err := time.ParseDuration(config.Default().Update.MinHealthyTime)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// reportTimeline prints, for each service job of tenant id (postgres,
// redis, app, worker), when Nomad did what after the job's registration, in
// Nomad's own timestamps: the allocation's creation, its tasks' events
// (received, set up, started after their templates rendered, a prestart
// task's exit), the checks seen
// passing (the allocation's health time less min_healthy_time, which
// Nomad's health watcher waits after that), the allocation healthy, the
// deployment successful, and the up command returning (r.end). It is
// where the data-services and app steps' time goes, read off a real agent.
func (w *world) reportTimeline(name, id string, minHealthy time.Duration, r result) {
	w.t.Helper()
	n := tenant.NamesFor(tenant.ID(id))
	c := w.real.Client()
	q := &nomadapi.QueryOptions{Namespace: n.Namespace}
	for _, jobID := range []string{n.JobPostgres, n.JobRedis, n.JobApp, n.JobWorker} {
		job, _, err := c.Jobs().Info(jobID, q)
		if err != nil || job.SubmitTime == nil {
			w.t.Logf("timeline of %s: %v", jobID, err)
			continue
		}
		t0 := time.Unix(0, *job.SubmitTime)
		at := map[string]time.Time{"up-returned": r.end}
		allocs, _, err := c.Jobs().Allocations(jobID, false, q)
		if err != nil || len(allocs) == 0 {
			w.t.Logf("timeline of %s: no allocation (%v)", jobID, err)
			continue
		}
		sort.Slice(allocs, func(i, j int) bool { return allocs[i].CreateTime < allocs[j].CreateTime })
		a, _, err := c.Allocations().Info(allocs[0].ID, q)
		if err != nil {
			w.t.Logf("timeline of %s: %v", jobID, err)
			continue
		}
		at["alloc-created"] = time.Unix(0, a.CreateTime)
		var keys []string // task events in time order
		for task, ts := range a.TaskStates {
			for _, e := range ts.Events {
				ev := map[string]string{
					nomadapi.TaskReceived:   "received",
					nomadapi.TaskSetup:      "setup",
					nomadapi.TaskStarted:    "started",
					nomadapi.TaskTerminated: "terminated",
				}[e.Type]
				key := task + "-" + ev
				if ev != "" && at[key].IsZero() {
					at[key] = time.Unix(0, e.Time)
					keys = append(keys, key)
				}
			}
		}
		sort.Slice(keys, func(i, j int) bool { return at[keys[i]].Before(at[keys[j]]) })
		if ds := a.DeploymentStatus; ds != nil && ds.Healthy != nil && *ds.Healthy {
			at["alloc-healthy"] = ds.Timestamp
			at["checks-passing"] = ds.Timestamp.Add(-minHealthy)
		}
		if d, _, err := c.Jobs().LatestDeployment(jobID, q); err == nil && d != nil && d.Status == nomadapi.DeploymentStatusSuccessful {
			at["deployment-successful"] = time.Unix(0, d.ModifyTime)
		}
		order := append(append([]string{"alloc-created"}, keys...), "checks-passing", "alloc-healthy", "deployment-successful", "up-returned")
		for _, k := range order {
			if v, ok := at[k]; ok {
				fmt.Printf("BenchmarkRealNomad/%s/timeline/%s/%s \t1\t%d ns/op\n", name, jobID[len(id)+len(tenant.Separator):], k, v.Sub(t0).Nanoseconds())
			}
		}
	}
}
