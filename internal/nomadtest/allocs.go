package nomadtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/nomad/api"
)

// copyAlloc deep-copies an allocation through JSON.
func copyAlloc(a *api.Allocation) *api.Allocation {
	b, err := json.Marshal(a)
	if err != nil {
		panic(fmt.Sprintf("nomadtest: encode alloc: %v", err))
	}
	var c api.Allocation
	if err := json.Unmarshal(b, &c); err != nil {
		panic(fmt.Sprintf("nomadtest: decode alloc: %v", err))
	}
	return &c
}

// allocStub is the list form of an allocation. It shares the
// allocation's maps: encode it under s.mu.
func allocStub(c *api.Allocation) *api.AllocationListStub {
	return &api.AllocationListStub{
		ID:                 c.ID,
		EvalID:             c.EvalID,
		Name:               c.Name,
		Namespace:          c.Namespace,
		NodeID:             c.NodeID,
		NodeName:           c.NodeName,
		JobID:              c.JobID,
		JobType:            deref(c.Job.Type),
		JobVersion:         deref(c.Job.Version),
		TaskGroup:          c.TaskGroup,
		AllocatedResources: c.AllocatedResources,
		DesiredStatus:      c.DesiredStatus,
		DesiredDescription: c.DesiredDescription,
		ClientStatus:       c.ClientStatus,
		ClientDescription:  c.ClientDescription,
		TaskStates:         c.TaskStates,
		DeploymentStatus:   c.DeploymentStatus,
		FollowupEvalID:     c.FollowupEvalID,
		NextAllocation:     c.NextAllocation,
		CreateIndex:        c.CreateIndex,
		ModifyIndex:        c.ModifyIndex,
		CreateTime:         c.CreateTime,
		ModifyTime:         c.ModifyTime,
	}
}

func (s *Server) listAllocations(q *request) error {
	ns, prefix := q.namespace(), q.query.Get("prefix")
	return s.query(q, []string{tblAllocs}, func(st *state) (any, error) {
		out := []*api.AllocationListStub{}
		for _, a := range st.allocs {
			if (ns == "*" || a.alloc.Namespace == ns) && strings.HasPrefix(a.alloc.ID, prefix) {
				out = append(out, allocStub(a.alloc))
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].CreateIndex > out[j].CreateIndex })
		return out, nil
	})
}

func (s *Server) getAllocation(q *request) error {
	id := q.param("id")
	return s.query(q, []string{tblAllocs}, func(st *state) (any, error) {
		a := st.allocs[id]
		if a == nil {
			return nil, errCode(http.StatusNotFound, "alloc not found")
		}
		return a.alloc, nil
	})
}

// getLogs answers /v1/client/fs/logs/:alloc with the text a test scripted
// (Outcome.Stdout/Stderr) or a hook wrote. plain=true returns raw text;
// otherwise one api.StreamFrame. origin=end with offset=N returns the last N
// bytes. follow is not supported: the answer ends at the current text.
func (s *Server) getLogs(q *request) error {
	task := q.query.Get("task")
	if task == "" {
		return errCode(http.StatusBadRequest, "must include task name")
	}
	kind := q.query.Get("type")
	if kind != "stdout" && kind != "stderr" {
		return errCode(http.StatusBadRequest, "must include logs type")
	}
	var offset int64
	if v := q.query.Get("offset"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return errCode(http.StatusBadRequest, "failed to parse offset %q: %v", v, err)
		}
		offset = n
	}
	s.mu.Lock()
	a := s.st.allocs[q.param("alloc")]
	s.mu.Unlock()
	if a == nil {
		return errCode(http.StatusNotFound, "Unknown allocation %q", q.param("alloc"))
	}
	text := a.log(task, kind)
	var from int64
	if q.query.Get("origin") == "end" {
		from = max(int64(len(text))-offset, 0)
	} else {
		from = min(offset, int64(len(text)))
	}
	data := text[from:]
	if q.query.Get("plain") == "true" {
		q.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, err := q.w.Write(data)
		return err
	}
	q.w.Header().Set("Content-Type", "application/json")
	if len(data) == 0 {
		return nil
	}
	frame := api.StreamFrame{
		Offset: from + int64(len(data)),
		Data:   data,
		File:   fmt.Sprintf("alloc/logs/%s.%s.0", task, kind),
	}
	return json.NewEncoder(q.w).Encode(frame)
}
