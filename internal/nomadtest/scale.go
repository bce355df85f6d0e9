package nomadtest

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/nomad/api"
)

// scaleJob answers /v1/job/:id/scale: the group's count changes in a new
// version of the job, evaluated like a registration. As on Nomad, the new
// version's allocations are placed under the lowest free name indices, and
// a smaller count stops those with the highest (see runEval).
func (s *Server) scaleJob(q *request) error {
	var req api.ScalingRequest
	if err := q.decode(&req); err != nil {
		return err
	}
	group := req.Target["Group"]
	if req.Count == nil {
		return errCode(http.StatusBadRequest, "nomadtest: scaling without a count is not implemented")
	}
	if *req.Count < 0 {
		return errCode(http.StatusBadRequest, "scaling action count can't be negative")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := lookupJob(s.st, q.namespace(), q.param("id"))
	if err != nil {
		return err
	}
	job := copyJob(e.current())
	tg := groupOf(job, group)
	if tg == nil {
		return errCode(http.StatusBadRequest, "task group %q specified for scaling does not exist in job", group)
	}
	tg.Count = ptr(int(*req.Count))
	// As Nomad (job_endpoint.go, Scale): no count change while the job's
	// latest deployment is active, for example in the second or two between
	// every allocation turning healthy and the deployment turning successful.
	if d := s.st.latestDeployment(q.namespace(), q.param("id")); d != nil && deploymentActive(d.Status) && d.JobCreateIndex == deref(job.CreateIndex) {
		return errCode(http.StatusBadRequest, "job scaling blocked due to active deployment")
	}
	r := s.upsertJobVersion(e, job, nil, "job-scaling", true)
	return q.reply(r.JobModifyIndex, r)
}

// nameIndex is the N of an allocation name job.group[N]; -1 when it has none.
func nameIndex(name string) int {
	i := strings.LastIndexByte(name, '[')
	if i < 0 || !strings.HasSuffix(name, "]") {
		return -1
	}
	n, err := strconv.Atoi(name[i+1 : len(name)-1])
	if err != nil {
		return -1
	}
	return n
}

// byNameIndex sorts allocations by name index, lowest first.
func byNameIndex(as []*allocEntry) {
	sort.SliceStable(as, func(i, j int) bool { return nameIndex(as[i].alloc.Name) < nameIndex(as[j].alloc.Name) })
}

// deploymentActive is Nomad's Deployment.Active: a deployment in one of
// these states blocks scaling.
func deploymentActive(status string) bool {
	switch status {
	case api.DeploymentStatusRunning, api.DeploymentStatusPaused, api.DeploymentStatusBlocked,
		api.DeploymentStatusUnblocking, api.DeploymentStatusPending, "initializing":
		return true
	}
	return false
}
