package nomad

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/hashicorp/nomad/api"
)

// ScaleToZero sets every group of a running job to count 0 and waits until
// its allocations have stopped. The job stays registered with its
// definition (unlike Deregister), so registering its jobspec again brings
// it back at its own counts. reason is the scaling event's message. A job
// that does not exist, or whose groups are all at 0, changes nothing.
func (c *Client) ScaleToZero(ctx context.Context, ns, jobID, reason string) (bool, error) {
	job, _, err := c.api.Jobs().Info(jobID, c.q(ctx, ns))
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("nomad: read job %q in %s: %w", jobID, ns, err)
	}
	changed := false
	for _, tg := range job.TaskGroups {
		if deref(tg.Count) == 0 {
			continue
		}
		if _, err := c.scaleFor(ctx, ns, jobID, deref(tg.Name), 0, reason); err != nil {
			return changed, err
		}
		changed = true
	}
	if err := c.waitAllocsTerminal(ctx, ns, jobID); err != nil {
		return changed, err
	}
	if changed {
		c.log.InfoContext(ctx, "nomad job scaled to zero", attrNamespace, ns, attrJob, jobID)
	}
	return changed, nil
}

// outputBytes is how much of the end of a task's stdout TaskOutput reads.
const outputBytes = 16 << 10

// TaskOutput returns the last 16 KiB of a task's stdout (whole lines),
// through /v1/client/fs/logs: what a batch job's runner printed as its
// result.
func (c *Client) TaskOutput(ctx context.Context, ns, allocID, task string) (string, error) {
	v := url.Values{}
	v.Set("task", task)
	v.Set("type", "stdout")
	v.Set("origin", "end")
	v.Set("offset", fmt.Sprint(outputBytes))
	v.Set("plain", "true")
	v.Set("follow", "false")
	body, err := c.api.Raw().Response("/v1/client/fs/logs/"+url.PathEscape(allocID)+"?"+v.Encode(), c.q(ctx, ns))
	if err != nil {
		return "", fmt.Errorf("nomad: read the stdout of task %q of allocation %s in %s: %w", task, shortID(allocID), ns, err)
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, 2*outputBytes))
	if err != nil {
		return "", fmt.Errorf("nomad: read the stdout of task %q of allocation %s in %s: %w", task, shortID(allocID), ns, err)
	}
	s := string(data)
	if len(s) >= outputBytes {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return s, nil
}

// PeriodicChildren lists the runs of periodic job jobID ("<id>/periodic-…"),
// sorted by id (their launch time).
func (c *Client) PeriodicChildren(ctx context.Context, ns, jobID string) ([]JobInfo, error) {
	all, err := c.ListJobs(ctx, ns, jobID+api.JobPeriodicLaunchSuffix)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, j := range all {
		if j.ParentID == jobID {
			out = append(out, j)
		}
	}
	return out, nil
}

// LastAllocation returns the newest allocation of job jobID and the name of
// its first task, "" when it has none.
func (c *Client) LastAllocation(ctx context.Context, ns, jobID string) (allocID, task string, err error) {
	stubs, _, err := c.api.Jobs().Allocations(jobID, true, c.q(ctx, ns))
	if isNotFound(err) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("nomad: list allocations of %q in %s: %w", jobID, ns, err)
	}
	var newest *api.AllocationListStub
	for _, s := range stubs {
		if newest == nil || s.CreateIndex > newest.CreateIndex {
			newest = s
		}
	}
	if newest == nil {
		return "", "", nil
	}
	for name := range newest.TaskStates {
		if task == "" || name < task {
			task = name
		}
	}
	return newest.ID, task, nil
}
