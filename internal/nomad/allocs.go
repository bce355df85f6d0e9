package nomad

import (
	"context"
	"fmt"
	"sort"
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
