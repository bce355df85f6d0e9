package nomad

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/nomad/api"
)

// DiffNone is the diff type of a plan that changes nothing. The others, as
// Nomad names them, are "Added", "Edited" and "Deleted".
const DiffNone = "None"

// PlanResult summarises Nomad's server-side plan of a job.
type PlanResult struct {
	Namespace string `json:"namespace"`
	JobID     string `json:"job_id"`
	// DiffType is the job diff's type: DiffNone, "Added", "Edited" or
	// "Deleted".
	DiffType string `json:"diff_type"`
	// JobModifyIndex is the job's current modify index (0 when it does not
	// exist); Apply registers with EnforceIndex at this index.
	JobModifyIndex uint64 `json:"job_modify_index"`
	// Groups are the per-group updates, sorted by name.
	Groups []GroupPlan `json:"groups"`
	// PlacementFailures are the groups the scheduler could not place in
	// the plan.
	PlacementFailures []PlacementFailure `json:"placement_failures,omitempty"`
	// Warnings are Nomad's warnings about the job.
	Warnings string `json:"warnings,omitempty"`
	// Diff is Nomad's full diff, for display.
	Diff *api.JobDiff `json:"diff,omitempty"`
}

// GroupPlan is what registering the job would do to one task group's
// allocations.
type GroupPlan struct {
	Name     string `json:"name"`
	DiffType string `json:"diff_type"`
	// Place is how many new allocations would be created.
	Place uint64 `json:"place"`
	// InPlace is how many would be updated in place (no restart).
	InPlace uint64 `json:"in_place"`
	// Destructive is how many would be replaced (create/destroy update).
	Destructive uint64 `json:"destructive"`
	Stop        uint64 `json:"stop"`
	Ignore      uint64 `json:"ignore"`
	Migrate     uint64 `json:"migrate"`
	Canary      uint64 `json:"canary"`
}

// Changed reports whether registering the job would change it: any diff,
// in-place updates included. Apply registers only then.
func (p PlanResult) Changed() bool { return p.DiffType != DiffNone }

// Totals adds up the allocation counts of every group: what registering the
// job would place, update in place, replace, stop and so on. Its Name and
// DiffType are empty.
func (p PlanResult) Totals() GroupPlan {
	var t GroupPlan
	for _, g := range p.Groups {
		t.Place += g.Place
		t.InPlace += g.InPlace
		t.Destructive += g.Destructive
		t.Stop += g.Stop
		t.Ignore += g.Ignore
		t.Migrate += g.Migrate
		t.Canary += g.Canary
	}
	return t
}

// Plan asks Nomad what registering job would do, with a diff. It writes
// nothing.
func (c *Client) Plan(ctx context.Context, job *api.Job) (PlanResult, error) {
	ns, id := jobNamespace(job), deref(job.ID)
	resp, _, err := c.api.Jobs().PlanOpts(job, &api.PlanOptions{Diff: true}, c.w(ctx, ns))
	if err != nil && strings.Contains(err.Error(), "nonexistent namespace") {
		// Nomad refuses to plan in a namespace that does not exist yet
		// (HTTP 500); registering there after creating it adds the job
		// with every allocation placed.
		return addedPlan(ns, id, job), nil
	}
	if err != nil {
		return PlanResult{}, fmt.Errorf("nomad: plan job %q in %s: %s: %w", id, ns, responseBody(err), err)
	}
	return summarisePlan(ns, id, resp), nil
}

// addedPlan is the plan of a job that does not exist, in a namespace that
// does not either: every group added, its count placed.
func addedPlan(ns, id string, job *api.Job) PlanResult {
	p := PlanResult{Namespace: ns, JobID: id, DiffType: "Added"}
	for _, tg := range job.TaskGroups {
		g := GroupPlan{Name: deref(tg.Name), DiffType: "Added"}
		if tg.Count != nil && *tg.Count > 0 {
			g.Place = uint64(*tg.Count)
		}
		p.Groups = append(p.Groups, g)
	}
	sort.Slice(p.Groups, func(i, j int) bool { return p.Groups[i].Name < p.Groups[j].Name })
	return p
}

func summarisePlan(ns, id string, resp *api.JobPlanResponse) PlanResult {
	p := PlanResult{Namespace: ns, JobID: id, DiffType: DiffNone, JobModifyIndex: resp.JobModifyIndex,
		Warnings: resp.Warnings, Diff: resp.Diff}
	if resp.Diff != nil && resp.Diff.Type != "" {
		p.DiffType = resp.Diff.Type
	}
	groupDiff := map[string]string{}
	if resp.Diff != nil {
		for _, g := range resp.Diff.TaskGroups {
			groupDiff[g.Name] = g.Type
		}
	}
	if resp.Annotations != nil {
		for name, u := range resp.Annotations.DesiredTGUpdates {
			if u == nil {
				continue
			}
			p.Groups = append(p.Groups, GroupPlan{
				Name: name, DiffType: groupDiff[name], Place: u.Place, InPlace: u.InPlaceUpdate,
				Destructive: u.DestructiveUpdate, Stop: u.Stop, Ignore: u.Ignore, Migrate: u.Migrate, Canary: u.Canary,
			})
		}
	}
	for name, typ := range groupDiff {
		if !hasGroup(p.Groups, name) {
			p.Groups = append(p.Groups, GroupPlan{Name: name, DiffType: typ})
		}
	}
	sort.Slice(p.Groups, func(i, j int) bool { return p.Groups[i].Name < p.Groups[j].Name })
	p.PlacementFailures = placementFailures(resp.FailedTGAllocs)
	return p
}

func hasGroup(gs []GroupPlan, name string) bool {
	for _, g := range gs {
		if g.Name == name {
			return true
		}
	}
	return false
}

// jobNamespace is the job's namespace, "default" when unset.
func jobNamespace(job *api.Job) string {
	if ns := deref(job.Namespace); ns != "" {
		return ns
	}
	return api.DefaultNamespace
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
