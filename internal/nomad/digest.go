package nomad

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// digestEvents is how many of a task's last events a digest keeps, and
// digestAllocs how many allocations (newest first).
const (
	digestEvents = 6
	digestAllocs = 5
)

// PlacementFailure is why the scheduler could not place a task group.
type PlacementFailure struct {
	Group string `json:"group"`
	// Reasons are Nomad's metrics in words, like the CLI prints them:
	// "Constraint \"${attr.vault.version}\" filtered 1 nodes",
	// "Dimension \"memory\" exhausted on 1 nodes".
	Reasons []string `json:"reasons"`
	// Unplaced is how many allocations of the group are waiting.
	Unplaced int `json:"unplaced"`
}

// Digest explains why a job is not where it should be: placement failures
// from its evaluations, and per allocation its status, restarts and the
// last task events.
type Digest struct {
	Placement []PlacementFailure `json:"placement,omitempty"`
	Allocs    []AllocDigest      `json:"allocs,omitempty"`
	// OmittedAllocs counts older allocations left out.
	OmittedAllocs int `json:"omitted_allocs,omitempty"`
}

// AllocDigest is one allocation in a digest.
type AllocDigest struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Group        string `json:"group"`
	JobVersion   uint64 `json:"job_version"`
	ClientStatus string `json:"client_status"`
	Description  string `json:"description,omitempty"`
	// Healthy is the deployment health: nil while unknown.
	Healthy *bool        `json:"healthy,omitempty"`
	Tasks   []TaskDigest `json:"tasks,omitempty"`
}

// TaskDigest is one task of an allocation in a digest.
type TaskDigest struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Failed   bool   `json:"failed"`
	Restarts uint64 `json:"restarts"`
	// Events are the task's last events, oldest first.
	Events []Event `json:"events,omitempty"`
}

// Event is one task event.
type Event struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Message string    `json:"message,omitempty"`
	// ExitCode is set on "Terminated" events.
	ExitCode int `json:"exit_code,omitempty"`
}

// Empty reports whether the digest holds nothing.
func (d Digest) Empty() bool { return len(d.Placement) == 0 && len(d.Allocs) == 0 }

// String renders the digest as indented lines for a terminal.
func (d Digest) String() string {
	var b strings.Builder
	for _, p := range d.Placement {
		fmt.Fprintf(&b, "  group %q: %d allocation(s) could not be placed\n", p.Group, p.Unplaced)
		for _, r := range p.Reasons {
			fmt.Fprintf(&b, "    * %s\n", r)
		}
	}
	for _, a := range d.Allocs {
		fmt.Fprintf(&b, "  allocation %s (%s, version %d): %s", shortID(a.ID), a.Name, a.JobVersion, a.ClientStatus)
		if a.Healthy != nil && !*a.Healthy {
			b.WriteString(", unhealthy")
		}
		if a.Description != "" {
			fmt.Fprintf(&b, " (%s)", a.Description)
		}
		b.WriteString("\n")
		for _, t := range a.Tasks {
			fmt.Fprintf(&b, "    task %q: %s", t.Name, t.State)
			if t.Failed {
				b.WriteString(", failed")
			}
			if t.Restarts > 0 {
				fmt.Fprintf(&b, ", %d restarts", t.Restarts)
			}
			b.WriteString("\n")
			for _, e := range t.Events {
				fmt.Fprintf(&b, "      %s  %-18s %s\n", e.Time.UTC().Format(time.RFC3339), e.Type, e.Message)
			}
		}
	}
	if d.OmittedAllocs > 0 {
		fmt.Fprintf(&b, "  (%d older allocation(s) not shown)\n", d.OmittedAllocs)
	}
	return strings.TrimRight(b.String(), "\n")
}

// placementFailures turns an evaluation's (or plan's) FailedTGAllocs into
// words, as `nomad job status` prints them.
func placementFailures(failed map[string]*api.AllocationMetric) []PlacementFailure {
	var out []PlacementFailure
	for group, m := range failed {
		if m == nil {
			continue
		}
		pf := PlacementFailure{Group: group, Unplaced: m.CoalescedFailures + 1}
		if m.NodesEvaluated == 0 {
			if len(m.NodesAvailable) == 0 {
				pf.Reasons = append(pf.Reasons, "No nodes were eligible for evaluation")
			}
			for dc, n := range m.NodesAvailable {
				if n == 0 {
					pf.Reasons = append(pf.Reasons, fmt.Sprintf("No nodes are available in datacenter %q", dc))
				}
			}
		}
		pf.Reasons = append(pf.Reasons, countLines("Class %q filtered %d nodes", m.ClassFiltered)...)
		pf.Reasons = append(pf.Reasons, countLines("Constraint %q filtered %d nodes", m.ConstraintFiltered)...)
		if m.NodesExhausted > 0 {
			pf.Reasons = append(pf.Reasons, fmt.Sprintf("Resources exhausted on %d nodes", m.NodesExhausted))
		}
		pf.Reasons = append(pf.Reasons, countLines("Class %q exhausted on %d nodes", m.ClassExhausted)...)
		pf.Reasons = append(pf.Reasons, countLines("Dimension %q exhausted on %d nodes", m.DimensionExhausted)...)
		for _, q := range m.QuotaExhausted {
			pf.Reasons = append(pf.Reasons, fmt.Sprintf("Quota limit hit %q", q))
		}
		out = append(out, pf)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

func countLines(format string, m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, fmt.Sprintf(format, k, m[k]))
	}
	return out
}

// collectDigest reads a job's evaluations and allocations and builds a
// digest. sinceIndex limits evaluations to those of the job version
// registered at that index or later; version, when non-nil, limits
// allocations to that job version. Read errors leave parts out: a digest
// is an explanation, not a verdict.
func (c *Client) collectDigest(ctx context.Context, ns, jobID string, sinceIndex uint64, version *uint64) Digest {
	var d Digest
	evals, _, err := c.api.Jobs().Evaluations(jobID, c.q(ctx, ns))
	if err != nil {
		c.log.DebugContext(ctx, "nomad digest: list evaluations", attrJob, jobID, "err", err)
	}
	// The newest evaluation of this version that failed to place explains
	// the placement; older ones are superseded.
	sort.Slice(evals, func(i, j int) bool { return evals[i].CreateIndex > evals[j].CreateIndex })
	for _, ev := range evals {
		if ev.JobModifyIndex < sinceIndex || len(ev.FailedTGAllocs) == 0 {
			continue
		}
		d.Placement = placementFailures(ev.FailedTGAllocs)
		break
	}
	stubs, _, err := c.api.Jobs().Allocations(jobID, false, c.q(ctx, ns))
	if err != nil {
		c.log.DebugContext(ctx, "nomad digest: list allocations", attrJob, jobID, "err", err)
	}
	d.Allocs = allocDigests(stubs, version)
	if len(d.Allocs) > digestAllocs {
		d.OmittedAllocs = len(d.Allocs) - digestAllocs
		d.Allocs = d.Allocs[:digestAllocs]
	}
	return d
}

// allocDigests digests the allocations of one job version (all when
// version is nil), newest first.
func allocDigests(stubs []*api.AllocationListStub, version *uint64) []AllocDigest {
	sort.Slice(stubs, func(i, j int) bool { return stubs[i].CreateIndex > stubs[j].CreateIndex })
	var out []AllocDigest
	for _, a := range stubs {
		if version != nil && a.JobVersion != *version {
			continue
		}
		ad := AllocDigest{ID: a.ID, Name: a.Name, Group: a.TaskGroup, JobVersion: a.JobVersion,
			ClientStatus: a.ClientStatus, Description: a.ClientDescription}
		if a.DeploymentStatus != nil {
			ad.Healthy = a.DeploymentStatus.Healthy
		}
		ad.Tasks = taskDigests(a.TaskStates, digestEvents)
		out = append(out, ad)
	}
	return out
}

func taskDigests(states map[string]*api.TaskState, lastN int) []TaskDigest {
	names := make([]string, 0, len(states))
	for n := range states {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]TaskDigest, 0, len(names))
	for _, n := range names {
		ts := states[n]
		if ts == nil {
			continue
		}
		td := TaskDigest{Name: n, State: ts.State, Failed: ts.Failed, Restarts: ts.Restarts}
		evs := ts.Events
		if lastN > 0 && len(evs) > lastN {
			evs = evs[len(evs)-lastN:]
		}
		for _, e := range evs {
			td.Events = append(td.Events, toEvent(e))
		}
		out = append(out, td)
	}
	return out
}

func toEvent(e *api.TaskEvent) Event {
	msg := e.DisplayMessage
	if msg == "" {
		msg = e.Message
	}
	return Event{Time: time.Unix(0, e.Time), Type: e.Type, Message: msg, ExitCode: e.ExitCode}
}
