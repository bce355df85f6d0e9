package nomad

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Describe says in one line what a job is doing now, for the progress
// reports of a wait that is taking long: its latest deployment's health
// counts, why the scheduler cannot place it, and its newest allocation with
// the last event of its tasks, e.g.
//
//	deployment running: 0/1 healthy; allocation 1a2b3c4d running, task "app": Template "Missing: vault.read(database/creds/acme-app)"
//
// Read errors leave parts out: it explains, it does not decide.
func (c *Client) Describe(ctx context.Context, ns, jobID string) string {
	ctx, cancel := digestContext(ctx)
	defer cancel()
	var parts []string
	if dep, _, err := c.api.Jobs().LatestDeployment(jobID, c.q(ctx, ns)); err == nil && dep != nil {
		healthy, desired := 0, 0
		for _, g := range dep.TaskGroups {
			healthy += g.HealthyAllocs
			desired += g.DesiredTotal
		}
		parts = append(parts, fmt.Sprintf("deployment %s: %d/%d healthy", dep.Status, healthy, desired))
	}
	d := c.collectDigest(ctx, ns, jobID, 0, nil)
	for _, p := range d.Placement {
		parts = append(parts, fmt.Sprintf("group %q cannot be placed (%s)", p.Group, strings.Join(p.Reasons, "; ")))
	}
	if len(d.Allocs) == 0 {
		if len(d.Placement) == 0 {
			parts = append(parts, "no allocation yet")
		}
		return strings.Join(parts, "; ")
	}
	parts = append(parts, describeAlloc(d.Allocs[0]))
	return strings.Join(parts, "; ")
}

// describeAlloc is one allocation in words: its status and, for the task
// whose last event is the newest, that event.
func describeAlloc(a AllocDigest) string {
	s := fmt.Sprintf("allocation %s %s", shortID(a.ID), a.ClientStatus)
	if a.Healthy != nil && !*a.Healthy {
		s += " (unhealthy)"
	}
	tasks := append([]TaskDigest(nil), a.Tasks...)
	sort.SliceStable(tasks, func(i, j int) bool { return lastEvent(tasks[i]).Time.After(lastEvent(tasks[j]).Time) })
	for _, t := range tasks {
		if len(t.Events) == 0 {
			continue
		}
		e := lastEvent(t)
		s += fmt.Sprintf(", task %q %s: %s", t.Name, t.State, e.Type)
		if e.Message != "" {
			s += fmt.Sprintf(" %q", e.Message)
		}
		if t.Restarts > 0 {
			s += fmt.Sprintf(" (%d restarts)", t.Restarts)
		}
		break
	}
	return s
}

func lastEvent(t TaskDigest) Event {
	if len(t.Events) == 0 {
		return Event{}
	}
	return t.Events[len(t.Events)-1]
}
