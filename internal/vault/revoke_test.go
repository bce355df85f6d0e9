package vault_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/vault"
)

// TestStagedRotationKeepsNewCredentials is rotate's zero-downtime order:
// rotate the roots, snapshot the leases, let workloads take new credentials,
// then revoke only the snapshot. Credentials issued after the snapshot keep
// working; those before it stop.
func TestStagedRotationKeepsNewCredentials(t *testing.T) {
	e := newEnv(t)
	s := e.startTenant("stage")
	other := e.startTenant("stage-corp")
	ctx := context.Background()

	oldPG, oldPGPass, _ := e.creds(s.names.DBRoleApp)
	oldRD, oldRDPass, _ := e.creds(s.names.RedisRoleApp)
	otherPG, otherPGPass, _ := e.creds(other.names.DBRoleApp)

	rep, err := e.client.RotateRoots(ctx, s.names)
	e.check(err)
	if len(rep.Rotated) != 2 || len(rep.Leases) != 0 {
		t.Fatalf("RotateRoots = %+v; want both connections rotated and no lease revoked", rep)
	}
	// Rotating the roots leaves dynamic credentials alone.
	e.mustPG(s, oldPG, oldPGPass)

	before, err := e.client.ListLeases(ctx, s.names)
	e.check(err)
	if got := len(before[s.names.DBRoleApp]) + len(before[s.names.RedisRoleApp]); got != 2 {
		t.Fatalf("leases before = %v; want the app's postgres and redis leases", before)
	}
	for role, ids := range before {
		for _, id := range ids {
			if !strings.HasPrefix(id, "database/creds/"+role+"/") {
				t.Fatalf("lease %q listed under %s", id, role)
			}
		}
	}

	newPG, newPGPass, _ := e.creds(s.names.DBRoleApp)
	newRD, newRDPass, _ := e.creds(s.names.RedisRoleApp)

	revoked, err := e.client.RevokeLeases(ctx, s.names, before)
	e.check(err)
	total := 0
	for _, r := range revoked {
		total += r.Revoked
	}
	if total != 2 {
		t.Fatalf("revoked = %+v; want exactly the 2 leases of the snapshot", revoked)
	}
	if c, err := pgConnect(s, oldPG, oldPGPass); err == nil {
		c.Close(ctx)
		t.Errorf("postgres creds from before the snapshot: connected; want refused")
	}
	if err := e.redisAs(s, oldRD, oldRDPass).Ping(ctx).Err(); err == nil {
		t.Errorf("redis creds from before the snapshot: PONG; want refused")
	}
	e.mustPG(s, newPG, newPGPass)
	if err := e.redisAs(s, newRD, newRDPass).Ping(ctx).Err(); err != nil {
		t.Errorf("redis creds issued after the snapshot: %v; want them to work", err)
	}
	// The tenant sharing the prefix is untouched.
	e.mustPG(other, otherPG, otherPGPass)

	// Revoking the same snapshot again is harmless.
	if _, err := e.client.RevokeLeases(ctx, s.names, before); err != nil {
		t.Errorf("second RevokeLeases: %v; want no error for leases already gone", err)
	}
	// A lease of another tenant is refused.
	foreign := vault.Leases{s.names.DBRoleApp: {"database/creds/" + other.names.DBRoleApp + "/x"}}
	if _, err := e.client.RevokeLeases(ctx, s.names, foreign); err == nil {
		t.Errorf("RevokeLeases of another tenant's lease: no error; want refusal")
	}
}

// TestLeaseInfos lists the credentials a tenant's workloads hold, as status
// shows them: role, issue and expiry time, and nothing secret.
func TestLeaseInfos(t *testing.T) {
	e := newEnv(t)
	s := e.startTenant("leases")
	other := e.startTenant("leases-corp")
	ctx := context.Background()
	_, pgPass, _ := e.creds(s.names.DBRoleApp)
	_, rdPass, _ := e.creds(s.names.RedisRoleWorker)
	e.creds(other.names.DBRoleApp)

	infos, err := e.client.LeaseInfos(ctx, s.names)
	e.check(err)
	roles := map[string]int{}
	for _, l := range infos {
		roles[l.Role]++
		if l.Issued.IsZero() || !l.Expires.After(l.Issued) || len(l.Lease) == 0 || len(l.Lease) > 8 {
			t.Errorf("lease %+v: want an issue time, a later expiry and a short id", l)
		}
	}
	if len(infos) != 2 || roles[s.names.DBRoleApp] != 1 || roles[s.names.RedisRoleWorker] != 1 {
		t.Errorf("LeaseInfos = %+v; want the app's postgres and the worker's redis lease only", infos)
	}
	text := fmt.Sprintf("%+v", infos)
	for _, sec := range []string{pgPass, rdPass} {
		if strings.Contains(text, sec) {
			t.Errorf("LeaseInfos holds a password")
		}
	}
}
