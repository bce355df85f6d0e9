package contract

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// waitDeadline bounds every wait; a real 2-core dev agent needs ~5 s for a
// healthy raw_exec job, the double microseconds.
const waitDeadline = 2 * time.Minute

func suffix() string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// namespace creates a fresh namespace for one case; cleanup purges its jobs
// and deletes it.
func namespace(t *testing.T, tg Target, meta map[string]string) string {
	t.Helper()
	name := "ct-" + suffix()
	c := tg.Client
	if _, err := c.Namespaces().Register(&api.Namespace{Name: name, Description: "tenantctl contract test", Meta: meta}, nil); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		q := &api.QueryOptions{Namespace: name}
		jobs, _, err := c.Jobs().List(q)
		if err == nil {
			for _, j := range jobs {
				c.Jobs().Deregister(j.ID, true, &api.WriteOptions{Namespace: name})
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := c.Namespaces().Delete(name, nil)
			if err != nil && strings.Contains(err.Error(), "namespace not found") {
				return // the case deleted it already
			}
			if err == nil || time.Now().After(deadline) {
				if err != nil {
					t.Logf("cleanup: delete namespace %s: %v", name, err)
				}
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	return name
}

// parse sends HCL (and var-file text) to /v1/jobs/parse.
func parse(t *testing.T, c *api.Client, src, vars string) *api.Job {
	t.Helper()
	job, err := c.Jobs().ParseHCLOpts(&api.JobsParseRequest{JobHCL: src, Variables: vars, Canonicalize: true})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return job
}

// register parses src and registers it with a submission, as tenantctl does.
func register(t *testing.T, c *api.Client, ns, src, vars string) (*api.Job, *api.JobRegisterResponse) {
	t.Helper()
	job := parse(t, c, src, vars)
	resp, _, err := c.Jobs().RegisterOpts(job, &api.RegisterOptions{
		Submission: &api.JobSubmission{Source: src, Format: "hcl2", Variables: vars},
	}, &api.WriteOptions{Namespace: ns})
	if err != nil {
		t.Fatalf("register %s: %v", *job.ID, err)
	}
	return job, resp
}

// waitFor runs cond as a blocking query until it reports true.
func waitFor(t *testing.T, what string, cond func(q *api.QueryOptions) (bool, uint64, error)) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	var idx uint64
	for time.Now().Before(deadline) {
		ok, last, err := cond(&api.QueryOptions{WaitIndex: idx, WaitTime: 5 * time.Second})
		if err != nil {
			t.Fatalf("wait for %s: %v", what, err)
		}
		if ok {
			return
		}
		idx = last
	}
	t.Fatalf("wait for %s: deadline passed", what)
}

func waitDeployment(t *testing.T, c *api.Client, ns, job string, want ...string) *api.Deployment {
	t.Helper()
	var got *api.Deployment
	waitFor(t, "deployment of "+job+" "+strings.Join(want, "|"), func(q *api.QueryOptions) (bool, uint64, error) {
		q.Namespace = ns
		d, meta, err := c.Jobs().LatestDeployment(job, q)
		if err != nil {
			return false, 0, err
		}
		got = d
		if d == nil {
			return false, meta.LastIndex, nil
		}
		for _, w := range want {
			if d.Status == w {
				return true, meta.LastIndex, nil
			}
		}
		return false, meta.LastIndex, nil
	})
	return got
}

func waitJobStatus(t *testing.T, c *api.Client, ns, job, want string) *api.Job {
	t.Helper()
	var got *api.Job
	waitFor(t, "job "+job+" "+want, func(q *api.QueryOptions) (bool, uint64, error) {
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

// waitAllocs waits until the job has n allocations whose client status is
// want, and returns them.
func waitAllocs(t *testing.T, c *api.Client, ns, job string, n int, want string) []*api.AllocationListStub {
	t.Helper()
	var got []*api.AllocationListStub
	waitFor(t, job+" allocations "+want, func(q *api.QueryOptions) (bool, uint64, error) {
		q.Namespace = ns
		allocs, meta, err := c.Jobs().Allocations(job, false, q)
		if err != nil {
			return false, 0, err
		}
		got = got[:0]
		for _, a := range allocs {
			if a.ClientStatus == want {
				got = append(got, a)
			}
		}
		return len(got) >= n, meta.LastIndex, nil
	})
	return got
}

// statusCode returns the HTTP status of an API error, or 0.
func statusCode(err error) int {
	var ue api.UnexpectedResponseError
	if errors.As(err, &ue) {
		return ue.StatusCode()
	}
	return 0
}

func ptr[T any](v T) *T { return &v }
