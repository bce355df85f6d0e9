package nomad

import (
	"context"

	"fmt"
	"time"

	"github.com/hashicorp/nomad/api"
)

// ReplaceAllocations replaces every running allocation of the job's groups
// with a new one, create-before-destroy, so a group never has fewer than its
// count running (a one-instance app keeps serving): it scales the group up by
// one and waits until the extra allocation runs, its deployment is healthy
// and ready (when not nil) accepts it; then it stops each old allocation in
// turn, Nomad placing a replacement under the same name, and waits for the
// replacement the same way; finally it scales the group back to its count,
// and Nomad stops the allocation with the highest name index, the extra one.
// The job then equals its source again (a plan is None). A new allocation
// starts its tasks from scratch, so its templates render fresh credentials
// with the task's workload identity. It returns how many old allocations it
// replaced. When it fails after scaling up it scales back down before it
// returns (an `up` would also converge the count).
//
// ready is the caller's notion of serving (Consul knows it): it is called
// with each new allocation's id and returns nil once that allocation passes.
func (c *Client) ReplaceAllocations(ctx context.Context, ns, jobID string, ready func(ctx context.Context, allocID string) error) (Replacement, error) {
	job, _, err := c.api.Jobs().Info(jobID, c.q(ctx, ns))
	if err != nil {
		return Replacement{}, fmt.Errorf("nomad: read job %q in %s: %w", jobID, ns, err)
	}
	res := Replacement{Before: deref(job.JobModifyIndex)}
	var scales scaleCount
	for _, tg := range job.TaskGroups {
		n, err := c.replaceGroup(ctx, ns, jobID, *tg.Name, *tg.Count, ready, &scales)
		res.Replaced += n
		if err != nil {
			return res, err
		}
	}
	now, _, err := c.api.Jobs().Info(jobID, c.q(ctx, ns))
	if err != nil {
		return res, fmt.Errorf("nomad: read job %q in %s: %w", jobID, ns, err)
	}
	res.After = deref(now.JobModifyIndex)
	// Each scale is one new version. Any other version in between is
	// someone else's change.
	res.Alone = deref(now.Version) == deref(job.Version)+scales.n &&
		(scales.n == 0 && res.After == res.Before || scales.n > 0 && res.After == scales.last)
	return res, nil
}

// Replacement is what ReplaceAllocations did to a job.
type Replacement struct {
	// Replaced counts the old allocations replaced.
	Replaced int
	// Before and After are the job's modify index before the first scale
	// and after the last.
	Before, After uint64
	// Alone is true when every version of the job between Before and After
	// was one of ReplaceAllocations' own scales: nobody changed the job
	// meanwhile, so at After it holds the spec it held at Before (the
	// counts are back where they were). A caller that knew the job as
	// converged at Before may then know it so at After.
	Alone bool
}

// scaleCount counts the scales of one ReplaceAllocations and keeps the job
// modify index the last one returned.
type scaleCount struct {
	n    uint64
	last uint64
}

func (s *scaleCount) note(idx uint64) {
	s.n++
	s.last = idx
}

func (c *Client) replaceGroup(ctx context.Context, ns, jobID, group string, count int, ready func(context.Context, string) error, scales *scaleCount) (replaced int, err error) {
	allocs, _, err := c.Allocations(ctx, ns, jobID)
	if err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	var old []Alloc
	for _, a := range allocs {
		seen[a.ID] = true
		if a.Group == group && a.DesiredStatus == api.AllocDesiredStatusRun && a.ClientStatus == api.AllocClientStatusRunning {
			old = append(old, a)
		}
	}
	if len(old) == 0 || count == 0 {
		return 0, nil
	}

	// One extra instance first.
	idx, err := c.scale(ctx, ns, jobID, group, count+1)
	if err != nil {
		return 0, err
	}
	scales.note(idx)
	defer func() {
		if err == nil {
			return
		}
		// Leave the job as its source says; the caller's error stands.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, serr := c.scale(sctx, ns, jobID, group, count); serr != nil {
			c.log.WarnContext(ctx, "nomad: could not scale back after a failed replacement; `up` restores the count",
				attrNamespace, ns, attrJob, jobID, "err", serr.Error())
		}
	}()
	if err := c.awaitNew(ctx, ns, jobID, group, idx, seen, ready); err != nil {
		return 0, fmt.Errorf("nomad: wait for the extra allocation of %q: %w", jobID, err)
	}

	for _, a := range old {
		if _, err := c.api.Allocations().Stop(&api.Allocation{ID: a.ID}, c.q(ctx, ns)); err != nil {
			return replaced, fmt.Errorf("nomad: stop allocation %s of %q: %s: %w", shortID(a.ID), jobID, responseBody(err), err)
		}
		replaced++
		if err := c.awaitNew(ctx, ns, jobID, group, 0, seen, ready); err != nil {
			return replaced, fmt.Errorf("nomad: wait for the replacement of allocation %s of %q: %w", shortID(a.ID), jobID, err)
		}
	}

	// Back to the source's count: Nomad stops the highest name index.
	back, err := c.scale(ctx, ns, jobID, group, count)
	if err != nil {
		return replaced, err
	}
	scales.note(back)
	err = c.watch(ctx, func(q *api.QueryOptions) (bool, uint64, error) {
		list, idx, err := c.allocations(ctx, ns, jobID, q)
		if err != nil {
			return false, 0, err
		}
		running := 0
		for _, o := range list {
			if o.Group == group && o.DesiredStatus == api.AllocDesiredStatusRun {
				running++
			}
		}
		return running <= count, idx, nil
	})
	if err != nil {
		return replaced, fmt.Errorf("nomad: wait for %q to scale back to %d: %w", jobID, count, err)
	}
	return replaced, nil
}

// scale sets the group's count (a new job version) and returns its
// JobModifyIndex.
func (c *Client) scale(ctx context.Context, ns, jobID, group string, count int) (uint64, error) {
	return c.scaleFor(ctx, ns, jobID, group, count, "tenantctl rotate: replace allocations")
}

// scaleFor sets the group's count with reason as the scaling event's
// message and returns the new JobModifyIndex. It first waits for an active
// deployment of the job to end: Nomad refuses to scale a job during one
// ("job scaling blocked due to active deployment"), and `up` returns while
// its deployment is still running for a second or two (allHealthy).
func (c *Client) scaleFor(ctx context.Context, ns, jobID, group string, count int, reason string) (uint64, error) {
	if err := c.awaitDeploymentEnd(ctx, ns, jobID); err != nil {
		return 0, err
	}
	resp, _, err := c.api.Jobs().Scale(jobID, group, &count, reason, false, nil,
		(&api.WriteOptions{Namespace: ns, Region: c.region}).WithContext(ctx))
	if err != nil {
		return 0, fmt.Errorf("nomad: scale %q group %s to %d: %s: %w", jobID, group, count, responseBody(err), err)
	}
	return resp.JobModifyIndex, nil
}

// awaitNew waits for an allocation of group that seen does not hold to run,
// for the deployment of the version registered at sinceIndex (when not 0)
// to succeed, and for ready to accept the allocation; it adds the new
// allocation to seen.
func (c *Client) awaitNew(ctx context.Context, ns, jobID, group string, sinceIndex uint64, seen map[string]bool, ready func(context.Context, string) error) error {
	var fresh string
	err := c.watch(ctx, func(q *api.QueryOptions) (bool, uint64, error) {
		list, idx, err := c.allocations(ctx, ns, jobID, q)
		if err != nil {
			return false, 0, err
		}
		for _, o := range list {
			if o.Group == group && !seen[o.ID] && o.DesiredStatus == api.AllocDesiredStatusRun {
				if o.ClientStatus == api.AllocClientStatusFailed {
					return false, 0, fmt.Errorf("allocation %s failed", shortID(o.ID))
				}
				if o.ClientStatus == api.AllocClientStatusRunning {
					fresh = o.ID
					return true, idx, nil
				}
			}
		}
		return false, idx, nil
	})
	if err != nil {
		return err
	}
	seen[fresh] = true
	if sinceIndex > 0 {
		if err := c.WaitDeployment(ctx, ns, jobID, sinceIndex); err != nil {
			return err
		}
	}
	if ready != nil {
		if err := ready(ctx, fresh); err != nil {
			return fmt.Errorf("allocation %s: %w", shortID(fresh), err)
		}
	}
	return nil
}

// awaitDeploymentEnd waits until the job's latest deployment is no longer
// active (Nomad's Deployment.Active: running, paused, pending, blocked,
// initializing, unblocking), whatever its outcome. A deployment of an
// earlier job of the same id (purged and registered again) does not count,
// as on Nomad.
func (c *Client) awaitDeploymentEnd(ctx context.Context, ns, jobID string) error {
	job, _, err := c.api.Jobs().Info(jobID, c.q(ctx, ns))
	if err != nil {
		return fmt.Errorf("nomad: read job %q in %s: %w", jobID, ns, err)
	}
	var last *api.Deployment
	logged := false
	err = c.watch(ctx, func(q *api.QueryOptions) (bool, uint64, error) {
		q.Namespace = ns
		d, meta, err := c.api.Jobs().LatestDeployment(jobID, q)
		if err != nil {
			return false, 0, err
		}
		last = d
		if d == nil || d.JobCreateIndex != deref(job.CreateIndex) || !deploymentActive(d.Status) {
			return true, meta.LastIndex, nil
		}
		if !logged {
			logged = true
			c.log.DebugContext(ctx, "waiting for the job's deployment to end before scaling",
				attrNamespace, ns, attrJob, jobID, "deployment", shortID(d.ID), "status", d.Status)
		}
		return false, meta.LastIndex, nil
	})
	if err != nil && last != nil {
		return fmt.Errorf("nomad: deployment %s of %q in %s is still %s, and Nomad does not scale a job during a deployment: %w",
			shortID(last.ID), jobID, ns, last.Status, err)
	}
	return err
}

// deploymentActive is Nomad's Deployment.Active.
func deploymentActive(status string) bool {
	switch status {
	case api.DeploymentStatusRunning, api.DeploymentStatusPaused, api.DeploymentStatusPending,
		api.DeploymentStatusBlocked, api.DeploymentStatusUnblocking, "initializing":
		return true
	}
	return false
}
