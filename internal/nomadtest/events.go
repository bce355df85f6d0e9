package nomadtest

import (
	"fmt"
	"time"

	"github.com/hashicorp/nomad/api"
)

// TaskEvent appends ev to a task's events in a running allocation, as a
// Nomad client does when something happens to the task after it started:
// for example a template re-render ("Signaling", "Restart Signaled") after
// a credential rotation. A zero ev.Time is set to now. The allocation's
// ModifyIndex rises and blocked allocation queries wake.
func (s *Server) TaskEvent(allocID, task string, ev api.TaskEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.st.allocs[allocID]
	if a == nil {
		return fmt.Errorf("nomadtest: no allocation %q", allocID)
	}
	ts := a.alloc.TaskStates[task]
	if ts == nil {
		return fmt.Errorf("nomadtest: allocation %s has no task %q", allocID, task)
	}
	if ev.Time == 0 {
		ev.Time = time.Now().UnixNano()
	}
	if ev.Details == nil {
		ev.Details = map[string]string{}
	}
	if ev.Type == api.TaskRestarting { // Nomad counts restarts on this event
		ts.Restarts++
		ts.LastRestart = time.Unix(0, ev.Time)
	}
	ts.Events = append(ts.Events, &ev)
	s.touchAlloc(a)
	return nil
}
