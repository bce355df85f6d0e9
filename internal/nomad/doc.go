// Package nomad is tenantctl's one adapter over Nomad's HTTP API
// (github.com/hashicorp/nomad/api).
//
// It follows the design principle "Nomad parses": jobspec source and var-file
// text go to /v1/jobs/parse, and a job is registered together with a job
// submission holding both, so the Nomad UI shows the exact HCL and variables.
// Apply plans first and registers only when the plan shows a change, guarded
// by EnforceIndex, so a converged tenant costs zero writes and a concurrent
// edit fails clearly.
//
// Every wait is a sequence of blocking queries (WaitIndex) bounded by the
// caller's context; none polls on a timer. When a wait fails, the error
// carries a Digest: placement failures from the evaluation, and per
// allocation its client status, restarts and last task events.
//
// Job sources and var-file text are never logged at info level or above.
package nomad
