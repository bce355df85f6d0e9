package nomad

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"

	"github.com/hashicorp/nomad/api"
)

// logTailBytes is how much of the end of each log stream a failed
// dispatched job's result carries.
const logTailBytes = 4096

// Dispatch dispatches the parameterized job jobID with meta and returns the
// child job's id. idempotencyToken (for example one per spec version and
// migration set) makes a repeat return the same child: Dispatch first looks
// for a child dispatched with that token and, when there is one, returns it
// without writing; otherwise Nomad itself honours the token.
func (c *Client) Dispatch(ctx context.Context, ns, jobID string, meta map[string]string, idempotencyToken string) (string, error) {
	if idempotencyToken != "" {
		id, err := c.findDispatched(ctx, ns, jobID, idempotencyToken)
		if err != nil {
			return "", err
		}
		if id != "" {
			c.log.DebugContext(ctx, "nomad dispatch: token already used", attrNamespace, ns, attrJob, jobID, "child", id)
			return id, nil
		}
	}
	w := c.w(ctx, ns)
	w.IdempotencyToken = idempotencyToken
	resp, _, err := c.api.Jobs().DispatchOpts(&api.DispatchOptions{JobID: jobID, Meta: meta}, w)
	if err != nil {
		return "", fmt.Errorf("nomad: dispatch job %q in %s: %s: %w", jobID, ns, responseBody(err), err)
	}
	c.log.InfoContext(ctx, "nomad job dispatched", attrNamespace, ns, attrJob, jobID, "child", resp.DispatchedJobID, attrEval, resp.EvalID)
	return resp.DispatchedJobID, nil
}

// findDispatched returns the child of parent dispatched with token, or "".
func (c *Client) findDispatched(ctx context.Context, ns, parent, token string) (string, error) {
	q := c.q(ctx, ns)
	q.Prefix = parent + api.JobDispatchLaunchSuffix
	list, _, err := c.api.Jobs().List(q)
	if err != nil {
		return "", fmt.Errorf("nomad: list dispatched jobs of %q in %s: %w", parent, ns, err)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].CreateIndex > list[j].CreateIndex })
	for _, s := range list {
		if s.ParentID != parent {
			continue
		}
		j, _, err := c.api.Jobs().Info(s.ID, c.q(ctx, ns))
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("nomad: read dispatched job %q in %s: %w", s.ID, ns, err)
		}
		if deref(j.DispatchIdempotencyToken) == token {
			return s.ID, nil
		}
	}
	return "", nil
}

// DispatchResult is how a dispatched job ended.
type DispatchResult struct {
	Namespace string `json:"namespace"`
	JobID     string `json:"job_id"`
	// Status is the child job's final status ("dead" when it ended).
	Status string `json:"status"`
	// Succeeded is true when its last allocation completed.
	Succeeded bool `json:"succeeded"`
	// AllocID is the last allocation.
	AllocID string `json:"alloc_id"`
	// Task is the task that failed (or the first main task).
	Task string `json:"task"`
	// ExitCode is Task's exit code from its last "Terminated" event; -1
	// when it never terminated with one (for example a driver failure).
	ExitCode int `json:"exit_code"`
	// Events are Task's events, oldest first.
	Events []Event `json:"events,omitempty"`
	// Stderr and Stdout are the last few KiB of Task's logs, read only on
	// failure; LogError says why they are missing, if they are.
	Stderr   string `json:"stderr,omitempty"`
	Stdout   string `json:"stdout,omitempty"`
	LogError string `json:"log_error,omitempty"`
	// Digest covers every allocation (and placement failures) on failure.
	Digest Digest `json:"digest,omitempty"`
}

// DispatchError is a dispatched job that failed, or did not finish before
// the context ended. Result holds the exit code, events and log tail.
type DispatchError struct {
	Result DispatchResult
	// Err is the context's error at a deadline, nil otherwise.
	Err error
}

func (e *DispatchError) Error() string {
	r := e.Result
	var b strings.Builder
	if e.Err != nil {
		fmt.Fprintf(&b, "nomad: dispatched job %q in %s did not finish before the deadline (status %s)", r.JobID, r.Namespace, r.Status)
	} else {
		fmt.Fprintf(&b, "nomad: dispatched job %q in %s failed", r.JobID, r.Namespace)
		if r.Task != "" {
			fmt.Fprintf(&b, ": task %q exited with code %d", r.Task, r.ExitCode)
		}
	}
	for _, ev := range r.Events {
		if ev.Type == api.TaskDriverFailure || ev.Type == api.TaskSetupFailure || ev.Type == api.TaskArtifactDownloadFailed {
			fmt.Fprintf(&b, "\n  %s: %s", ev.Type, ev.Message)
		}
	}
	for _, l := range []struct{ name, text string }{{"stderr", r.Stderr}, {"stdout", r.Stdout}} {
		if t := strings.TrimRight(l.text, "\n"); t != "" {
			fmt.Fprintf(&b, "\n  --- %s (end) ---\n  %s", l.name, strings.ReplaceAll(t, "\n", "\n  "))
		}
	}
	if e.Err != nil && !r.Digest.Empty() {
		b.WriteString("\n" + r.Digest.String())
	}
	return b.String()
}

// Unwrap returns the context error of a deadline.
func (e *DispatchError) Unwrap() error { return e.Err }

// WaitDispatched waits until the dispatched job childID is dead (Nomad
// marks it so once its allocations, restarts and reschedules are all
// done). On success it returns the result and nil; on failure, or when ctx
// ends first, the result and a *DispatchError carrying the same result: the
// exit code, the task events and the tail of the task's stderr and stdout.
func (c *Client) WaitDispatched(ctx context.Context, ns, childID string) (DispatchResult, error) {
	res := DispatchResult{Namespace: ns, JobID: childID, ExitCode: -1}
	err := c.watch(ctx, func(q *api.QueryOptions) (bool, uint64, error) {
		q.Namespace = ns
		j, meta, err := c.api.Jobs().Info(childID, q)
		if err != nil {
			return false, 0, err
		}
		res.Status = deref(j.Status)
		return res.Status == "dead", meta.LastIndex, nil
	})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return res, fmt.Errorf("nomad: wait for dispatched job %q in %s: %w", childID, ns, err)
	}
	rctx, cancel := digestContext(ctx)
	defer cancel()
	stubs, _, lerr := c.api.Jobs().Allocations(childID, true, c.q(rctx, ns))
	if lerr != nil {
		return res, fmt.Errorf("nomad: list allocations of %q in %s: %w", childID, ns, lerr)
	}
	sort.Slice(stubs, func(i, j int) bool { return stubs[i].CreateIndex > stubs[j].CreateIndex })
	if len(stubs) > 0 {
		last := stubs[0]
		res.AllocID = last.ID
		res.Succeeded = err == nil && last.ClientStatus == api.AllocClientStatusComplete
		res.Task = failedTask(last.TaskStates)
		if ts := last.TaskStates[res.Task]; ts != nil {
			for _, e := range ts.Events {
				ev := toEvent(e)
				res.Events = append(res.Events, ev)
				if e.Type == api.TaskTerminated {
					res.ExitCode = e.ExitCode
				}
			}
		}
	}
	if res.Succeeded {
		c.log.DebugContext(ctx, "nomad dispatched job complete", attrNamespace, ns, attrJob, childID)
		return res, nil
	}
	if res.AllocID != "" && res.Task != "" {
		res.Stderr, res.Stdout, res.LogError = c.logTail(rctx, ns, res.AllocID, res.Task)
	}
	res.Digest = c.collectDigest(rctx, ns, childID, 0, nil)
	return res, &DispatchError{Result: res, Err: err}
}

// failedTask picks the task a failure is about: a failed task (a main task
// before a prestart one), else the first task that is not a sidecar to the
// failure, by name.
func failedTask(states map[string]*api.TaskState) string {
	names := make([]string, 0, len(states))
	for n := range states {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if states[n] != nil && states[n].Failed {
			return n
		}
	}
	for _, n := range names {
		if states[n] != nil && !siblingKilled(states[n]) {
			return n
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return ""
}

func siblingKilled(ts *api.TaskState) bool {
	for _, e := range ts.Events {
		if e.Type == api.TaskSiblingFailed {
			return true
		}
	}
	return false
}

// logTail reads the last logTailBytes of a task's stderr and stdout through
// /v1/client/fs/logs (plain text, origin=end).
func (c *Client) logTail(ctx context.Context, ns, allocID, task string) (stderr, stdout, problem string) {
	var problems []string
	read := func(kind string) string {
		v := url.Values{}
		v.Set("task", task)
		v.Set("type", kind)
		v.Set("origin", "end")
		v.Set("offset", fmt.Sprint(logTailBytes))
		v.Set("plain", "true")
		v.Set("follow", "false")
		body, err := c.api.Raw().Response("/v1/client/fs/logs/"+url.PathEscape(allocID)+"?"+v.Encode(), c.q(ctx, ns))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", kind, err))
			return ""
		}
		defer body.Close()
		data, err := io.ReadAll(io.LimitReader(body, 2*logTailBytes))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", kind, err))
		}
		return trimPartialLine(string(data))
	}
	stderr, stdout = read("stderr"), read("stdout")
	return stderr, stdout, strings.Join(problems, "; ")
}

// trimPartialLine drops a cut-off first line from a full-size tail.
func trimPartialLine(s string) string {
	if len(s) < logTailBytes {
		return s
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
		return s[i+1:]
	}
	return s
}
