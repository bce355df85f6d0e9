package nomadtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// dispatchJob answers PUT /v1/job/:id/dispatch: it registers a child of a
// parameterized job with ID "<parent>/dispatch-<unix>-<8 hex>", checking
// meta_required/meta_optional and the payload rule, and honours the
// idempotency_token query parameter (the same token returns the child it
// dispatched before for as long as that child exists).
func (s *Server) dispatchJob(q *request) error {
	var req api.JobDispatchRequest
	if err := q.decode(&req); err != nil {
		return err
	}
	ns, id := q.namespace(), q.param("id")
	token := q.query.Get("idempotency_token")

	s.mu.Lock()
	defer s.mu.Unlock()
	// Nomad answers every refusal of a dispatch with HTTP 500.
	e := s.st.jobs[nsKey{ns, id}]
	if e == nil {
		return errCode(http.StatusInternalServerError, "parameterized job not found")
	}
	parent := e.current()
	pc := parent.ParameterizedJob
	if pc == nil {
		return errCode(http.StatusInternalServerError, "Specified job %q is not a parameterized job", id)
	}
	if deref(parent.Stop) {
		return errCode(http.StatusInternalServerError, "Specified job %q is stopped", id)
	}
	switch pc.Payload {
	case "required":
		if len(req.Payload) == 0 {
			return errCode(http.StatusInternalServerError, "Payload is not provided but required by parameterized job")
		}
	case "forbidden":
		if len(req.Payload) != 0 {
			return errCode(http.StatusInternalServerError, "Payload provided but forbidden by parameterized job")
		}
	}
	var missing, unpermitted []string
	for _, k := range pc.MetaRequired {
		if _, ok := req.Meta[k]; !ok {
			missing = append(missing, k)
		}
	}
	allowed := map[string]bool{}
	for _, k := range append(append([]string{}, pc.MetaRequired...), pc.MetaOptional...) {
		allowed[k] = true
	}
	for k := range req.Meta {
		if !allowed[k] {
			unpermitted = append(unpermitted, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(unpermitted)
	if len(missing) > 0 {
		return errCode(http.StatusInternalServerError, "Dispatch did not provide required meta keys: %v", missing)
	}
	if len(unpermitted) > 0 {
		return errCode(http.StatusInternalServerError, "Dispatch request included unpermitted metadata keys: %v", unpermitted)
	}
	if token != "" {
		// A child dispatched with the same token is returned, whatever its
		// status, for as long as it exists (until it is purged or garbage
		// collected): no new child, no evaluation.
		if childID, ok := e.dispatched[token]; ok {
			if child := s.st.job(ns, childID); child != nil {
				return q.reply(s.st.index, api.JobDispatchResponse{
					DispatchedJobID: childID,
					JobCreateIndex:  deref(child.CreateIndex),
				})
			}
		}
	}

	child := copyJob(parent)
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return fmt.Errorf("nomadtest: dispatch id: %w", err)
	}
	prefix := id
	if req.IdPrefixTemplate != "" {
		prefix = id + "/" + strings.TrimSpace(req.IdPrefixTemplate)
	}
	childID := fmt.Sprintf("%s%s%d-%s", prefix, api.JobDispatchLaunchSuffix, time.Now().Unix(), hex.EncodeToString(suffix[:]))
	child.ID = ptr(childID)
	child.Name = ptr(childID)
	child.ParentID = ptr(id)
	child.ParameterizedJob = nil
	child.Dispatched = true
	child.Payload = req.Payload
	if token != "" {
		child.DispatchIdempotencyToken = ptr(token)
	}
	if child.Meta == nil {
		child.Meta = map[string]string{}
	}
	for k, v := range req.Meta {
		child.Meta[k] = v
	}
	if req.Priority > 0 {
		child.Priority = ptr(req.Priority)
	}
	child.Status, child.Version, child.Stable = nil, nil, nil
	child.CreateIndex, child.ModifyIndex, child.JobModifyIndex, child.SubmitTime = nil, nil, nil, nil
	resp := s.upsertJob(nil, child, nil, "job-register")
	if token != "" {
		e.dispatched[token] = childID
	}
	s.st.bump(tblJobs, tblSummaries)
	return q.reply(resp.EvalCreateIndex, api.JobDispatchResponse{
		DispatchedJobID: childID,
		EvalID:          resp.EvalID,
		EvalCreateIndex: resp.EvalCreateIndex,
		JobCreateIndex:  deref(child.CreateIndex),
	})
}

// periodicForce answers PUT /v1/job/:id/periodic/force as Nomad's periodic
// dispatcher does for a forced launch: a child job "<id>/periodic-<unix
// time>", a copy of the parent without its periodic block and with
// ParentID set, registered and evaluated at once. Nomad does not check
// prohibit_overlap for a forced launch, and two launches within one second
// get the same id (the second replaces the first); the double does the
// same. A job that is not periodic, or is stopped, is refused with HTTP 500.
func (s *Server) periodicForce(q *request) error {
	ns, id := q.namespace(), q.param("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.st.jobs[nsKey{ns, id}]
	if e == nil {
		return errCode(http.StatusNotFound, "job not found")
	}
	parent := e.current()
	if parent.Periodic == nil {
		return errCode(http.StatusInternalServerError, "can't force launch non-periodic job")
	}
	if deref(parent.Stop) {
		return errCode(http.StatusInternalServerError, "can't force launch a stopped periodic job")
	}
	child := copyJob(parent)
	childID := fmt.Sprintf("%s%s%d", id, api.JobPeriodicLaunchSuffix, time.Now().Unix())
	child.ID = ptr(childID)
	child.Name = ptr(childID)
	child.ParentID = ptr(id)
	child.Periodic = nil
	child.Status, child.Version, child.Stable = nil, nil, nil
	child.CreateIndex, child.ModifyIndex, child.JobModifyIndex, child.SubmitTime = nil, nil, nil, nil
	resp := s.upsertJob(s.st.jobs[nsKey{ns, childID}], child, nil, "periodic-job")
	s.st.bump(tblJobs, tblSummaries)
	return q.reply(resp.EvalCreateIndex, map[string]any{"EvalID": resp.EvalID, "EvalCreateIndex": resp.EvalCreateIndex, "Index": resp.EvalCreateIndex})
}
