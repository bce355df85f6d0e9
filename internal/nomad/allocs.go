package nomad

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// JobStatus is a job's state for `tenantctl status`.
type JobStatus struct {
	Namespace string `json:"namespace"`
	JobID     string `json:"job_id"`
	// Found is false when the job does not exist; the rest is then empty.
	Found   bool   `json:"found"`
	Type    string `json:"type"`
	Status  string `json:"status"`
	Stop    bool   `json:"stop"`
	Version uint64 `json:"version"`
	Stable  bool   `json:"stable"`
	// Deployment is the latest deployment's status ("" without one) and
	// DeploymentDescription its description.
	Deployment            string `json:"deployment,omitempty"`
	DeploymentDescription string `json:"deployment_description,omitempty"`
	// ByClientStatus counts the allocations of the current version by
	// client status (pending, running, complete, failed, lost).
	ByClientStatus map[string]int `json:"by_client_status"`
	// Allocs are the job's allocations (every version), newest first.
	Allocs []Alloc `json:"allocs,omitempty"`
	// Children counts a parameterized job's dispatched jobs by status.
	Children map[string]int `json:"children,omitempty"`
}

// Alloc is one allocation with its tasks.
type Alloc struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Group         string `json:"group"`
	JobVersion    uint64 `json:"job_version"`
	ClientStatus  string `json:"client_status"`
	DesiredStatus string `json:"desired_status"`
	// Healthy is the deployment health: nil while unknown or without a
	// deployment.
	Healthy     *bool        `json:"healthy,omitempty"`
	CreateTime  time.Time    `json:"create_time"`
	ModifyIndex uint64       `json:"modify_index"`
	Tasks       []TaskDigest `json:"tasks,omitempty"`
}

// JobStatus reads a job, its allocations and its latest deployment. A job
// that does not exist is not an error: Found is false.
func (c *Client) JobStatus(ctx context.Context, ns, jobID string) (JobStatus, error) {
	st := JobStatus{Namespace: ns, JobID: jobID}
	job, _, err := c.api.Jobs().Info(jobID, c.q(ctx, ns))
	if isNotFound(err) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("nomad: read job %q in %s: %w", jobID, ns, err)
	}
	st.Found = true
	st.Type, st.Status, st.Stop = deref(job.Type), deref(job.Status), deref(job.Stop)
	st.Version, st.Stable = deref(job.Version), deref(job.Stable)
	allocs, _, err := c.allocations(ctx, ns, jobID, nil)
	if err != nil {
		return st, err
	}
	st.Allocs = allocs
	st.ByClientStatus = map[string]int{}
	for _, a := range allocs {
		if a.JobVersion == st.Version {
			st.ByClientStatus[a.ClientStatus]++
		}
	}
	if hasDeployments(job) {
		d, _, err := c.api.Jobs().LatestDeployment(jobID, c.q(ctx, ns))
		if err != nil {
			return st, fmt.Errorf("nomad: read deployment of job %q in %s: %w", jobID, ns, err)
		}
		if d != nil {
			st.Deployment, st.DeploymentDescription = d.Status, d.StatusDescription
		}
	}
	if job.ParameterizedJob != nil {
		sum, _, err := c.api.Jobs().Summary(jobID, c.q(ctx, ns))
		if err != nil {
			return st, fmt.Errorf("nomad: read summary of job %q in %s: %w", jobID, ns, err)
		}
		if ch := sum.Children; ch != nil {
			st.Children = map[string]int{"pending": int(ch.Pending), "running": int(ch.Running), "dead": int(ch.Dead)}
		}
	}
	return st, nil
}

// Allocations returns a job's allocations (every version), newest first,
// with their tasks' last events, and the index of the answer.
func (c *Client) Allocations(ctx context.Context, ns, jobID string) ([]Alloc, uint64, error) {
	return c.allocations(ctx, ns, jobID, nil)
}

func (c *Client) allocations(ctx context.Context, ns, jobID string, q *api.QueryOptions) ([]Alloc, uint64, error) {
	if q == nil {
		q = c.q(ctx, ns)
	}
	q.Namespace = ns
	stubs, meta, err := c.api.Jobs().Allocations(jobID, false, q)
	if err != nil {
		return nil, 0, fmt.Errorf("nomad: list allocations of job %q in %s: %w", jobID, ns, err)
	}
	sort.Slice(stubs, func(i, j int) bool { return stubs[i].CreateIndex > stubs[j].CreateIndex })
	out := make([]Alloc, 0, len(stubs))
	for _, s := range stubs {
		a := Alloc{ID: s.ID, Name: s.Name, Group: s.TaskGroup, JobVersion: s.JobVersion, ClientStatus: s.ClientStatus,
			DesiredStatus: s.DesiredStatus, CreateTime: time.Unix(0, s.CreateTime), ModifyIndex: s.ModifyIndex,
			Tasks: taskDigests(s.TaskStates, 0)}
		if s.DeploymentStatus != nil {
			a.Healthy = s.DeploymentStatus.Healthy
		}
		out = append(out, a)
	}
	return out, meta.LastIndex, nil
}

// Refreshed reports whether task of alloc has picked up new credentials
// since t: the allocation was created after t, or the task has an event
// after t that a template re-render causes. Real Nomad's template manager
// emits, per the template's change_mode: "signal" → a "Signaling" event
// ("Template re-rendered"); "restart" → "Restart Signaled" ("Template with
// change_mode restart re-rendered"), then "Terminated", "Restarting" and
// "Started"; "script" → an event saying the template ran its script (matched
// by message, not verified on a real agent); "noop" → nothing at all, so
// such tasks cannot be observed (WaitRefreshed skips them). The nomadtest
// double emits none of these by itself: tests append them to a running
// allocation with nomadtest's Server.TaskEvent.
func Refreshed(a Alloc, task string, t time.Time) bool {
	if !a.CreateTime.Before(t) {
		return true
	}
	for _, td := range a.Tasks {
		if td.Name != task {
			continue
		}
		for _, e := range td.Events {
			if e.Time.Before(t) {
				continue
			}
			switch e.Type {
			case api.TaskSignaling, api.TaskRestartSignal, api.TaskRestarting, api.TaskStarted:
				return true
			}
			if m := strings.ToLower(e.Message); strings.Contains(m, "re-rendered") || strings.Contains(m, "template successfully ran script") {
				return true
			}
		}
	}
	return false
}

// WaitRefreshed waits until every running allocation of the job's current
// version has, for each task with a template whose change_mode is not
// "noop", picked up new credentials since t (see Refreshed), and is running
// and healthy again. It returns the tasks it waited on ("group/task").
func (c *Client) WaitRefreshed(ctx context.Context, ns, jobID string, t time.Time) ([]string, error) {
	job, _, err := c.api.Jobs().Info(jobID, c.q(ctx, ns))
	if err != nil {
		return nil, fmt.Errorf("nomad: read job %q in %s: %w", jobID, ns, err)
	}
	watched := map[string][]string{} // group → tasks
	var names []string
	for _, tg := range job.TaskGroups {
		for _, task := range tg.Tasks {
			if rendersCredentials(task) {
				watched[deref(tg.Name)] = append(watched[deref(tg.Name)], task.Name)
				names = append(names, deref(tg.Name)+"/"+task.Name)
			}
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	version := deref(job.Version)
	var pending []string
	err = c.watch(ctx, func(q *api.QueryOptions) (bool, uint64, error) {
		allocs, idx, err := c.allocations(ctx, ns, jobID, q)
		if err != nil {
			return false, 0, err
		}
		pending = pending[:0]
		seen := 0
		for _, a := range allocs {
			if a.JobVersion != version || a.DesiredStatus != api.AllocDesiredStatusRun {
				continue
			}
			seen++
			if a.ClientStatus != api.AllocClientStatusRunning || (a.Healthy != nil && !*a.Healthy) {
				pending = append(pending, shortID(a.ID)+" not running")
				continue
			}
			for _, task := range watched[a.Group] {
				if !Refreshed(a, task, t) || !taskRunning(a, task) {
					pending = append(pending, shortID(a.ID)+"/"+task)
				}
			}
		}
		return seen > 0 && len(pending) == 0, idx, nil
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return names, fmt.Errorf("nomad: job %q in %s: tasks not refreshed before the deadline: %s: %w",
				jobID, ns, strings.Join(pending, ", "), err)
		}
		return names, fmt.Errorf("nomad: wait for job %q in %s to refresh: %w", jobID, ns, err)
	}
	return names, nil
}

func taskRunning(a Alloc, task string) bool {
	for _, td := range a.Tasks {
		if td.Name == task {
			return td.State == "running"
		}
	}
	return false
}

// rendersCredentials reports whether a task has a template Nomad acts on
// when it re-renders.
func rendersCredentials(t *api.Task) bool {
	for _, tpl := range t.Templates {
		if m := deref(tpl.ChangeMode); m != "" && m != "noop" {
			return true
		}
	}
	return false
}
