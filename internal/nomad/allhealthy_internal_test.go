package nomad

import (
	"testing"

	"github.com/hashicorp/nomad/api"
)

func TestAllHealthy(t *testing.T) {
	group := func(desired, healthy, canaries int, promoted bool) *api.DeploymentState {
		return &api.DeploymentState{DesiredTotal: desired, HealthyAllocs: healthy, DesiredCanaries: canaries, Promoted: promoted}
	}
	for _, tc := range []struct {
		name string
		d    *api.Deployment
		want bool
	}{
		{"nil", nil, false},
		{"no groups yet", &api.Deployment{Status: api.DeploymentStatusRunning}, false},
		{"all healthy", &api.Deployment{Status: api.DeploymentStatusRunning, TaskGroups: map[string]*api.DeploymentState{
			"app": group(2, 2, 0, false), "worker": group(1, 1, 0, false)}}, true},
		{"one group short", &api.Deployment{Status: api.DeploymentStatusRunning, TaskGroups: map[string]*api.DeploymentState{
			"app": group(2, 1, 0, false), "worker": group(1, 1, 0, false)}}, false},
		{"canaries healthy, not promoted", &api.Deployment{Status: api.DeploymentStatusRunning, TaskGroups: map[string]*api.DeploymentState{
			"app": group(2, 1, 1, false)}}, false},
		{"promoted, the rest not yet healthy", &api.Deployment{Status: api.DeploymentStatusRunning, TaskGroups: map[string]*api.DeploymentState{
			"app": group(2, 1, 1, true)}}, false},
		{"promoted and all healthy", &api.Deployment{Status: api.DeploymentStatusRunning, TaskGroups: map[string]*api.DeploymentState{
			"app": group(2, 2, 1, true)}}, true},
		{"failed with healthy counts", &api.Deployment{Status: api.DeploymentStatusFailed, TaskGroups: map[string]*api.DeploymentState{
			"app": group(1, 1, 0, false)}}, false},
		{"cancelled with healthy counts", &api.Deployment{Status: api.DeploymentStatusCancelled, TaskGroups: map[string]*api.DeploymentState{
			"app": group(1, 1, 0, false)}}, false},
		{"paused", &api.Deployment{Status: api.DeploymentStatusPaused, TaskGroups: map[string]*api.DeploymentState{
			"app": group(1, 1, 0, false)}}, false},
	} {
		if got := allHealthy(tc.d); got != tc.want {
			t.Errorf("%s: got %v; want %v", tc.name, got, tc.want)
		}
	}
}
