package nomad

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/nomad/api"
)

// DeployError is a wait that ended without the job healthy: its deployment
// failed or was cancelled, or the context ended first. Its Digest explains
// why.
type DeployError struct {
	Namespace string
	JobID     string
	// Status is the deployment's status ("failed", "cancelled", "running"
	// at a deadline) or "unhealthy" for jobs without deployments.
	Status      string
	Description string
	Digest      Digest
	// Err is the context's error at a deadline, nil otherwise.
	Err error
}

func (e *DeployError) Error() string {
	var head string
	switch {
	case e.Err != nil:
		head = fmt.Sprintf("nomad: job %q in %s not healthy before the deadline (deployment %s)", e.JobID, e.Namespace, e.Status)
	default:
		head = fmt.Sprintf("nomad: deployment of job %q in %s %s", e.JobID, e.Namespace, e.Status)
	}
	if e.Description != "" {
		head += ": " + e.Description
	}
	if !e.Digest.Empty() {
		head += "\n" + e.Digest.String()
	}
	return head
}

// Unwrap returns the context error of a deadline.
func (e *DeployError) Unwrap() error { return e.Err }

// WaitDeployment waits until the job's deployment of the version registered
// at sinceIndex (ApplyResult.JobModifyIndex) or later is successful, or
// has every allocation healthy (allHealthy: Nomad's own condition for
// success, met a second or more before Nomad writes the status). A
// failed or cancelled deployment, or the end of ctx, returns a *DeployError
// with a digest. Placement failures do not end the wait (Nomad keeps trying
// to place until the progress deadline), but they are logged at once and
// end up in the digest. Jobs that get no deployment (batch, system, or
// without an update strategy) are waited on with WaitAllocsRunning.
func (c *Client) WaitDeployment(ctx context.Context, ns, jobID string, sinceIndex uint64) error {
	job, _, err := c.api.Jobs().Info(jobID, c.q(ctx, ns))
	if err != nil {
		return fmt.Errorf("nomad: read job %q in %s: %w", jobID, ns, err)
	}
	if !hasDeployments(job) {
		return c.WaitAllocsRunning(ctx, ns, jobID)
	}
	var last *api.Deployment
	warned := false
	err = c.watch(ctx, func(q *api.QueryOptions) (bool, uint64, error) {
		q.Namespace = ns
		d, meta, err := c.api.Jobs().LatestDeployment(jobID, q)
		if err != nil {
			return false, 0, err
		}
		if d == nil || d.JobSpecModifyIndex < sinceIndex {
			return false, meta.LastIndex, nil
		}
		if d.JobSpecModifyIndex > sinceIndex {
			// A later version has its own deployment: a registration by
			// someone else, or Nomad's auto_revert rolling ours back. Ours
			// is the first deployment at or after sinceIndex.
			if own := c.deploymentSince(ctx, ns, jobID, sinceIndex); own != nil {
				d = own
			}
		}
		last = d
		switch {
		case d.Status == api.DeploymentStatusSuccessful, allHealthy(d):
			return true, meta.LastIndex, nil
		case d.Status == api.DeploymentStatusFailed, d.Status == api.DeploymentStatusCancelled:
			return true, meta.LastIndex, nil
		}
		if !warned {
			if pf := c.placementNow(ctx, ns, jobID, sinceIndex); len(pf) > 0 {
				warned = true
				c.log.WarnContext(ctx, "nomad could not place all allocations; waiting for capacity until the deadline",
					attrNamespace, ns, attrJob, jobID, "groups", len(pf))
			}
		}
		return false, meta.LastIndex, nil
	})
	if err == nil && (last.Status == api.DeploymentStatusSuccessful || allHealthy(last)) {
		c.log.DebugContext(ctx, "nomad deployment healthy", attrNamespace, ns, attrJob, jobID, attrVersion, last.JobVersion, "status", last.Status)
		return nil
	}
	dctx, cancel := digestContext(ctx)
	defer cancel()
	de := &DeployError{Namespace: ns, JobID: jobID, Status: "not started"}
	var version *uint64
	if last != nil {
		de.Status, de.Description = last.Status, last.StatusDescription
		v := last.JobVersion
		version = &v
	}
	if err != nil {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("nomad: wait for deployment of job %q in %s: %w", jobID, ns, err)
		}
		de.Err = err
	}
	de.Digest = c.collectDigest(dctx, ns, jobID, sinceIndex, version)
	return de
}

// allHealthy reports whether a running deployment has, in every task
// group, at least as many healthy allocations as it wants (its canaries
// promoted): the test Nomad's scheduler applies before it marks the
// deployment successful. Nomad counts an allocation healthy only after its
// checks passed for min_healthy_time, and the scheduler applies the test on
// an evaluation that the deployment watcher batches for a second
// (perJobEvalBatchPeriod in Nomad 2.0.5), after the client's own sync: on a
// real agent the status turns successful 1.2 to 1.9 s after the last
// allocation turned healthy. Reading Nomad's counters instead of waiting for
// the status is the same gate, that much sooner.
func allHealthy(d *api.Deployment) bool {
	if d == nil || d.Status != api.DeploymentStatusRunning || len(d.TaskGroups) == 0 {
		return false
	}
	for _, g := range d.TaskGroups {
		if g == nil || g.HealthyAllocs < max(g.DesiredTotal, g.DesiredCanaries) || (g.DesiredCanaries > 0 && !g.Promoted) {
			return false
		}
	}
	return true
}

// deploymentSince returns the job's first deployment of a version
// registered at sinceIndex or later, or nil.
func (c *Client) deploymentSince(ctx context.Context, ns, jobID string, sinceIndex uint64) *api.Deployment {
	ds, _, err := c.api.Jobs().Deployments(jobID, true, c.q(ctx, ns))
	if err != nil {
		return nil
	}
	var first *api.Deployment
	for _, d := range ds {
		if d.JobSpecModifyIndex >= sinceIndex && (first == nil || d.JobSpecModifyIndex < first.JobSpecModifyIndex) {
			first = d
		}
	}
	return first
}

// placementNow returns the placement failures of the newest evaluation of
// the version at sinceIndex, if it has any.
func (c *Client) placementNow(ctx context.Context, ns, jobID string, sinceIndex uint64) []PlacementFailure {
	evals, _, err := c.api.Jobs().Evaluations(jobID, c.q(ctx, ns))
	if err != nil {
		return nil
	}
	var newest *api.Evaluation
	for _, ev := range evals {
		if ev.JobModifyIndex >= sinceIndex && ev.Status == api.EvalStatusComplete && (newest == nil || ev.CreateIndex > newest.CreateIndex) {
			newest = ev
		}
	}
	if newest == nil {
		return nil
	}
	return placementFailures(newest.FailedTGAllocs)
}

// hasDeployments reports whether Nomad creates deployments for job: service
// jobs with an update strategy whose max_parallel is not zero.
func hasDeployments(job *api.Job) bool {
	if deref(job.Type) != api.JobTypeService {
		return false
	}
	if job.Update != nil && deref(job.Update.MaxParallel) > 0 {
		return true
	}
	for _, tg := range job.TaskGroups {
		if tg.Update != nil && deref(tg.Update.MaxParallel) > 0 {
			return true
		}
	}
	return false
}

// WaitAllocsRunning waits until every task group of the job's current
// version has its count of allocations running (and, where Nomad tracks
// deployment health, healthy). A failed allocation of the current version
// ends the wait with a *DeployError; so does the end of ctx.
func (c *Client) WaitAllocsRunning(ctx context.Context, ns, jobID string) error {
	job, _, err := c.api.Jobs().Info(jobID, c.q(ctx, ns))
	if err != nil {
		return fmt.Errorf("nomad: read job %q in %s: %w", jobID, ns, err)
	}
	version := deref(job.Version)
	want := map[string]int{}
	for _, tg := range job.TaskGroups {
		want[deref(tg.Name)] = deref(tg.Count)
	}
	failed := false
	err = c.watch(ctx, func(q *api.QueryOptions) (bool, uint64, error) {
		q.Namespace = ns
		stubs, meta, err := c.api.Jobs().Allocations(jobID, false, q)
		if err != nil {
			return false, 0, err
		}
		running := map[string]int{}
		for _, a := range stubs {
			if a.JobVersion != version || a.DesiredStatus != api.AllocDesiredStatusRun {
				continue
			}
			if a.ClientStatus == api.AllocClientStatusFailed && a.NextAllocation == "" && a.FollowupEvalID == "" {
				failed = true
				return true, meta.LastIndex, nil
			}
			healthy := a.DeploymentStatus == nil || a.DeploymentStatus.Healthy == nil || *a.DeploymentStatus.Healthy
			if a.ClientStatus == api.AllocClientStatusRunning && healthy {
				running[a.TaskGroup]++
			}
		}
		for g, n := range want {
			if running[g] < n {
				return false, meta.LastIndex, nil
			}
		}
		return true, meta.LastIndex, nil
	})
	if err == nil && !failed {
		return nil
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("nomad: wait for job %q in %s: %w", jobID, ns, err)
	}
	dctx, cancel := digestContext(ctx)
	defer cancel()
	de := &DeployError{Namespace: ns, JobID: jobID, Status: "unhealthy", Err: err}
	if failed {
		de.Description = "an allocation failed"
	}
	de.Digest = c.collectDigest(dctx, ns, jobID, deref(job.JobModifyIndex), &version)
	return de
}
