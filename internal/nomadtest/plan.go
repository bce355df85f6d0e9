package nomadtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"

	"github.com/hashicorp/nomad/api"
)

// Diff types of a plan, as Nomad names them.
const (
	diffNone    = "None"
	diffAdded   = "Added"
	diffDeleted = "Deleted"
	diffEdited  = "Edited"
)

// Update kinds in TaskGroupDiff.Updates, as Nomad names them.
const (
	updIgnore      = "ignore"
	updCreate      = "create"
	updDestroy     = "destroy"
	updInPlace     = "in-place update"
	updDestructive = "create/destroy update"
)

// updateKind says how a running allocation of oldTG moves to newTG.
type updateKindT int

const (
	updateNone updateKindT = iota
	updateInPlace
	updateDestructive
)

// updateKind decides whether moving an allocation from one version of a
// group to another restarts its tasks. Following Nomad's documented rules, a
// change to anything a task's process sees (driver, user, config, env,
// resources, templates, artifacts, vault/consul/identity, meta at any
// level, volumes, networks, log config, dispatch payload, lifecycle) is
// destructive; anything else (services and checks, update, restart and
// reschedule policies, constraints, shutdown_delay, ...) is applied in place.
func updateKind(oldJob *api.Job, oldTG *api.TaskGroup, newJob *api.Job, newTG *api.TaskGroup) updateKindT {
	if oldTG == nil || newTG == nil {
		return updateDestructive
	}
	if !bytes.Equal(mustJSON(destructiveView(oldJob, oldTG)), mustJSON(destructiveView(newJob, newTG))) {
		return updateDestructive
	}
	if specEqual(oldJob, newJob) {
		return updateNone
	}
	return updateInPlace
}

type taskView struct {
	Name            string
	Driver          string
	User            string
	Config          map[string]any
	Env             map[string]string
	Resources       *api.Resources
	Templates       []*api.Template
	Artifacts       []*api.TaskArtifact
	Vault           *api.Vault
	Consul          *api.Consul
	Identity        *api.WorkloadIdentity
	Identities      []*api.WorkloadIdentity
	Meta            map[string]string
	LogConfig       *api.LogConfig
	DispatchPayload *api.DispatchPayloadConfig
	VolumeMounts    []*api.VolumeMount
	Lifecycle       *api.TaskLifecycle
	Secrets         []*api.Secret
}

type groupView struct {
	Networks      []*api.NetworkResource
	EphemeralDisk *api.EphemeralDisk
	Volumes       map[string]*api.VolumeRequest
	Tasks         []taskView
}

func destructiveView(j *api.Job, tg *api.TaskGroup) groupView {
	v := groupView{Networks: tg.Networks, EphemeralDisk: tg.EphemeralDisk, Volumes: tg.Volumes}
	for _, t := range tg.Tasks {
		meta := map[string]string{}
		for _, m := range []map[string]string{j.Meta, tg.Meta, t.Meta} {
			for k, val := range m {
				meta[k] = val
			}
		}
		v.Tasks = append(v.Tasks, taskView{
			Name: t.Name, Driver: t.Driver, User: t.User, Config: t.Config, Env: t.Env,
			Resources: t.Resources, Templates: t.Templates, Artifacts: t.Artifacts,
			Vault: t.Vault, Consul: t.Consul, Identity: t.Identity, Identities: t.Identities,
			Meta: meta, LogConfig: t.LogConfig, DispatchPayload: t.DispatchPayload,
			VolumeMounts: t.VolumeMounts, Lifecycle: t.Lifecycle, Secrets: t.Secrets,
		})
	}
	sort.Slice(v.Tasks, func(a, b int) bool { return v.Tasks[a].Name < v.Tasks[b].Name })
	return v
}

// planJob answers PUT /v1/job/:id/plan: what registering the job would do,
// without doing it.
func (s *Server) planJob(q *request) error {
	var req api.JobPlanRequest
	if err := q.decode(&req); err != nil {
		return err
	}
	if req.Job == nil {
		return errCode(400, "Job must be specified")
	}
	if deref(req.Job.ID) != q.param("id") {
		return errCode(400, "Job ID does not match")
	}
	job := req.Job
	if deref(job.Namespace) == "" {
		ns := q.namespace()
		job.Namespace = &ns
	}
	job.Canonicalize()
	if err := validateJob(job); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ns, id := deref(job.Namespace), deref(job.ID)
	if !s.namespaceExists(ns) {
		return errCode(http.StatusInternalServerError, "job %q is in nonexistent namespace %q", id, ns)
	}
	var prev *api.Job
	if e := s.st.jobs[nsKey{ns, id}]; e != nil {
		prev = e.current()
	}
	live := map[string][]*allocEntry{}
	if prev != nil {
		for _, tg := range prev.TaskGroups {
			for _, a := range s.liveAllocs(ns, id, deref(tg.Name)) {
				if a.alloc.ClientStatus != api.AllocClientStatusFailed {
					live[deref(tg.Name)] = append(live[deref(tg.Name)], a)
				}
			}
		}
	}
	diff, desired := diffJobs(prev, job, live)
	resp := api.JobPlanResponse{
		Annotations: &api.PlanAnnotations{DesiredTGUpdates: desired},
		Warnings:    jobWarnings(job),
	}
	if prev != nil {
		resp.JobModifyIndex = deref(prev.JobModifyIndex)
	}
	if req.Diff {
		resp.Diff = diff
	}
	for _, tg := range job.TaskGroups {
		for _, o := range s.groupOutcomes(job, tg) {
			if o.PlacementFailure {
				if resp.FailedTGAllocs == nil {
					resp.FailedTGAllocs = map[string]*api.AllocationMetric{}
				}
				resp.FailedTGAllocs[deref(tg.Name)] = &api.AllocationMetric{
					NodesEvaluated: 1, NodesInPool: 1, NodesExhausted: 1,
					DimensionExhausted: map[string]int{"memory": 1},
				}
			}
		}
	}
	return q.reply(s.st.index, resp)
}

// diffJobs compares two versions of a job (prev may be nil) and, given the
// live allocations per group, counts what a registration would do to them.
// With live nil every group counts its full count as existing allocations of
// prev.
func diffJobs(prev, job *api.Job, live map[string][]*allocEntry) (*api.JobDiff, map[string]*api.DesiredUpdates) {
	d := &api.JobDiff{ID: deref(job.ID), Type: diffEdited}
	desired := map[string]*api.DesiredUpdates{}
	switch {
	case prev == nil:
		d.Type = diffAdded
	case specEqual(prev, job):
		d.Type = diffNone
	}
	var oldFlat map[string]string
	if prev != nil {
		oldFlat = flatten(jobOnly(prev))
	}
	d.Fields = fieldDiffs(oldFlat, flatten(jobOnly(job)))

	names := map[string]bool{}
	for _, tg := range job.TaskGroups {
		names[deref(tg.Name)] = true
	}
	if prev != nil {
		for _, tg := range prev.TaskGroups {
			names[deref(tg.Name)] = true
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, name := range sorted {
		newTG := groupOf(job, name)
		var oldTG *api.TaskGroup
		if prev != nil {
			oldTG = groupOf(prev, name)
		}
		gd := &api.TaskGroupDiff{Name: name, Type: diffNone, Updates: map[string]uint64{}}
		du := &api.DesiredUpdates{}
		existing := live[name]
		if live == nil && oldTG != nil {
			for i := 0; i < deref(oldTG.Count); i++ {
				existing = append(existing, &allocEntry{alloc: &api.Allocation{Job: prev}})
			}
		}
		switch {
		case newTG == nil:
			gd.Type = diffDeleted
			du.Stop = uint64(len(existing))
			gd.Fields = fieldDiffs(flatten(groupOnly(oldTG)), nil)
		default:
			var oldFlat map[string]string
			if oldTG != nil {
				oldFlat = flatten(groupOnly(oldTG))
			}
			gd.Fields = fieldDiffs(oldFlat, flatten(groupOnly(newTG)))
			gd.Tasks = taskDiffs(prev, oldTG, job, newTG)
			switch {
			case oldTG == nil:
				gd.Type = diffAdded
			case len(gd.Fields) > 0 || anyTaskChanged(gd.Tasks):
				gd.Type = diffEdited
			}
			count := deref(newTG.Count)
			kept := 0
			for _, a := range existing {
				if kept >= count {
					du.Stop++
					continue
				}
				kept++
				aj := a.alloc.Job
				switch {
				case aj == nil || deref(aj.Version) == deref(job.Version) && d.Type == diffNone:
					du.Ignore++
				default:
					switch updateKind(aj, groupOf(aj, name), job, newTG) {
					case updateNone:
						du.Ignore++
					case updateInPlace:
						du.InPlaceUpdate++
					default:
						du.DestructiveUpdate++
					}
				}
			}
			if count > kept {
				du.Place = uint64(count - kept)
			}
		}
		for k, v := range map[string]uint64{
			updIgnore: du.Ignore, updCreate: du.Place, updDestroy: du.Stop,
			updInPlace: du.InPlaceUpdate, updDestructive: du.DestructiveUpdate,
		} {
			if v > 0 {
				gd.Updates[k] = v
			}
		}
		desired[name] = du
		d.TaskGroups = append(d.TaskGroups, gd)
	}
	return d, desired
}

func anyTaskChanged(ts []*api.TaskDiff) bool {
	for _, t := range ts {
		if t.Type != diffNone {
			return true
		}
	}
	return false
}

func taskDiffs(prev *api.Job, oldTG *api.TaskGroup, job *api.Job, newTG *api.TaskGroup) []*api.TaskDiff {
	var out []*api.TaskDiff
	kind := updateNone
	if oldTG != nil {
		kind = updateKind(prev, oldTG, job, newTG)
	}
	seen := map[string]bool{}
	for _, t := range newTG.Tasks {
		seen[t.Name] = true
		var old *api.Task
		if oldTG != nil {
			for _, ot := range oldTG.Tasks {
				if ot.Name == t.Name {
					old = ot
				}
			}
		}
		td := &api.TaskDiff{Name: t.Name, Type: diffNone}
		var oldFlat map[string]string
		if old != nil {
			oldFlat = flatten(toGeneric(old))
		}
		td.Fields = fieldDiffs(oldFlat, flatten(toGeneric(t)))
		switch {
		case old == nil:
			td.Type = diffAdded
			td.Annotations = []string{"forces create"}
		case len(td.Fields) > 0:
			td.Type = diffEdited
			if kind == updateDestructive {
				td.Annotations = []string{"forces create/destroy update"}
			} else {
				td.Annotations = []string{"forces in-place update"}
			}
		}
		out = append(out, td)
	}
	if oldTG != nil {
		for _, ot := range oldTG.Tasks {
			if !seen[ot.Name] {
				out = append(out, &api.TaskDiff{Name: ot.Name, Type: diffDeleted,
					Fields: fieldDiffs(flatten(toGeneric(ot)), nil), Annotations: []string{"forces destroy"}})
			}
		}
	}
	return out
}

// jobOnly is a job's own fields, without groups and server-set fields.
func jobOnly(j *api.Job) any {
	g := specOf(j).(map[string]any)
	delete(g, "TaskGroups")
	return g
}

// groupOnly is a group's own fields, without tasks.
func groupOnly(tg *api.TaskGroup) any {
	g := toGeneric(tg).(map[string]any)
	delete(g, "Tasks")
	return g
}

// flatten turns a generic JSON value into dotted paths → scalar strings.
func flatten(v any) map[string]string {
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", prefix, i), e)
			}
		case nil:
		default:
			out[prefix] = fmt.Sprint(x)
		}
	}
	walk("", v)
	return out
}

// fieldDiffs lists the paths that differ, sorted by name.
func fieldDiffs(old, cur map[string]string) []*api.FieldDiff {
	var out []*api.FieldDiff
	for k, nv := range cur {
		ov, ok := old[k]
		switch {
		case !ok:
			out = append(out, &api.FieldDiff{Type: diffAdded, Name: k, New: nv})
		case ov != nv:
			out = append(out, &api.FieldDiff{Type: diffEdited, Name: k, Old: ov, New: nv})
		}
	}
	for k, ov := range old {
		if _, ok := cur[k]; !ok {
			out = append(out, &api.FieldDiff{Type: diffDeleted, Name: k, Old: ov})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("nomadtest: encode: %v", err))
	}
	return b
}
