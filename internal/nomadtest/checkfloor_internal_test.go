package nomadtest

import (
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// TestCheckIntervalFloor: WithCheckIntervalFloor stretches the interval the
// double registers in Consul to the floor, and leaves longer ones alone;
// without a floor the jobspec's interval goes through as it is.
func TestCheckIntervalFloor(t *testing.T) {
	svc := &api.Service{Name: "acme--app", PortLabel: "http", Checks: []api.ServiceCheck{
		{Name: "fast", Type: "http", Path: "/api/ready", Interval: time.Second, Timeout: time.Second},
		{Name: "slow", Type: "tcp", Interval: 10 * time.Second, Timeout: time.Second},
	}}
	al := &api.Allocation{ID: "a1"}
	for _, tc := range []struct {
		floor      time.Duration
		fast, slow string
	}{
		{0, "1s", "10s"},
		{3 * time.Second, "3s", "10s"},
	} {
		reg := serviceRegistration(al, serviceReg{owner: "group-app", svc: svc}, "127.0.0.1", 8080, tc.floor, func(string) int { return 8080 })
		if len(reg.Checks) != 2 {
			t.Fatalf("floor %v: got %d checks; want 2", tc.floor, len(reg.Checks))
		}
		if reg.Checks[0].Interval != tc.fast || reg.Checks[1].Interval != tc.slow {
			t.Errorf("floor %v: got intervals %s, %s; want %s, %s", tc.floor, reg.Checks[0].Interval, reg.Checks[1].Interval, tc.fast, tc.slow)
		}
	}
}

// TestCheckCountsReachConsul: like Nomad's client, the double hands a check's
// success_before_passing and failures_before_* to Consul, which counts them.
func TestCheckCountsReachConsul(t *testing.T) {
	svc := &api.Service{Name: "acme--app", PortLabel: "http", Checks: []api.ServiceCheck{
		{Name: "ready", Type: "http", Path: "/api/ready", Interval: time.Second, Timeout: time.Second,
			SuccessBeforePassing: 1, FailuresBeforeWarning: 2, FailuresBeforeCritical: 3},
	}}
	reg := serviceRegistration(&api.Allocation{ID: "a1"}, serviceReg{owner: "group-app", svc: svc}, "127.0.0.1", 8080, 0, func(string) int { return 8080 })
	c := reg.Checks[0]
	if c.SuccessBeforePassing != 1 || c.FailuresBeforeWarning != 2 || c.FailuresBeforeCritical != 3 {
		t.Fatalf("registered counts %d/%d/%d; want 1/2/3", c.SuccessBeforePassing, c.FailuresBeforeWarning, c.FailuresBeforeCritical)
	}
}
