// Package provisiontest is the test harness of tenantctl's provisioning: the
// one way the provision tests, the CLI's end-to-end tests and the opt-in
// real-Nomad suite bring tenants up and look at what exists. It is test
// support: only tests import it.
//
// New starts (or reuses, under testenv.Run) a real Vault and Consul and puts
// a counting, fault-injecting reverse proxy in front of each for tenantctl's
// own requests (the tasks talk to the servers directly), runs `cluster init`
// against them and builds the provision.Env the CLI would build: adapters
// over the proxies, the read-only Vault for the converged check, the embedded
// jobspecs and migrations, the exec profile.
//
// # The Nomad seam
//
// The Nomad side is a Nomad (see that interface): what tenantctl's Nomad
// address is, where Vault's jwt auth finds the workload-identity keys, an API
// client for the tests' own reads, what must happen before a tenant's jobs
// run (AddTenant) and how a test reaches a tenant's Postgres (Postgres).
//
// By default it is the in-repo double (internal/nomadtest) with task hooks:
// the double schedules the jobs, and for each task the harness starts what
// the jobspec would run — the tenant's own Postgres (initialised with the
// bootstrap password its template reads), a per-tenant admin user on a
// shared Redis, the migration runner and the reference app and worker, each
// reading its credentials from the real Vault with the workload identity the
// double minted for it. Tests that need the double's fault injection or
// scripts ask for it with Double.
//
// The opt-in real-Nomad suite passes WithNomad with a Nomad over a real agent
// it started (configured with the Servers' Consul and Vault addresses): the
// agent runs the jobspecs itself with raw_exec, AddTenant has nothing to do,
// and Postgres reaches the tenant's Postgres that Nomad runs. WithConfig sets
// the exec profile's host binaries for it.
package provisiontest
