package nomadtest

import (
	"net/http"

	"github.com/hashicorp/nomad/api"
	"github.com/tenantctl/tenantctl/internal/nomadtest/jobhcl"
)

// parseJob answers PUT /v1/jobs/parse: HCL2 source plus the text of a var
// file in, the job as JSON out; invalid HCL is HTTP 400
// "Failed to parse job: input.hcl:LINE,COL-…: …" as with Nomad.
func (s *Server) parseJob(q *request) error {
	var req api.JobsParseRequest
	if err := q.decode(&req); err != nil {
		return err
	}
	if req.JobHCL == "" {
		return errCode(http.StatusBadRequest, "Job spec is empty")
	}
	job, err := jobhcl.Parse([]byte(req.JobHCL), req.Variables, nil, req.Canonicalize)
	if err != nil {
		return errCode(http.StatusBadRequest, "Failed to parse job: %v", err)
	}
	q.w.Header().Set("Content-Type", "application/json")
	return q.reply(0, job)
}
