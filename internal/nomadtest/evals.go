package nomadtest

import (
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// newEval stores a pending evaluation for a job; callers hold s.mu.
func (s *Server) newEval(job *api.Job, trigger string) *api.Evaluation {
	idx := s.st.bump(tblEvals)
	now := time.Now().UnixNano()
	ev := &api.Evaluation{
		ID:             newUUID(),
		Priority:       deref(job.Priority),
		Type:           deref(job.Type),
		TriggeredBy:    trigger,
		Namespace:      deref(job.Namespace),
		JobID:          deref(job.ID),
		JobModifyIndex: deref(job.JobModifyIndex),
		Status:         api.EvalStatusPending,
		CreateIndex:    idx,
		ModifyIndex:    idx,
		CreateTime:     now,
		ModifyTime:     now,
	}
	s.st.evals[ev.ID] = ev
	return ev
}

func (s *Server) listEvaluations(q *request) error {
	ns := q.namespace()
	prefix := q.query.Get("prefix")
	jobFilter := q.query.Get("job")
	return s.query(q, []string{tblEvals}, func(st *state) (any, error) {
		out := []*api.Evaluation{}
		for _, ev := range st.evals {
			if (ns != "*" && ev.Namespace != ns) || !strings.HasPrefix(ev.ID, prefix) || (jobFilter != "" && ev.JobID != jobFilter) {
				continue
			}
			c := *ev
			out = append(out, &c)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].CreateIndex > out[j].CreateIndex })
		return out, nil
	})
}

func (s *Server) getEvaluation(q *request) error {
	id := q.param("id")
	return s.query(q, []string{tblEvals}, func(st *state) (any, error) {
		ev := st.evals[id]
		if ev == nil {
			return nil, errCode(http.StatusNotFound, "eval not found")
		}
		c := *ev
		return &c, nil
	})
}
