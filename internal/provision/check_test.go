package provision_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/provisiontest"
	"github.com/tenantctl/tenantctl/internal/vault"
)

// TestConvergedCheckIsReadOnly drifts a converged tenant where up would
// write to its Postgres: Vault's Postgres connection is gone and the
// bootstrap superuser password works again, so up would prepare the tenant
// database (migrate.PrepareDatabase: owner, grants) before re-creating the
// connection. The converged check reports the drift and writes nothing:
// no Vault, Consul or Nomad write, and the database is not prepared (its
// owner, changed by the test, stays). Up then repairs it.
func TestConvergedCheckIsReadOnly(t *testing.T) {
	const id = "ro-check"
	h := provisiontest.New(t)
	h.AddTenant(id)
	n := provisiontest.Names(t, id)
	ctx := context.Background()
	h.MustUp(id)

	root := h.VaultRoot()
	sec, err := root.KVv2("tenantctl").Get(ctx, n.BootstrapPath)
	if err != nil {
		t.Fatal(err)
	}
	bootstrap, _ := sec.Data[vault.PostgresPasswordKey].(string)
	obs := h.Observe(id, "postgres")
	for _, q := range []string{
		`ALTER ROLE postgres WITH PASSWORD '` + bootstrap + `'`,
		`ALTER DATABASE ` + n.Database + ` OWNER TO tenantctl_test_observer`,
	} {
		if _, err := obs.Exec(ctx, q); err != nil {
			t.Fatalf("drift: %v", err)
		}
	}
	if _, err := root.Logical().Delete("database/config/" + n.DBConnection); err != nil {
		t.Fatal(err)
	}
	owner := func() string {
		var o string
		if err := obs.QueryRow(ctx, `SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1`, n.Database).Scan(&o); err != nil {
			t.Fatal(err)
		}
		return o
	}

	nomadW, vaultW, consulW := h.Double().Writes(), h.VaultProxy().Writes(), h.ConsulProxy().Writes()
	h.VaultProxy().RecordWrites()
	why, err := provision.ConvergedCheck(ctx, h.Env(), provisiontest.Spec(t, id))
	if err != nil {
		t.Fatalf("converged check: %v", err)
	}
	if !strings.Contains(why, "postgres") {
		t.Errorf("converged check: got %q; want the postgres secrets engine reported", why)
	}
	if got := owner(); got != "tenantctl_test_observer" {
		t.Errorf("owner of %s after the check: got %s; want it unchanged (the check prepared the database)", n.Database, got)
	}
	for what, d := range map[string]int64{
		"nomad":  h.Double().Writes() - nomadW,
		"vault":  h.VaultProxy().Writes() - vaultW,
		"consul": h.ConsulProxy().Writes() - consulW,
	} {
		if d != 0 {
			t.Errorf("converged check: got %d %s writes (%s); want 0", d, what, fmt.Sprint(h.VaultProxy().WriteLog()))
		}
	}

	// up repairs it: the database prepared again, the connection back.
	h.MustUp(id)
	if got := owner(); got != n.OwnerRole {
		t.Errorf("owner of %s after up: got %s; want %s", n.Database, got, n.OwnerRole)
	}
	h.AssertAppServes(id)
	if res, err := h.Up(ctx, id); err != nil || !res.NoChanges {
		t.Errorf("up after the repair: got NoChanges=%v, %v; want converged", res.NoChanges, err)
	}
}

// TestConvergedCheckWaitsOutSlowReads: a Consul that answers slowly, as on a
// machine loaded by a fleet apply, does not make a converged tenant look
// changed. The check's Vault part once read the data services' addresses
// with a one-second limit and took a slow answer for "no passing instance",
// so a converged fleet was partly re-applied.
func TestConvergedCheckWaitsOutSlowReads(t *testing.T) {
	const id = "slow-reads"
	h := provisiontest.New(t)
	h.AddTenant(id)
	n := provisiontest.Names(t, id)
	ctx := context.Background()
	h.MustUp(id)
	h.WaitPassing(id)
	for _, svc := range []string{n.ServicePostgres, n.ServiceRedis} {
		h.ConsulProxy().Delay(t.Name(), 8, 1500*time.Millisecond, provisiontest.PathContains("GET", "/v1/health/service/"+svc))
	}
	why, err := provision.ConvergedCheck(ctx, h.Env(), provisiontest.Spec(t, id))
	if err != nil || why != "" {
		t.Fatalf("converged check with Consul answering in 1.5 s: got %q, %v; want no difference", why, err)
	}
}

// TestConvergedCheckPlansOnlyMovedJobs: the record of a converged up holds
// every job's modify index and the Nomad version, and the converged check
// parses and plans no job Nomad still holds at its recorded index. A job
// someone changed outside tenantctl (here the app, registered again with an
// extra meta key) is planned and reported; after up repairs it, nothing is
// planned again. Another Nomad version plans every job.
func TestConvergedCheckPlansOnlyMovedJobs(t *testing.T) {
	const id = "ledger"
	h := provisiontest.New(t)
	h.AddTenant(id)
	n := provisiontest.Names(t, id)
	ctx := context.Background()
	h.MustUp(id)
	h.WaitPassing(id)
	env := h.Env()

	rec, err := env.Consul.ReadRecord(ctx, n.KVPrefix)
	if err != nil || rec == nil {
		t.Fatalf("record: %v, %v", rec, err)
	}
	jobs := []string{n.JobPostgres, n.JobRedis, n.JobMigrate, n.JobApp, n.JobWorker, n.JobBackup, n.JobRestore}
	idx := rec.JobIndexes()
	for _, j := range jobs {
		if idx[j] == 0 {
			t.Errorf("record jobs %q: no index for %s", rec.Jobs, j)
		}
	}
	if len(idx) != len(jobs) || rec.Nomad == "" {
		t.Fatalf("record: got jobs %q, nomad %q; want the %d jobs and the agent's version", rec.Jobs, rec.Nomad, len(jobs))
	}

	planned := func() int {
		return h.Double().Calls("PUT /v1/jobs/parse") + h.Double().Calls("PUT /v1/job/*/plan")
	}
	check := func(what, wantWhy string, wantPlanned int) {
		t.Helper()
		before := planned()
		why, err := provision.ConvergedCheck(ctx, env, provisiontest.Spec(t, id))
		if err != nil {
			t.Fatalf("%s: converged check: %v", what, err)
		}
		if (wantWhy == "" && why != "") || !strings.Contains(why, wantWhy) {
			t.Errorf("%s: got difference %q; want %q", what, why, wantWhy)
		}
		if got := planned() - before; got != wantPlanned {
			t.Errorf("%s: got %d parse and plan requests; want %d", what, got, wantPlanned)
		}
	}
	check("converged", "", 0)

	// A change made with the Nomad CLI or API moves the job's index.
	c := h.Double().Client()
	q := &nomadapi.QueryOptions{Namespace: n.Namespace}
	app, _, err := c.Jobs().Info(n.JobApp, q)
	if err != nil {
		t.Fatal(err)
	}
	app.Meta["changed_by"] = "operator"
	if _, _, err := c.Jobs().Register(app, &nomadapi.WriteOptions{Namespace: n.Namespace}); err != nil {
		t.Fatal(err)
	}
	check("app changed outside tenantctl", "job "+n.JobApp+" has changes", 2) // its parse and its plan

	res := h.MustUp(id)
	if res.NoChanges {
		t.Fatal("up after the app changed: got no changes; want the app re-registered")
	}
	h.WaitPassing(id)
	check("repaired", "", 0)

	// Another Nomad version may parse the same source differently.
	rec, err = env.Consul.ReadRecord(ctx, n.KVPrefix)
	if err != nil {
		t.Fatal(err)
	}
	rec.Nomad = "1.10.0-older"
	if _, err := env.Consul.WriteRecord(ctx, n.KVPrefix, *rec); err != nil {
		t.Fatal(err)
	}
	check("recorded by another Nomad version", "", 2*len(jobs))
}
