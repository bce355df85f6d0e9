// Package nomadtest is a test double of Nomad's HTTP API for tenantctl's
// tests. It is not a scheduler: there are no drivers and no task ever really
// executes. An httptest server answers the endpoints tenantctl uses with the
// JSON shapes of github.com/hashicorp/nomad/api, keeps its state in memory
// behind a monotonically increasing Raft-like index, honours blocking queries,
// and simulates what a scheduler would report: evaluations, allocations that go
// pending → running → healthy (or complete, or failed), and deployments.
//
// Tests script outcomes per job and task (Script), inject faults on the Nth
// call to an endpoint (Fault), attach task hooks that run when an allocation
// starts (OnTask, for example to start a real Postgres from the test harness),
// and optionally have running allocations' services registered in a real
// Consul agent (WithConsul). Workload-identity JWTs are minted by
// IdentitySigner and verifiable against the server's /.well-known/jwks.json.
//
// Known simplifications, each chosen because tenantctl does not depend on it:
// one client node; failed tasks are neither restarted nor rescheduled (the
// allocation fails, and so does its deployment); health comes from the task
// hooks' Ready functions (not from Consul check status); no canaries or
// auto-revert; periodic jobs never launch; log reads do not follow; ACLs are
// one all-powerful token. Enforce-index conflicts are HTTP 500 with Nomad's
// "Enforcing job modify index …" text, as Nomad answers plain RPC errors.
//
// The package follows Nomad's documented HTTP API; the contract tests in
// package contract run the same assertions against this double and, when
// TENANTCTL_TEST_NOMAD_ADDR is set, against a real Nomad agent.
package nomadtest
