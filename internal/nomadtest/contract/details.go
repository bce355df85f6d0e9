package contract

import (
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
)

// testDispatchDetails: what a dispatch refuses (exact texts), the dispatched job's fields, and that an
// idempotency token whose child is dead dispatches nothing new.
func testDispatchDetails(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, nil)
	src := strings.Replace(dispatchHCL(ns, "mig"), "sleep 3; echo done", "echo done", 1)
	src = strings.Replace(src, `meta_required = ["tenant"]`, "meta_required = [\"tenant\"]\n    meta_optional = [\"dry\"]", 1)
	register(t, c, ns, src, "")
	wo := &api.WriteOptions{Namespace: ns}
	q := &api.QueryOptions{Namespace: ns}
	for _, tc := range []struct {
		meta    map[string]string
		payload []byte
		want    string
	}{
		{nil, nil, "Dispatch did not provide required meta keys: [tenant]"},
		{map[string]string{"tenant": "a", "bogus": "x"}, nil, "Dispatch request included unpermitted metadata keys: [bogus]"},
		{map[string]string{"tenant": "a"}, []byte("x"), "Payload provided but forbidden by parameterized job"},
	} {
		_, _, err := c.Jobs().Dispatch("mig", tc.meta, tc.payload, "", wo)
		if err == nil || !strings.Contains(err.Error(), tc.want) || statusCode(err) != 500 {
			t.Errorf("dispatch meta %v payload %q: got %v; want HTTP 500 %q", tc.meta, tc.payload, err, tc.want)
		}
	}
	if _, _, err := c.Jobs().Dispatch("nope", map[string]string{"tenant": "a"}, nil, "", wo); statusCode(err) != 500 ||
		!strings.Contains(err.Error(), "parameterized job not found") {
		t.Errorf("dispatch of a job that does not exist: got %v; want HTTP 500 parameterized job not found", err)
	}
	wo.IdempotencyToken = "tok-" + suffix()
	d1, _, err := c.Jobs().Dispatch("mig", map[string]string{"tenant": "acme"}, nil, "", wo)
	if err != nil {
		t.Fatal(err)
	}
	if d1.EvalID == "" || d1.JobCreateIndex == 0 {
		t.Errorf("dispatch: got %+v; want an evaluation and the child's create index", d1)
	}
	child := waitJobStatus(t, c, ns, d1.DispatchedJobID, "dead")
	if deref(child.ParentID) != "mig" || deref(child.DispatchIdempotencyToken) != wo.IdempotencyToken || !child.Dispatched ||
		child.Meta["tenant"] != "acme" || *child.Version != 0 {
		t.Errorf("child: got parent %q token %q dispatched %v meta %v version %d; want parent mig, the token, dispatched, tenant=acme, version 0",
			deref(child.ParentID), deref(child.DispatchIdempotencyToken), child.Dispatched, child.Meta, *child.Version)
	}
	// The token keeps naming its child after the child is dead, for as long as the child exists.
	d2, _, err := c.Jobs().Dispatch("mig", map[string]string{"tenant": "acme"}, nil, "", wo)
	if err != nil || d2.DispatchedJobID != d1.DispatchedJobID || d2.EvalID != "" || d2.JobCreateIndex != d1.JobCreateIndex {
		t.Errorf("same token after the child is dead: got %+v, %v; want the same child, no evaluation", d2, err)
	}
	list, _, err := c.Jobs().List(&api.QueryOptions{Namespace: ns, Prefix: "mig/dispatch-"})
	if err != nil || len(list) != 1 {
		t.Errorf("children listed by prefix: got %d, %v; want 1", len(list), err)
	}
	sum, _, err := c.Jobs().Summary("mig", q)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Children == nil || sum.Children.Dead != 1 || sum.Children.Pending+sum.Children.Running != 0 {
		t.Errorf("parent summary children: got %+v; want 1 dead", sum.Children)
	}
	if parent, _, err := c.Jobs().Info("mig", q); err != nil || *parent.Status != "running" {
		t.Errorf("parameterized parent: got %v; want status running", err)
	}
	if _, _, err := c.Jobs().Deregister("mig", false, wo); err != nil {
		t.Fatal(err)
	}
	wo.IdempotencyToken = ""
	if _, _, err := c.Jobs().Dispatch("mig", map[string]string{"tenant": "acme"}, nil, "", wo); statusCode(err) != 500 ||
		!strings.Contains(err.Error(), `Specified job "mig" is stopped`) {
		t.Errorf("dispatch of a stopped parent: got %v; want HTTP 500 Specified job \"mig\" is stopped", err)
	}
}

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}

// testDeploymentShape: the fields of a successful deployment, of the job's evaluations and allocation.
func testDeploymentShape(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, nil)
	_, resp := register(t, c, ns, serviceHCL(ns, "shape"), "")
	d := waitDeployment(t, c, ns, "shape", api.DeploymentStatusSuccessful)
	j, _, err := c.Jobs().Info("shape", &api.QueryOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if *j.Status != "running" || !*j.Stable || d.JobSpecModifyIndex != *j.JobModifyIndex || d.JobModifyIndex != *j.JobModifyIndex ||
		d.JobCreateIndex != *j.CreateIndex || resp.JobModifyIndex != *j.JobModifyIndex || d.StatusDescription != "Deployment completed successfully" {
		t.Errorf("got job %s stable %v indexes %d/%d, deployment %q indexes spec %d modify %d create %d, answer %d; want them to agree",
			*j.Status, *j.Stable, *j.JobModifyIndex, *j.CreateIndex, d.StatusDescription, d.JobSpecModifyIndex, d.JobModifyIndex, d.JobCreateIndex, resp.JobModifyIndex)
	}
	if st := d.TaskGroups["app"]; st == nil || st.DesiredTotal != 1 || st.PlacedAllocs != 1 || st.HealthyAllocs != 1 || st.UnhealthyAllocs != 0 {
		t.Errorf("got group state %+v; want 1 desired, placed, healthy", st)
	}
	// After the deployment succeeds, Nomad's deployment watcher evaluates the job once more, with no job
	// modify index; the registration's evaluation carries the deployment's ID too.
	evs, _, err := c.Jobs().Evaluations("shape", &api.QueryOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	byTrigger := map[string]*api.Evaluation{}
	for _, e := range evs {
		byTrigger[e.TriggeredBy] = e
	}
	reg, watch := byTrigger["job-register"], byTrigger["deployment-watcher"]
	if len(evs) != 2 || reg == nil || watch == nil || reg.DeploymentID != d.ID || watch.DeploymentID != d.ID ||
		watch.JobModifyIndex != 0 || reg.JobModifyIndex != *j.JobModifyIndex || watch.Status != api.EvalStatusComplete {
		for _, e := range evs {
			t.Logf("eval %s: %s %s jmi %d deployment %q", e.ID, e.TriggeredBy, e.Status, e.JobModifyIndex, e.DeploymentID)
		}
		t.Errorf("got %d evaluations; want job-register and deployment-watcher, both with the deployment", len(evs))
	}
	al, _, err := c.Jobs().Allocations("shape", false, &api.QueryOptions{Namespace: ns})
	if err != nil || len(al) != 1 {
		t.Fatalf("got %d allocations, %v; want 1", len(al), err)
	}
	if a := al[0]; a.Name != "shape.app[0]" || a.ClientDescription != "Tasks are running" || a.DeploymentStatus == nil ||
		a.DeploymentStatus.Healthy == nil || !*a.DeploymentStatus.Healthy {
		t.Errorf("got allocation %s %q health %+v; want shape.app[0], Tasks are running, healthy", a.Name, a.ClientDescription, a.DeploymentStatus)
	}
	// A stop leaves the successful deployment as the latest.
	if _, _, err := c.Jobs().Deregister("shape", false, &api.WriteOptions{Namespace: ns}); err != nil {
		t.Fatal(err)
	}
	waitJobStatus(t, c, ns, "shape", "dead")
	if d2, _, err := c.Jobs().LatestDeployment("shape", &api.QueryOptions{Namespace: ns}); err != nil || d2.ID != d.ID || d2.Status != api.DeploymentStatusSuccessful {
		t.Errorf("latest deployment after a stop: got %+v, %v; want the successful one", d2, err)
	}
}

// testHostVolumes: a dynamic host volume (mkdir plugin) is created pending and becomes ready; deleting
// its namespace is allowed; deleting it twice is an error.
func testHostVolumes(t *testing.T, tg Target) {
	c := tg.Client
	ns := namespace(t, tg, nil)
	wo := &api.WriteOptions{Namespace: ns}
	req := &api.HostVolumeCreateRequest{Volume: &api.HostVolume{
		Namespace: ns, Name: "data", PluginID: "mkdir", NodePool: "default",
		RequestedCapabilities: []*api.HostVolumeCapability{{
			AttachmentMode: api.HostVolumeAttachmentModeFilesystem,
			AccessMode:     api.HostVolumeAccessModeSingleNodeWriter,
		}},
	}}
	resp, _, err := c.HostVolumes().Create(req, wo)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	v := resp.Volume
	if v.State != api.HostVolumeStatePending || v.ID == "" || v.NodeID == "" || v.HostPath == "" {
		t.Errorf("created: got state %s id %q node %q path %q; want pending with an id, a node and a path", v.State, v.ID, v.NodeID, v.HostPath)
	}
	waitFor(t, "volume ready", func(q *api.QueryOptions) (bool, uint64, error) {
		q.Namespace = ns
		got, m, err := c.HostVolumes().Get(v.ID, q)
		if err != nil {
			return false, 0, err
		}
		return got.State == api.HostVolumeStateReady, m.LastIndex, nil
	})
	list, _, err := c.HostVolumes().List(&api.HostVolumeListRequest{}, &api.QueryOptions{Namespace: ns})
	if err != nil || len(list) != 1 || list[0].Name != "data" {
		t.Errorf("list: got %d, %v; want the volume", len(list), err)
	}
	// A namespace with a host volume can be deleted; the volume stays, and can still be deleted.
	if _, err := c.Namespaces().Delete(ns, nil); err != nil {
		t.Errorf("delete a namespace with a host volume: %v", err)
	}
	if _, _, err := c.HostVolumes().Create(req, wo); statusCode(err) != 500 || !strings.Contains(err.Error(), "volume validation failed: no such namespace") {
		t.Errorf("create in a deleted namespace: got %v; want HTTP 500 volume validation failed: no such namespace", err)
	}
	if _, _, err := c.HostVolumes().Delete(&api.HostVolumeDeleteRequest{ID: v.ID}, wo); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, _, err := c.HostVolumes().Get(v.ID, &api.QueryOptions{Namespace: ns}); statusCode(err) != 404 {
		t.Errorf("get after delete: got %v; want 404", err)
	}
	if _, _, err := c.HostVolumes().Delete(&api.HostVolumeDeleteRequest{ID: v.ID}, wo); statusCode(err) != 500 || !strings.Contains(err.Error(), "no such volume: "+v.ID) {
		t.Errorf("delete again: got %v; want HTTP 500 no such volume", err)
	}
}
