package nomad

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/exit"
)

// ErrConflict is wrapped by Apply's error when the job changed between the
// plan and the registration (another operator registered it meanwhile).
var ErrConflict = errors.New("job changed since it was planned")

// Parse sends a jobspec and var-file text to Nomad's /v1/jobs/parse and
// returns the canonicalized job. An HCL error is an exit.Usage error whose
// text is Nomad's, with its input.hcl:LINE,COL position.
//
// Nomad checks the parse-job capability in the request's namespace, which is
// "default" here (parseIn can name another, so far only in tests).
func (c *Client) Parse(ctx context.Context, src []byte, varFile string) (*api.Job, error) {
	return c.parseIn(ctx, "", src, varFile)
}

// parseIn is Parse with the request made in namespace ns (for ACLs only: the
// job's namespace is whatever the jobspec says).
func (c *Client) parseIn(ctx context.Context, ns string, src []byte, varFile string) (*api.Job, error) {
	req := &api.JobsParseRequest{JobHCL: string(src), Variables: varFile, Canonicalize: true}
	var job api.Job
	if _, err := c.api.Raw().Write("/v1/jobs/parse", req, &job, c.w(ctx, ns)); err != nil {
		if code := statusCode(err); code >= 400 && code < 500 && code != http.StatusForbidden {
			return nil, exit.UsageError("fix the jobspec or var file at the position shown (tenantctl render writes both)",
				"nomad: parse job: %s", responseBody(err))
		}
		return nil, fmt.Errorf("nomad: parse job: %w", err)
	}
	if deref(job.ID) == "" {
		return nil, fmt.Errorf("nomad: parse job: Nomad returned a job without an ID")
	}
	return &job, nil
}

// ApplyResult is what Apply did.
type ApplyResult struct {
	Namespace string `json:"namespace"`
	JobID     string `json:"job_id"`
	// Changed is true when the job was registered.
	Changed bool `json:"changed"`
	// Plan is the plan Apply decided on.
	Plan PlanResult `json:"plan"`
	// EvalID is the registration's evaluation (empty when unchanged, and
	// for parameterized or periodic jobs, which get none).
	EvalID string `json:"eval_id,omitempty"`
	// JobModifyIndex is the modify index of the job version now current:
	// pass it to WaitDeployment.
	JobModifyIndex uint64 `json:"job_modify_index"`
	// Warnings are Nomad's registration warnings.
	Warnings string `json:"warnings,omitempty"`
}

// Apply plans job and, only when the plan shows a change (in-place updates
// included), registers it with a job submission holding src and varFile, so
// the Nomad UI shows them. The registration enforces the job modify index
// the plan saw; when someone registered the job in between, the error wraps
// ErrConflict. An unchanged job makes no write.
func (c *Client) Apply(ctx context.Context, job *api.Job, src []byte, varFile string) (ApplyResult, error) {
	plan, err := c.Plan(ctx, job)
	if err != nil {
		return ApplyResult{}, err
	}
	res := ApplyResult{Namespace: plan.Namespace, JobID: plan.JobID, Plan: plan, JobModifyIndex: plan.JobModifyIndex}
	if !plan.Changed() {
		c.log.DebugContext(ctx, "nomad job unchanged", attrNamespace, res.Namespace, attrJob, res.JobID)
		return res, nil
	}
	opts := &api.RegisterOptions{
		EnforceIndex: true,
		ModifyIndex:  plan.JobModifyIndex,
		Submission:   &api.JobSubmission{Source: string(src), Format: "hcl2", Variables: varFile},
	}
	resp, _, err := c.api.Jobs().RegisterOpts(job, opts, c.w(ctx, res.Namespace))
	if err != nil {
		if strings.Contains(responseBody(err), "Enforcing job modify index") {
			return res, exit.Wrap(fmt.Errorf("nomad: register job %q in %s: %w (%s)", res.JobID, res.Namespace, ErrConflict, responseBody(err)),
				exit.Failure, "another operator changed the job since the plan; check who (nomad job history), then run the command again")
		}
		return res, fmt.Errorf("nomad: register job %q in %s: %s: %w", res.JobID, res.Namespace, responseBody(err), err)
	}
	res.Changed = true
	res.EvalID = resp.EvalID
	res.JobModifyIndex = resp.JobModifyIndex
	res.Warnings = resp.Warnings
	c.log.InfoContext(ctx, "nomad job registered", attrNamespace, res.Namespace, attrJob, res.JobID,
		"diff", plan.DiffType, attrEval, resp.EvalID, attrIndex, resp.JobModifyIndex)
	return res, nil
}

// Deregister stops a job, or with purge removes it. A job that does not
// exist, or that is already stopped when purge is false, changes nothing.
//
// With purge, the job is stopped first and Deregister waits until the
// allocations that were live have stopped before it purges: a real Nomad
// forgets a purged job's allocations at once while their tasks still run
// through their kill timeout, so purging first would leave a caller nothing
// to wait on and tasks that outlive the job (a database still holding its
// data directory, a service still registered in Consul).
func (c *Client) Deregister(ctx context.Context, ns, jobID string, purge bool) (bool, error) {
	job, _, err := c.api.Jobs().Info(jobID, c.q(ctx, ns))
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("nomad: read job %q in %s: %w", jobID, ns, err)
	}
	if deref(job.Stop) && !purge {
		return false, nil
	}
	if purge {
		if !deref(job.Stop) {
			if _, _, err := c.api.Jobs().Deregister(jobID, false, c.w(ctx, ns)); err != nil && !isNotFound(err) {
				return false, fmt.Errorf("nomad: stop job %q in %s: %w", jobID, ns, err)
			}
		}
		if err := c.waitAllocsTerminal(ctx, ns, jobID); err != nil {
			return true, err
		}
	}
	if _, _, err := c.api.Jobs().Deregister(jobID, purge, c.w(ctx, ns)); err != nil {
		if isNotFound(err) {
			return purge, nil
		}
		return false, fmt.Errorf("nomad: deregister job %q in %s: %w", jobID, ns, err)
	}
	c.log.InfoContext(ctx, "nomad job deregistered", attrNamespace, ns, attrJob, jobID, "purge", purge)
	return true, nil
}

// waitAllocsTerminal waits until no allocation of the job is pending or
// running on its client.
func (c *Client) waitAllocsTerminal(ctx context.Context, ns, jobID string) error {
	err := c.watch(ctx, func(q *api.QueryOptions) (bool, uint64, error) {
		q.Namespace = ns
		stubs, meta, err := c.api.Jobs().Allocations(jobID, false, q)
		if isNotFound(err) {
			return true, 0, nil
		}
		if err != nil {
			return false, 0, err
		}
		for _, a := range stubs {
			if !terminalClient(a.ClientStatus) {
				return false, meta.LastIndex, nil
			}
		}
		return true, meta.LastIndex, nil
	})
	if err != nil {
		return fmt.Errorf("nomad: wait for the allocations of %q in %s to stop: %w", jobID, ns, err)
	}
	return nil
}

// terminalClient reports whether an allocation's client status is final.
func terminalClient(status string) bool {
	switch status {
	case api.AllocClientStatusComplete, api.AllocClientStatusFailed, api.AllocClientStatusLost:
		return true
	}
	return false
}

// JobInfo is one job of a namespace listing.
type JobInfo struct {
	ID            string `json:"id"`
	Namespace     string `json:"namespace"`
	Type          string `json:"type"`
	Status        string `json:"status"`
	Stop          bool   `json:"stop"`
	Parameterized bool   `json:"parameterized"`
	ParentID      string `json:"parent_id"`
	// JobModifyIndex is the index of the job's current spec.
	JobModifyIndex uint64 `json:"job_modify_index"`
	// Meta is the job's meta; for a dispatched job it includes the
	// dispatch meta.
	Meta map[string]string `json:"meta,omitempty"`
	// Complete, Failed and Lost count the job's allocations in those client
	// states, over all its groups (from the job summary).
	Complete int `json:"complete"`
	Failed   int `json:"failed"`
	Lost     int `json:"lost"`
}

// ListJobs lists the jobs of namespace ns whose id starts with prefix,
// sorted by id. Dispatched children are included (ParentID set).
func (c *Client) ListJobs(ctx context.Context, ns, prefix string) ([]JobInfo, error) {
	q := c.q(ctx, ns)
	q.Prefix = prefix
	q.Params = map[string]string{"meta": "true"}
	list, _, err := c.api.Jobs().List(q)
	if err != nil {
		return nil, fmt.Errorf("nomad: list jobs in %s: %w", ns, err)
	}
	out := make([]JobInfo, 0, len(list))
	for _, j := range list {
		if !strings.HasPrefix(j.ID, prefix) {
			continue
		}
		info := JobInfo{
			ID: j.ID, Namespace: j.Namespace, Type: j.Type, Status: j.Status, Stop: j.Stop,
			Parameterized: j.ParameterizedJob, ParentID: j.ParentID, JobModifyIndex: j.JobModifyIndex,
			Meta: j.Meta,
		}
		if j.JobSummary != nil {
			for _, g := range j.JobSummary.Summary {
				info.Complete += g.Complete
				info.Failed += g.Failed
				info.Lost += g.Lost
			}
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// shortID is the first eight characters of an id, as Nomad's CLI shows it.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
