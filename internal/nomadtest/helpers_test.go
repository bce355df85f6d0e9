package nomadtest_test

import (
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// serviceJob is a small service job with a group port and a check.
func serviceJob(ns, id string, count int) *api.Job {
	j := api.NewServiceJob(id, id, "global", 50)
	j.Namespace = &ns
	tg := api.NewTaskGroup("app", count)
	tg.Networks = []*api.NetworkResource{{DynamicPorts: []api.Port{{Label: "http"}}}}
	task := api.NewTask("server", "raw_exec")
	task.Config = map[string]any{"command": "/bin/true"}
	task.Env = map[string]string{"LISTEN": "${NOMAD_ADDR_http}"}
	tg.Services = []*api.Service{{
		Name: id, PortLabel: "http", Tags: []string{"tenant=acme"},
		Checks: []api.ServiceCheck{{Type: "http", Path: "/healthz", Interval: time.Second, Timeout: time.Second}},
	}}
	tg.AddTask(task)
	j.AddTaskGroup(tg)
	return j
}

func batchJob(ns, id string) *api.Job {
	j := api.NewBatchJob(id, id, "global", 50)
	j.Namespace = &ns
	tg := api.NewTaskGroup("run", 1)
	task := api.NewTask("main", "raw_exec")
	task.Config = map[string]any{"command": "/bin/true"}
	tg.AddTask(task)
	j.AddTaskGroup(tg)
	return j
}

// waitFor polls cond through blocking queries on the given index until it
// returns true or the deadline passes.
func waitFor(t testing.TB, c *api.Client, what string, cond func(q *api.QueryOptions) (bool, uint64, error)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var idx uint64
	for time.Now().Before(deadline) {
		ok, last, err := cond(&api.QueryOptions{WaitIndex: idx, WaitTime: time.Second})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		idx = last
	}
	t.Fatalf("%s: not reached before deadline", what)
}

func waitDeployment(t testing.TB, c *api.Client, ns, job, want string) *api.Deployment {
	t.Helper()
	var got *api.Deployment
	waitFor(t, c, "deployment of "+job+" "+want, func(q *api.QueryOptions) (bool, uint64, error) {
		q.Namespace = ns
		d, meta, err := c.Jobs().LatestDeployment(job, q)
		if err != nil {
			return false, 0, err
		}
		got = d
		return d != nil && d.Status == want, meta.LastIndex, nil
	})
	return got
}

func waitJobStatus(t testing.TB, c *api.Client, ns, job, want string) *api.Job {
	t.Helper()
	var got *api.Job
	waitFor(t, c, "job "+job+" "+want, func(q *api.QueryOptions) (bool, uint64, error) {
		q.Namespace = ns
		j, meta, err := c.Jobs().Info(job, q)
		if err != nil {
			return false, 0, err
		}
		got = j
		return *j.Status == want, meta.LastIndex, nil
	})
	return got
}
