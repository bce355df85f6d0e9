package nomad

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

func TestPlacementFailuresInWords(t *testing.T) {
	for _, tc := range []struct {
		name   string
		metric *api.AllocationMetric
		want   []string
	}{
		{
			name:   "memory exhausted",
			metric: &api.AllocationMetric{NodesEvaluated: 1, NodesExhausted: 1, DimensionExhausted: map[string]int{"memory": 1}, CoalescedFailures: 2},
			want:   []string{"Resources exhausted on 1 nodes", `Dimension "memory" exhausted on 1 nodes`},
		},
		{
			name: "constraints and classes",
			metric: &api.AllocationMetric{NodesEvaluated: 3, NodesFiltered: 3,
				ConstraintFiltered: map[string]int{"${attr.vault.version} semver >= 0.6.1": 2, "${attr.consul.version}": 1},
				ClassFiltered:      map[string]int{"gpu": 3}},
			want: []string{`Class "gpu" filtered 3 nodes`, `Constraint "${attr.consul.version}" filtered 1 nodes`,
				`Constraint "${attr.vault.version} semver >= 0.6.1" filtered 2 nodes`},
		},
		{
			name:   "no nodes",
			metric: &api.AllocationMetric{},
			want:   []string{"No nodes were eligible for evaluation"},
		},
		{
			name:   "datacenter empty",
			metric: &api.AllocationMetric{NodesAvailable: map[string]int{"dc2": 0}},
			want:   []string{`No nodes are available in datacenter "dc2"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := placementFailures(map[string]*api.AllocationMetric{"web": tc.metric})
			if len(got) != 1 || got[0].Group != "web" {
				t.Fatalf("got %+v; want one failure for group web", got)
			}
			if !reflect.DeepEqual(got[0].Reasons, tc.want) {
				t.Errorf("got reasons %q; want %q", got[0].Reasons, tc.want)
			}
			if got[0].Unplaced != tc.metric.CoalescedFailures+1 {
				t.Errorf("got unplaced %d; want %d", got[0].Unplaced, tc.metric.CoalescedFailures+1)
			}
		})
	}
}

func TestDigestKeepsLastEvents(t *testing.T) {
	var events []*api.TaskEvent
	for i := range 10 {
		events = append(events, &api.TaskEvent{Type: "Driver", DisplayMessage: string(rune('a' + i)), Time: time.Unix(int64(i), 0).UnixNano()})
	}
	got := taskDigests(map[string]*api.TaskState{"t": {State: "running", Restarts: 2, Events: events}}, digestEvents)
	if len(got) != 1 || len(got[0].Events) != digestEvents || got[0].Events[digestEvents-1].Message != "j" {
		t.Fatalf("got %+v; want the last %d events ending with j", got, digestEvents)
	}
	s := Digest{Allocs: []AllocDigest{{ID: "0123456789", Name: "acme--app.app[0]", ClientStatus: "running", Tasks: got}}}.String()
	for _, w := range []string{"allocation 01234567 (acme--app.app[0], version 0): running", `task "t": running, 2 restarts`, "Driver"} {
		if !strings.Contains(s, w) {
			t.Errorf("got digest:\n%s\nwant it to contain %q", s, w)
		}
	}
}
