package nomadtest

import (
	"net/http"

	"github.com/hashicorp/nomad/api"
)

// stopAllocation answers PUT/POST /v1/allocation/:id/stop: the allocation is
// stopped and, as Nomad does for a service job, an evaluation places a
// replacement (which renders its templates afresh). The answer carries the
// follow-up evaluation's id.
func (s *Server) stopAllocation(q *request) error {
	id := q.param("id")
	s.mu.Lock()
	a := s.st.allocs[id]
	if a == nil {
		s.mu.Unlock()
		return errCode(http.StatusNotFound, "alloc not found")
	}
	ns, jobID := a.alloc.Namespace, a.alloc.JobID
	job := s.st.job(ns, jobID)
	wasRunning := a.alloc.DesiredStatus == api.AllocDesiredStatusRun
	if wasRunning {
		s.stopAllocLocked(a, "alloc is being migrated")
	}
	var ev *api.Evaluation
	if job != nil && !deref(job.Stop) {
		ev = s.newEval(job, "alloc-stop")
		s.st.replacing[ev.ID] = a
		s.startEval(ev, job)
	}
	s.refreshJobStatus(ns, jobID)
	idx := s.st.bump(tblAllocs, tblJobs, tblSummaries)
	s.mu.Unlock()
	if wasRunning {
		s.releaseAlloc(a)
	}
	resp := api.AllocStopResponse{}
	if ev != nil {
		resp.EvalID = ev.ID
	}
	return q.reply(idx, resp)
}
