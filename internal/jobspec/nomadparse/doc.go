// Package nomadparse holds only tests: they parse every rendered jobspec of
// both profiles with the Nomad double's parser (internal/nomadtest/jobhcl),
// which mirrors Nomad's /v1/jobs/parse. It is kept apart from
// internal/jobspec so that work in progress on the double never breaks the
// jobspec tests.
package nomadparse
