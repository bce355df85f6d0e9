package nomad

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
)

func TestParseErrorSurfacedWithPosition(t *testing.T) {
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	bad := "job \"bad\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n      resources { cpu = 50 memory = 64 }\n    }\n  }\n}\n"
	_, err := c.Parse(context.Background(), []byte(bad), "")
	if err == nil {
		t.Fatal("got no error; want a parse error")
	}
	if !strings.Contains(err.Error(), "input.hcl:5,") {
		t.Errorf("got %q; want Nomad's input.hcl:5,COL position", err)
	}
	if got := exit.CodeOf(err); got != exit.Usage {
		t.Errorf("got exit code %d; want %d (usage)", got, exit.Usage)
	}
	if exit.HintOf(err) == "" {
		t.Errorf("got no remedy; want one")
	}
}

func TestParseUsesVarFile(t *testing.T) {
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	job, err := c.Parse(context.Background(), []byte(serviceSrc("default", "web")), "greeting = \"bonjour\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := job.TaskGroups[0].Tasks[0].Env["GREETING"]; got != "bonjour" {
		t.Errorf("got GREETING %q; want %q from the var file", got, "bonjour")
	}
}

func TestApplyNewJobRegistersWithSubmission(t *testing.T) {
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	mustNamespace(t, c, "acme--tenant")
	src, vars := serviceSrc("acme--tenant", "acme--app"), "greeting = \"hi\"\n"
	res := applied(t, c, src, vars)
	if !res.Changed || res.Plan.DiffType != "Added" || res.EvalID == "" || res.JobModifyIndex == 0 {
		t.Errorf("got %+v; want changed, Added, an eval and an index", res)
	}
	if !strings.Contains(res.Warnings, "shutdown_delay") {
		t.Errorf("got warnings %q; want Nomad's shutdown_delay warning passed on", res.Warnings)
	}
	sub, _, err := srv.Client().Jobs().Submission("acme--app", 0, &api.QueryOptions{Namespace: "acme--tenant"})
	if err != nil {
		t.Fatalf("read submission: %v", err)
	}
	if sub.Source != src || sub.Variables != vars || sub.Format != "hcl2" {
		t.Errorf("got submission %q / %q / %q; want the source, the var file and hcl2", sub.Source, sub.Variables, sub.Format)
	}
}

func TestApplyIdenticalJobMakesZeroWrites(t *testing.T) {
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	mustNamespace(t, c, "acme--tenant")
	src := serviceSrc("acme--tenant", "acme--app")
	first := applied(t, c, src, "")
	if err := c.WaitDeployment(ctxFor(t, waitLimit), "acme--tenant", "acme--app", first.JobModifyIndex); err != nil {
		t.Fatal(err)
	}
	before := srv.Writes()
	again := applied(t, c, src, "")
	if again.Changed || again.Plan.DiffType != DiffNone {
		t.Errorf("got changed=%v diff=%s; want unchanged, None", again.Changed, again.Plan.DiffType)
	}
	if again.JobModifyIndex != first.JobModifyIndex {
		t.Errorf("got job modify index %d; want %d (the registered version)", again.JobModifyIndex, first.JobModifyIndex)
	}
	if got := srv.Writes(); got != before {
		t.Errorf("got %d writes; want %d (none)", got, before)
	}
	// The converged job's deployment is found at once.
	if err := c.WaitDeployment(ctxFor(t, waitLimit), "acme--tenant", "acme--app", again.JobModifyIndex); err != nil {
		t.Errorf("wait on converged job: %v", err)
	}
}

func TestApplyEditedCountsInPlaceAndDestructive(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		vars                 string
		inPlace, destructive uint64
	}{
		{"service tags change in place", "tags = [\"v2\"]\n", 1, 0},
		{"env change replaces the allocation", "greeting = \"bonjour\"\n", 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := nomadtest.New(t)
			c := newClient(t, srv, "")
			mustNamespace(t, c, "acme--tenant")
			src := serviceSrc("acme--tenant", "acme--app")
			first := applied(t, c, src, "")
			if err := c.WaitDeployment(ctxFor(t, waitLimit), "acme--tenant", "acme--app", first.JobModifyIndex); err != nil {
				t.Fatal(err)
			}
			job, err := c.Parse(context.Background(), []byte(src), tc.vars)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := c.Plan(context.Background(), job)
			if err != nil {
				t.Fatal(err)
			}
			if !plan.Changed() || plan.DiffType != "Edited" {
				t.Errorf("got plan changed=%v diff=%s; want changed, Edited", plan.Changed(), plan.DiffType)
			}
			if sum := plan.Totals(); sum.InPlace != tc.inPlace || sum.Destructive != tc.destructive {
				t.Errorf("got in-place %d, destructive %d; want %d, %d", sum.InPlace, sum.Destructive, tc.inPlace, tc.destructive)
			}
			before := srv.Writes()
			res, err := c.Apply(context.Background(), job, []byte(src), tc.vars)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Changed || srv.Writes() != before+1 {
				t.Errorf("got changed=%v, %d writes; want changed, one write", res.Changed, srv.Writes()-before)
			}
			if err := c.WaitDeployment(ctxFor(t, waitLimit), "acme--tenant", "acme--app", res.JobModifyIndex); err != nil {
				t.Errorf("wait for the edited version: %v", err)
			}
			// WaitDeployment returns on the healthy counts; Nomad marks the
			// deployment successful a second or so later.
			if err := c.awaitDeploymentEnd(ctxFor(t, waitLimit), "acme--tenant", "acme--app"); err != nil {
				t.Fatal(err)
			}
			st, err := c.JobStatus(context.Background(), "acme--tenant", "acme--app")
			if err != nil {
				t.Fatal(err)
			}
			if st.Version != 1 || st.Deployment != api.DeploymentStatusSuccessful || st.ByClientStatus[api.AllocClientStatusRunning] != 1 {
				t.Errorf("got status version %d, deployment %q, %v; want version 1, successful, 1 running", st.Version, st.Deployment, st.ByClientStatus)
			}
		})
	}
}

// raceTransport registers a competing version of the job just before the
// adapter's own registration reaches Nomad.
type raceTransport struct {
	once sync.Once
	race func()
}

func (rt *raceTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.URL.Path == "/v1/jobs" {
		rt.once.Do(rt.race)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestApplyConcurrentEditFailsClearly(t *testing.T) {
	for _, existing := range []bool{false, true} {
		name := map[bool]string{false: "new job", true: "existing job"}[existing]
		t.Run(name, func(t *testing.T) {
			srv := nomadtest.New(t)
			other := srv.Client()
			setup := newClient(t, srv, "")
			mustNamespace(t, setup, "acme--tenant")
			src := serviceSrc("acme--tenant", "acme--app")
			if existing {
				applied(t, setup, src, "")
			}
			rt := &raceTransport{race: func() {
				j, err := other.Jobs().ParseHCLOpts(&api.JobsParseRequest{JobHCL: src, Variables: "greeting = \"other\"\n", Canonicalize: true})
				if err != nil {
					t.Errorf("race parse: %v", err)
					return
				}
				if _, _, err := other.Jobs().Register(j, &api.WriteOptions{Namespace: "acme--tenant"}); err != nil {
					t.Errorf("race register: %v", err)
				}
			}}
			c, err := New(Config{Address: srv.Addr(), HTTPClient: &http.Client{Transport: rt}})
			if err != nil {
				t.Fatal(err)
			}
			job, err := c.Parse(context.Background(), []byte(src), "tags = [\"mine\"]\n")
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Apply(context.Background(), job, []byte(src), "tags = [\"mine\"]\n")
			if !errors.Is(err, ErrConflict) {
				t.Fatalf("got %v; want ErrConflict", err)
			}
			if !strings.Contains(err.Error(), "acme--app") || exit.HintOf(err) == "" {
				t.Errorf("got %q (hint %q); want the job named and a remedy", err, exit.HintOf(err))
			}
		})
	}
}

func TestDeregisterIdempotent(t *testing.T) {
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	mustNamespace(t, c, "acme--tenant")
	res := applied(t, c, serviceSrc("acme--tenant", "acme--app"), "")
	ctx := ctxFor(t, waitLimit)
	if err := c.WaitDeployment(ctx, "acme--tenant", "acme--app", res.JobModifyIndex); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		purge, want bool
	}{{false, true}, {false, false}, {true, true}, {true, false}} {
		changed, err := c.Deregister(ctx, "acme--tenant", "acme--app", tc.purge)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if changed != tc.want {
			t.Errorf("step %d (purge=%v): got changed=%v; want %v", i, tc.purge, changed, tc.want)
		}
	}
	jobs, err := c.ListJobs(ctx, "acme--tenant", "acme--")
	if err != nil || len(jobs) != 0 {
		t.Errorf("got jobs %v, %v; want none after purge", jobs, err)
	}
}

func TestApplyRegisterFaultIsAnError(t *testing.T) {
	srv := nomadtest.New(t)
	c := newClient(t, srv, "")
	mustNamespace(t, c, "acme--tenant")
	srv.Fault("PUT /v1/jobs", 1, nomadtest.FaultError)
	src := serviceSrc("acme--tenant", "acme--app")
	job, err := c.Parse(context.Background(), []byte(src), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(context.Background(), job, []byte(src), ""); err == nil || errors.Is(err, ErrConflict) {
		t.Fatalf("got %v; want the server error", err)
	}
	// Nothing was registered, so a retry converges.
	if res := applied(t, c, src, ""); !res.Changed || res.Plan.DiffType != "Added" {
		t.Errorf("got %+v; want the retry to register the job", res)
	}
}
