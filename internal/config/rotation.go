package config

import (
	"fmt"
	"time"
)

// What must fit between the moment Nomad's template runner fetches a
// credential's successor from Vault and the moment Vault revokes the old one
// (at its lease's expiry), so that no request and no worker batch ever runs
// on a revoked user. docs/vault.md, "Rotation without failed requests", gives
// the argument; tests keep each constant equal to the code it stands for.
const (
	// TemplateWaitMax is the `wait { max }` of the app's and worker's
	// credential templates: the longest a fetched credential waits before
	// the template writes it and signals the task.
	TemplateWaitMax = 2 * time.Second
	// ReloadTimeout is how long the app takes at most to prove that the new
	// credentials serve before it makes them current (app.ReloadTimeout).
	ReloadTimeout = 5 * time.Second
	// HoldMax is the longest a request or a worker batch keeps using the
	// connections it started with: a request's 10 s timeout; a worker's
	// read (1 s) and batch (10 s) are 11 s.
	HoldMax = 11 * time.Second
	// RotationAllowance covers Vault's and Postgres's round trips, Vault's
	// whole-second lease durations, and clock differences between Vault
	// (which computes a Postgres user's VALID UNTIL) and Postgres.
	RotationAllowance = 2 * time.Second
)

// RotationBudget is the time a rotation needs between the fetch of the new
// credential and the expiry of the old one: 20 s.
func RotationBudget() time.Duration {
	return TemplateWaitMax + ReloadTimeout + HoldMax + RotationAllowance
}

// RenewalMargin is the least time Nomad's template runner (consul-template
// with Vault's lifetime watcher, as in Nomad 2.0.5) leaves between fetching
// a credential's successor and the expiry of the credential's lease, for
// leases issued with ttl and renewable up to maxTTL.
//
// The watcher renews a lease, then sleeps 2/3 of the duration the renewal
// returned plus a third of its grace g, a random value in [0.1, 0.2) of the
// lease's first duration (ttl); it stops renewing, and the runner fetches a
// new credential, once a returned duration is within g or would be after the
// next sleep. Every sleep it does take leaves more than g, so a new
// credential is fetched with more than ttl/10 left. When maxTTL equals ttl
// the first renewal already returns the capped duration, so the second (the
// last) comes after (ttl-g)/3, more than 4/15 of ttl before the expiry.
func RenewalMargin(ttl, maxTTL time.Duration) time.Duration {
	if maxTTL <= ttl {
		return ttl * 4 / 15
	}
	return ttl / 10
}

// checkRotation refuses credential TTLs that leave less than the rotation
// budget, for which Nomad could write a new credential after the old one was
// revoked.
func checkRotation(ttl, maxTTL time.Duration) error {
	margin, need := RenewalMargin(ttl, maxTTL), RotationBudget()
	if margin >= need {
		return nil
	}
	// The shortest TTLs that are safe: equal TTLs, or a longer max.
	equal := (need*15 + 3) / 4
	longer := need * 10
	return &Error{Field: "vault.creds_ttl", Value: ttl.String() + " (creds_max_ttl " + maxTTL.String() + ")",
		Reason: fmt.Sprintf("Nomad fetches a credential's successor as little as %s before it expires, and rotating "+
			"without failed requests needs %s (template wait, app reload, the longest request, allowance; docs/vault.md)",
			margin.Round(time.Millisecond), need),
		Example: fmt.Sprintf(`creds_ttl = "%ds" with creds_max_ttl = "24h", or creds_ttl = creds_max_ttl = "%ds"`,
			seconds(longer), seconds(equal))}
}

// seconds is d in whole seconds, rounded up.
func seconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}
