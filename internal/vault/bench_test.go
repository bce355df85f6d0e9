package vault_test

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkProvisionTenant measures provisioning one new tenant's Vault
// objects as `up` does: ensureIdentity (bootstrap secret, policy, JWT role)
// and ensureCredentials (Postgres connection with database bootstrap and
// root rotation and three roles; Redis connection with root rotation and two
// roles). What the tenant's jobs do on first boot (setting the admin
// passwords, creating the database) is outside the timer.
func BenchmarkProvisionTenant(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	stack := e.startTenant("bench")
	admin := e.redisAs(stack, stack.redis.AdminUser, stack.redis.AdminPassword)
	observer := e.observe(stack)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		n := mustNames(b, fmt.Sprintf("bench%d", i))
		s := &tenantStack{names: n, pg: stack.pg, redis: stack.redis}
		if _, err := ensureIdentity(ctx, e.client, n); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		sec, err := e.root.KVv2("tenantctl").Get(ctx, n.BootstrapPath)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := observer.Exec(ctx, fmt.Sprintf("ALTER ROLE postgres WITH PASSWORD '%s'", sec.Data["postgres_password"])); err != nil {
			b.Fatal(err)
		}
		// The Postgres jobs create the tenant database on first boot
		// (POSTGRES_DB, or createdb in the exec profile).
		if _, err := observer.Exec(ctx, "CREATE DATABASE "+n.Database); err != nil {
			b.Fatal(err)
		}
		if err := admin.Do(ctx, "ACL", "SETUSER", n.RedisAdminUser, "on", ">"+sec.Data["redis_password"].(string), "~*", "&*", "+@all").Err(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := ensureCredentials(ctx, e.client, n, s.pgAddr(), s.redisAddr()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConvergedTenant measures checking a converged tenant: reads only.
func BenchmarkConvergedTenant(b *testing.B) {
	e := newEnv(b)
	s := e.startTenant("bench")
	before := e.writes.Load()
	for b.Loop() {
		e.converge(s)
	}
	if w := e.writes.Load() - before; w != 0 {
		b.Fatalf("converged tenant: %d writes; want 0", w)
	}
}
