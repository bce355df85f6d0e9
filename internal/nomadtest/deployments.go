package nomadtest

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// deploymentFor returns the deployment an evaluation of job should advance:
// the running one for this job version, a new one when the version changed,
// or nil when the job gets no deployment (non-service jobs, max_parallel = 0,
// or an unchanged job). Callers hold s.mu.
func (s *Server) deploymentFor(job *api.Job) *api.Deployment {
	if deref(job.Type) != "service" || job.Update == nil || deref(job.Update.MaxParallel) == 0 {
		return nil
	}
	ns, id := deref(job.Namespace), deref(job.ID)
	latest := s.st.latestDeployment(ns, id)
	if latest != nil && latest.JobVersion == deref(job.Version) {
		if latest.Status == api.DeploymentStatusRunning {
			return latest
		}
		return nil
	}
	if latest != nil && latest.Status == api.DeploymentStatusRunning {
		s.setDeploymentStatus(latest, api.DeploymentStatusCancelled, "Cancelled due to newer version of job")
	}
	idx := s.st.index + 1
	now := time.Now()
	d := &api.Deployment{
		ID:                 newUUID(),
		Namespace:          ns,
		JobID:              id,
		JobVersion:         deref(job.Version),
		JobModifyIndex:     deref(job.JobModifyIndex),
		JobSpecModifyIndex: deref(job.JobModifyIndex),
		JobCreateIndex:     deref(job.CreateIndex),
		TaskGroups:         map[string]*api.DeploymentState{},
		Status:             api.DeploymentStatusRunning,
		StatusDescription:  "Deployment is running",
		CreateIndex:        idx,
		ModifyIndex:        idx,
		CreateTime:         now.UnixNano(),
		ModifyTime:         now.UnixNano(),
	}
	for _, tg := range job.TaskGroups {
		st := &api.DeploymentState{DesiredTotal: deref(tg.Count)}
		if tg.Update != nil {
			st.AutoRevert = deref(tg.Update.AutoRevert)
			st.ProgressDeadline = deref(tg.Update.ProgressDeadline)
			st.RequireProgressBy = now.Add(st.ProgressDeadline)
		}
		d.TaskGroups[deref(tg.Name)] = st
	}
	s.st.deployments[d.ID] = d
	s.st.deploymentsByJob[nsKey{ns, id}] = append(s.st.deploymentsByJob[nsKey{ns, id}], d)
	return d
}

// deploymentBatch is how long after its last allocation turned healthy a
// deployment stays running with every group counted healthy. Nomad's
// deployment watcher batches the evaluation that marks it successful for a
// second (perJobEvalBatchPeriod in Nomad 2.0.5); on a real agent the status
// turned successful 1.2 to 1.9 s after the last allocation's health. In that
// window Nomad still refuses to scale the job (scaleJob).
const deploymentBatch = time.Second

// checkDeployment marks a running deployment successful deploymentBatch
// after every group has its desired number of healthy allocations, if they
// still have, and the job version stable. Callers hold s.mu.
func (s *Server) checkDeployment(d *api.Deployment) {
	if !countedHealthy(d) {
		return
	}
	s.goRun(func() {
		if !sleep(s.ctx, deploymentBatch) {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if countedHealthy(d) {
			s.completeDeployment(d)
			s.st.bump(tblDeployments, tblJobs, tblEvals)
		}
	})
}

// countedHealthy reports whether a running deployment has every group's
// desired number of healthy allocations; callers hold s.mu.
func countedHealthy(d *api.Deployment) bool {
	if d.Status != api.DeploymentStatusRunning {
		return false
	}
	for _, st := range d.TaskGroups {
		if st.HealthyAllocs < st.DesiredTotal {
			return false
		}
	}
	return true
}

// completeDeployment marks a deployment successful and its job version
// stable; callers hold s.mu.
func (s *Server) completeDeployment(d *api.Deployment) {
	s.setDeploymentStatus(d, api.DeploymentStatusSuccessful, "Deployment completed successfully")
	if e := s.st.jobs[nsKey{d.Namespace, d.JobID}]; e != nil {
		for _, v := range e.versions {
			if deref(v.Version) == d.JobVersion {
				v.Stable = ptr(true)
			}
		}
		// Nomad's deployment watcher then evaluates the job once more: a
		// complete evaluation with the deployment's ID and no job modify
		// index.
		ev := s.newEval(e.current(), "deployment-watcher")
		ev.JobModifyIndex = 0
		ev.DeploymentID = d.ID
		ev.Status = api.EvalStatusComplete
	}
}

// failDeployment fails a running deployment with desc. When a group of it
// has auto_revert, Nomad's deployment watcher then rolls the job back: the
// newest stable version of the job is registered again as a new version
// (which gets its own deployment), and the failed deployment's description
// says so: "<desc> - rolling back to job version N". Without a stable version
// to go back to, or when that version has the same spec, it says why it does
// not. Callers hold s.mu.
func (s *Server) failDeployment(d *api.Deployment, desc string) {
	revert := false
	for _, st := range d.TaskGroups {
		revert = revert || st.AutoRevert
	}
	e := s.st.jobs[nsKey{d.Namespace, d.JobID}]
	if !revert || e == nil || deref(e.current().Version) != d.JobVersion {
		s.setDeploymentStatus(d, api.DeploymentStatusFailed, desc)
		return
	}
	var stable *api.Job
	for _, v := range e.versions {
		if deref(v.Stable) && deref(v.Version) != d.JobVersion && (stable == nil || deref(v.Version) > deref(stable.Version)) {
			stable = v
		}
	}
	switch {
	case stable == nil:
		s.setDeploymentStatus(d, api.DeploymentStatusFailed, desc+" - no stable job version to auto revert to")
	case specEqual(stable, e.current()):
		s.setDeploymentStatus(d, api.DeploymentStatusFailed,
			fmt.Sprintf("%s - not rolling back to stable job version %d as current job has same specification", desc, deref(stable.Version)))
	default:
		s.setDeploymentStatus(d, api.DeploymentStatusFailed, fmt.Sprintf("%s - rolling back to job version %d", desc, deref(stable.Version)))
		s.upsertJobVersion(e, copyJob(stable), nil, "deployment-watcher", true)
	}
}

func (s *Server) setDeploymentStatus(d *api.Deployment, status, desc string) {
	d.Status, d.StatusDescription = status, desc
	d.ModifyIndex = s.st.index + 1
	d.ModifyTime = time.Now().UnixNano()
}

func copyDeployment(d *api.Deployment) *api.Deployment {
	c := *d
	c.TaskGroups = make(map[string]*api.DeploymentState, len(d.TaskGroups))
	for k, v := range d.TaskGroups {
		st := *v
		c.TaskGroups[k] = &st
	}
	return &c
}

func (s *Server) getJobLatestDeployment(q *request) error {
	ns, id := q.namespace(), q.param("id")
	return s.query(q, []string{tblDeployments}, func(st *state) (any, error) {
		d := st.latestDeployment(ns, id)
		if d == nil {
			return nil, nil
		}
		return copyDeployment(d), nil
	})
}

func (s *Server) getJobDeployments(q *request) error {
	ns, id := q.namespace(), q.param("id")
	return s.query(q, []string{tblDeployments}, func(st *state) (any, error) {
		out := []*api.Deployment{}
		for _, d := range st.deploymentsByJob[nsKey{ns, id}] {
			out = append(out, copyDeployment(d))
		}
		sort.Slice(out, func(i, j int) bool { return out[i].CreateIndex > out[j].CreateIndex })
		return out, nil
	})
}

func (s *Server) listDeployments(q *request) error {
	ns, prefix := q.namespace(), q.query.Get("prefix")
	return s.query(q, []string{tblDeployments}, func(st *state) (any, error) {
		return deploymentList(st, func(d *api.Deployment) bool {
			return (ns == "*" || d.Namespace == ns) && strings.HasPrefix(d.ID, prefix)
		}), nil
	})
}

func deploymentList(st *state, keep func(*api.Deployment) bool) []*api.Deployment {
	out := []*api.Deployment{}
	for _, d := range st.deployments {
		if keep(d) {
			out = append(out, copyDeployment(d))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreateIndex > out[j].CreateIndex })
	return out
}

func (s *Server) getDeployment(q *request) error {
	id := q.param("id")
	return s.query(q, []string{tblDeployments}, func(st *state) (any, error) {
		d := st.deployments[id]
		if d == nil {
			return nil, errCode(http.StatusNotFound, "deployment not found")
		}
		return copyDeployment(d), nil
	})
}
