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
// one all-powerful token; allocations without a deployment are marked
// healthy at once (Nomad waits for the migrate strategy's min_healthy_time);
// task exit codes of a stop are 0. Enforce-index conflicts are HTTP 500 with
// Nomad's "Enforcing job modify index …" text, as Nomad answers plain RPC
// errors.
//
// What it answers was checked against a real Nomad 2.0.5 dev agent (with
// Consul 1.14.11 and Vault 1.13.0) by the contract suite in package contract,
// which runs the same assertions against this double and, when
// TENANTCTL_TEST_NOMAD_ADDR is set, against a real agent. Verified on 2.0.5:
// /v1/jobs/parse (exact error texts and whole parsed jobs, see jobhcl);
// plans (diff types, in-place versus destructive updates for 18 kinds of
// change, desired updates, the plan's JobModifyIndex); registration
// (versions, submissions, enforce-index conflicts, warnings, an unchanged
// register writing nothing); stops (a new version every time, keeping the
// submission) and purges; deregistering a missing job (success, no
// evaluation); dispatch (refusals as HTTP 500, child IDs, a token naming
// its child for as long as the child exists); deployments, evaluations
// (including the deployment watcher's) and allocation and task-event
// shapes; allocation stop (replacement linked both ways); scaling a group
// (/v1/job/:id/scale: a new version with its deployment, new allocations at
// the lowest free name indices, a smaller count stopping the highest, a plan
// of the source None again afterwards; refused with HTTP 400 while the
// latest deployment is active, which it stays for a second after every
// allocation counts healthy, as Nomad's deployment watcher batches its
// evaluation); blocking queries;
// namespace deletion (refused with non-terminal jobs, allowed with stopped
// jobs or host volumes, "namespace not found" when missing); dynamic host
// volumes (pending, then ready). Cases that need scripting only the double
// offers (task failures, placement failures, HTTP faults) run against the
// double only.
package nomadtest
