package nomadtest_test

import (
	"io"
	"testing"

	"github.com/hashicorp/nomad/api"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
)

func TestScriptedBatchFailureWithLogsAndEvents(t *testing.T) {
	srv := nomadtest.New(t)
	c := srv.Client()
	srv.Script("default", "migrate", "main", nomadtest.Outcome{
		Fail: true, ExitCode: 4,
		Events: []*api.TaskEvent{{Type: "Template", DisplayMessage: "Missing: vault.read(database/creds/migrate)"}},
		Stdout: "applying 0003\n", Stderr: "line1\nline2\nERROR: relation exists\n",
	})
	job := batchJob("default", "migrate")
	job.ParameterizedJob = &api.ParameterizedJobConfig{}
	if _, _, err := c.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	d, _, err := c.Jobs().Dispatch("migrate", nil, nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitJobStatus(t, c, "default", d.DispatchedJobID, "dead")
	allocs, _, err := c.Jobs().Allocations(d.DispatchedJobID, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(allocs) != 1 || allocs[0].ClientStatus != "failed" {
		t.Fatalf("got %d allocs, first %s; want one failed", len(allocs), allocs[0].ClientStatus)
	}
	ts := allocs[0].TaskStates["main"]
	types := []string{}
	var exit int
	for _, ev := range ts.Events {
		types = append(types, ev.Type)
		if ev.Type == api.TaskTerminated {
			exit = ev.ExitCode
		}
	}
	want := []string{"Received", "Task Setup", "Started", "Template", "Terminated", "Not Restarting"}
	if len(types) != len(want) {
		t.Fatalf("got events %v; want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("got events %v; want %v", types, want)
		}
	}
	if exit != 4 || !ts.Failed {
		t.Errorf("got exit %d failed %v; want 4 and failed", exit, ts.Failed)
	}
	resp, err := c.Raw().Response("/v1/client/fs/logs/"+allocs[0].ID+"?task=main&type=stderr&plain=true&origin=end&offset=23", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	tail, err := io.ReadAll(resp)
	if err != nil {
		t.Fatal(err)
	}
	if string(tail) != "ERROR: relation exists\n" {
		t.Errorf("got tail %q; want the last 23 bytes of stderr", tail)
	}
}
