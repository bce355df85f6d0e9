package contract

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// planEdit is one change to the running job of the PlanUpdateKinds case and how Nomad plans it.
type planEdit struct {
	name string
	edit func(j *api.Job)
	// updates is the group's Updates of the plan diff ("in-place update", "create/destroy update",
	// "create", "destroy", "ignore" → count); diff the job diff's type.
	updates map[string]uint64
	diff    string
}

var planEdits = []planEdit{
	{"nothing", func(j *api.Job) {}, map[string]uint64{"ignore": 1}, "None"},
	{"task env", func(j *api.Job) { task(j).Env["GREETING"] = "changed" }, map[string]uint64{"create/destroy update": 1}, "Edited"},
	{"task config", func(j *api.Job) { task(j).Config["args"] = []any{"-c", "sleep 3601"} }, map[string]uint64{"create/destroy update": 1}, "Edited"},
	{"task resources", func(j *api.Job) { task(j).Resources.MemoryMB = ptr(48) }, map[string]uint64{"create/destroy update": 1}, "Edited"},
	{"task meta", func(j *api.Job) { task(j).Meta = map[string]string{"x": "1"} }, map[string]uint64{"create/destroy update": 1}, "Edited"},
	{"job meta", func(j *api.Job) { j.Meta["purpose"] = "changed" }, map[string]uint64{"create/destroy update": 1}, "Edited"},
	{"group meta", func(j *api.Job) { j.TaskGroups[0].Meta = map[string]string{"x": "1"} }, map[string]uint64{"create/destroy update": 1}, "Edited"},
	{"service tags", func(j *api.Job) { j.TaskGroups[0].Services[0].Tags = []string{"v2"} }, map[string]uint64{"in-place update": 1}, "Edited"},
	{"update strategy", func(j *api.Job) { j.TaskGroups[0].Update.MinHealthyTime = ptr(2 * time.Second) }, map[string]uint64{"in-place update": 1}, "Edited"},
	{"restart policy", func(j *api.Job) { j.TaskGroups[0].RestartPolicy.Attempts = ptr(5) }, map[string]uint64{"in-place update": 1}, "Edited"},
	{"kill timeout", func(j *api.Job) { task(j).KillTimeout = ptr(9 * time.Second) }, map[string]uint64{"in-place update": 1}, "Edited"},
	{"shutdown delay", func(j *api.Job) { j.TaskGroups[0].ShutdownDelay = ptr(3 * time.Second) }, map[string]uint64{"in-place update": 1}, "Edited"},
	{"job priority", func(j *api.Job) { j.Priority = ptr(60) }, map[string]uint64{"in-place update": 1}, "Edited"},
	{"count up", func(j *api.Job) { j.TaskGroups[0].Count = ptr(2) }, map[string]uint64{"create": 1, "in-place update": 1}, "Edited"},
	{"count down", func(j *api.Job) { j.TaskGroups[0].Count = ptr(0) }, map[string]uint64{"destroy": 1}, "Edited"},
	{"constraint", func(j *api.Job) {
		j.Constraints = append(j.Constraints, &api.Constraint{LTarget: "${attr.kernel.name}", RTarget: "linux", Operand: "="})
	}, map[string]uint64{"in-place update": 1}, "Edited"},
	{"network port", func(j *api.Job) {
		j.TaskGroups[0].Networks[0].DynamicPorts = append(j.TaskGroups[0].Networks[0].DynamicPorts, api.Port{Label: "admin"})
	}, map[string]uint64{"create/destroy update": 1}, "Edited"},
	{"new group", func(j *api.Job) {
		g := *j.TaskGroups[0]
		g.Name = ptr("other")
		g.Services = nil
		j.TaskGroups = append(j.TaskGroups, &g)
	}, map[string]uint64{"in-place update": 1}, "Edited"},
}

func task(j *api.Job) *api.Task { return j.TaskGroups[0].Tasks[0] }

// testPlanUpdateKinds registers a job, waits for its deployment, then plans a series of single changes
// and compares how each would update the running allocation.
func testPlanUpdateKinds(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, nil)
	register(t, c, ns, serviceHCL(ns, "kinds"), "")
	waitDeployment(t, c, ns, "kinds", api.DeploymentStatusSuccessful)
	current, _, err := c.Jobs().Info("kinds", &api.QueryOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range planEdits {
		t.Run(e.name, func(t *testing.T) {
			job := parse(t, c, serviceHCL(ns, "kinds"), "")
			e.edit(job)
			plan, _, err := c.Jobs().Plan(job, true, &api.WriteOptions{Namespace: ns})
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			if plan.Diff.Type != e.diff {
				t.Errorf("got diff %s; want %s", plan.Diff.Type, e.diff)
			}
			for _, g := range plan.Diff.TaskGroups {
				if g.Name != "app" {
					continue
				}
				if !maps.Equal(g.Updates, e.updates) {
					t.Errorf("got updates %s; want %s", fmtUpdates(g.Updates), fmtUpdates(e.updates))
				}
			}
			du := plan.Annotations.DesiredTGUpdates["app"]
			if du == nil {
				t.Fatalf("got no desired updates for group app")
			}
			got := map[string]uint64{"ignore": du.Ignore, "create": du.Place, "destroy": du.Stop,
				"in-place update": du.InPlaceUpdate, "create/destroy update": du.DestructiveUpdate}
			maps.DeleteFunc(got, func(_ string, n uint64) bool { return n == 0 })
			if !maps.Equal(got, e.updates) {
				t.Errorf("got desired updates %s; want %s", fmtUpdates(got), fmtUpdates(e.updates))
			}
			if plan.JobModifyIndex != *current.JobModifyIndex {
				t.Errorf("got plan JobModifyIndex %d; want the job's JobModifyIndex %d", plan.JobModifyIndex, *current.JobModifyIndex)
			}
		})
	}
}

func fmtUpdates(m map[string]uint64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
