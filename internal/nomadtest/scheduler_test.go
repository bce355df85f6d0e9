package nomadtest_test

import (
	"testing"

	"github.com/hashicorp/nomad/api"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
)

func TestServiceJobBecomesHealthy(t *testing.T) {
	srv := nomadtest.New(t)
	c := srv.Client()
	job := serviceJob("default", "web", 2)
	resp, _, err := c.Jobs().Register(job, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.EvalID == "" {
		t.Errorf("got empty EvalID; want one")
	}
	d := waitDeployment(t, c, "default", "web", api.DeploymentStatusSuccessful)
	if d.TaskGroups["app"].HealthyAllocs != 2 {
		t.Errorf("got %d healthy allocs; want 2", d.TaskGroups["app"].HealthyAllocs)
	}
	allocs, _, err := c.Jobs().Allocations("web", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(allocs) != 2 {
		t.Fatalf("got %d allocs; want 2", len(allocs))
	}
	a, _, err := c.Allocations().Info(allocs[0].ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.ClientStatus != "running" || a.TaskStates["server"].State != "running" {
		t.Errorf("got alloc %s task %s; want running", a.ClientStatus, a.TaskStates["server"].State)
	}
	if a.DeploymentStatus == nil || a.DeploymentStatus.Healthy == nil || !*a.DeploymentStatus.Healthy {
		t.Errorf("got deployment status %+v; want healthy", a.DeploymentStatus)
	}
	j := waitJobStatus(t, c, "default", "web", "running")
	if !*j.Stable {
		t.Errorf("got stable false; want true after a successful deployment")
	}
}
