package vault

import (
	"context"
	"errors"
	"sync"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// EnsureIdentity converges what a tenant needs before any of its workloads
// runs: the bootstrap secret, the policy and the JWT role, concurrently. It
// reports whether anything changed.
func (c *Client) EnsureIdentity(ctx context.Context, n tenant.Names) (bool, error) {
	return parallel(
		func() (bool, error) { return c.EnsureBootstrap(ctx, n) },
		func() (bool, error) { return c.EnsurePolicy(ctx, n) },
		func() (bool, error) { return c.EnsureJWTRole(ctx, n) },
	)
}

// EnsureCredentials converges the tenant's Postgres and Redis connections
// and roles, concurrently, once both data services answer at pgAddr and
// redisAddr (host:port as Vault reaches them). It reports whether anything
// changed.
func (c *Client) EnsureCredentials(ctx context.Context, n tenant.Names, pgAddr, redisAddr string) (bool, error) {
	return parallel(
		func() (bool, error) { return c.EnsurePostgres(ctx, n, pgAddr) },
		func() (bool, error) { return c.EnsureRedis(ctx, n, redisAddr) },
	)
}

// parallel runs fns concurrently and reports whether any changed something,
// with every error joined.
func parallel(fns ...func() (bool, error)) (bool, error) {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		changed bool
		errs    []error
	)
	for _, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch, err := fn()
			mu.Lock()
			defer mu.Unlock()
			changed = changed || ch
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return changed, errors.Join(errs...)
}
