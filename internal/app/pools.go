package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// pgConn and redisConn are one set of credentials' connections, shared by
// every generation that uses them. users counts the requests and worker
// batches holding a generation that includes them; once they are replaced
// they are closed as soon as users reaches zero.
type pgConn struct {
	url   string
	pool  *pgxpool.Pool
	users inUse
}

type redisConn struct {
	addr, username, password string
	client                   *redis.Client
	users                    inUse
}

// inUse counts the holders of a set of connections. Unlike a
// sync.WaitGroup it may be incremented while another goroutine waits for
// zero: Close waits for the current connections' users while a worker batch
// or a request may still acquire them.
type inUse struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n reaches zero; nil while nobody waits
}

// Add adds d holders; d may be negative.
func (u *inUse) Add(d int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.n += d
	if u.n == 0 && u.zero != nil {
		close(u.zero)
		u.zero = nil
	}
}

// Done removes one holder.
func (u *inUse) Done() { u.Add(-1) }

// Wait returns once there are no holders.
func (u *inUse) Wait() {
	u.mu.Lock()
	if u.n == 0 {
		u.mu.Unlock()
		return
	}
	if u.zero == nil {
		u.zero = make(chan struct{})
	}
	ch := u.zero
	u.mu.Unlock()
	<-ch
}

// backends is one generation: the Postgres pool and Redis client of one
// Settings. A reload that changes only one credential builds a new
// generation that keeps the other's connections.
type backends struct {
	settings Settings
	pg       *pgxpool.Pool
	rdb      *redis.Client
	pgc      *pgConn
	rc       *redisConn
}

func generation(s Settings, pgc *pgConn, rc *redisConn) *backends {
	return &backends{settings: s, pg: pgc.pool, rdb: rc.client, pgc: pgc, rc: rc}
}

// newPG builds a Postgres pool for s. It does not connect yet: a database
// that is down at start makes the app unready, not dead.
func newPG(s Settings, appName string) (*pgConn, error) {
	cfg, err := pgxpool.ParseConfig(s.DatabaseURL)
	u, uerr := url.Parse(s.DatabaseURL)
	if err != nil || uerr != nil {
		// validate already parsed it; the error text may quote the URL.
		return nil, errors.New("pools: DATABASE_URL does not parse")
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = appName
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	// A scram-sha-256 login costs tens of milliseconds on a busy host:
	// keep a few connections open so bursts do not wait for logins. The
	// URL's pool_min_conns and pool_max_conns take precedence.
	if q := u.Query(); !q.Has("pool_min_conns") {
		cfg.MinConns = defaultMinConns
	}
	if q := u.Query(); !q.Has("pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	cfg.MinConns = min(cfg.MinConns, cfg.MaxConns)
	// Dynamic credentials expire: recycle connections well within a lease.
	cfg.MaxConnLifetime = 30 * time.Minute
	cfg.MaxConnIdleTime = 5 * time.Minute
	pg, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("pools: postgres pool: %w", err)
	}
	return &pgConn{url: s.DatabaseURL, pool: pg}, nil
}

// newRedis builds a Redis client for s; it connects on first use.
func newRedis(s Settings, appName string) *redisConn {
	rdb := redis.NewClient(&redis.Options{
		Addr:            s.RedisAddr,
		Username:        s.RedisUsername,
		Password:        s.RedisPassword,
		ClientName:      appName,
		Protocol:        2,
		DisableIdentity: true, // CLIENT SETINFO is not in the tenant's ACL rules
		DialTimeout:     2 * time.Second,
		ReadTimeout:     3 * time.Second,
		WriteTimeout:    3 * time.Second,
	})
	return &redisConn{addr: s.RedisAddr, username: s.RedisUsername, password: s.RedisPassword, client: rdb}
}

func (rc *redisConn) same(s Settings) bool {
	return rc.addr == s.RedisAddr && rc.username == s.RedisUsername && rc.password == s.RedisPassword
}

// Pool sizes unless DATABASE_URL sets pool_min_conns or pool_max_conns.
const (
	defaultMinConns = 2
	defaultMaxConns = 8
)

// ReloadTimeout bounds how long a reload takes to prove that new
// credentials serve (logins of the pool's minimum connections, a query of
// the schema, a Redis PING). The rotation margin that the project config
// demands of the credential TTLs counts it (docs/vault.md, "Rotation without
// failed requests").
const ReloadTimeout = 5 * time.Second

// reloadRetry is how soon a reload that kept the current connections tries
// the new credentials again.
const reloadRetry = time.Second

// ErrNewNotServing is returned by Reload when the new credentials do not
// serve yet while the current ones still do: the current connections stay,
// and the reload is worth trying again.
var ErrNewNotServing = errors.New("pools: the new credentials do not serve yet; keeping the current connections")

// warm opens the pool's minimum connections at once (in parallel), so the
// new credentials start with logged-in sessions.
func (c *pgConn) warm(ctx context.Context) error {
	n := max(int(c.pool.Config().MinConns), 1)
	errs := make(chan error, n)
	conns := make(chan *pgxpool.Conn, n)
	for range n {
		go func() {
			c, err := c.pool.Acquire(ctx)
			if err == nil {
				conns <- c
			}
			errs <- err
		}()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	close(conns)
	for c := range conns {
		c.Release()
	}
	return first
}

// checkPG reads (no rows of) contacts, so it needs what requests need: a
// working login, membership of the app group and the migrated schema. A plain
// ping would pass on a pooled session whose user Vault has already dropped.
func checkPG(ctx context.Context, pg *pgxpool.Pool) error {
	if _, err := pg.Exec(ctx, `SELECT 1 FROM contacts LIMIT 0`); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

func checkRedis(ctx context.Context, rdb *redis.Client) error {
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// serves reports whether the given connections (nil: not asked) can serve
// requests now.
func serves(ctx context.Context, pgc *pgConn, rc *redisConn) error {
	var errs []error
	if pgc != nil {
		if err := pgc.warm(ctx); err != nil {
			errs = append(errs, fmt.Errorf("postgres: %w", err))
		} else if err := checkPG(ctx, pgc.pool); err != nil {
			errs = append(errs, err)
		}
	}
	if rc != nil {
		if err := checkRedis(ctx, rc.client); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Pools holds the current generation of Postgres and Redis connections and
// replaces it on Reload without failing requests: users acquire the current
// generation for the length of one request or job batch; new credentials
// become current only once they have proved they serve (or the current ones
// no longer do); replaced connections are closed once their last user has
// released them. Each credential is replaced on its own: a new Redis user
// keeps the Postgres pool, and the other way round.
type Pools struct {
	src     SettingsSource
	appName string
	log     *slog.Logger

	mu  sync.RWMutex // guards cur, and orders acquire against swap
	cur *backends

	reloadMu sync.Mutex // one Reload at a time
	closed   bool       // under reloadMu

	drains sync.WaitGroup // replaced connections not closed yet
}

// OpenPools loads the settings from src and builds the first generation.
// appName is the connections' application_name and Redis client name.
func OpenPools(src SettingsSource, appName string, logger *slog.Logger) (*Pools, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s, err := src.Load()
	if err != nil {
		return nil, err
	}
	pgc, err := newPG(s, appName)
	if err != nil {
		return nil, err
	}
	logger.Info("connections configured", attrBackends, s.String())
	return &Pools{src: src, appName: appName, log: logger, cur: generation(s, pgc, newRedis(s, appName))}, nil
}

// acquire returns the current generation and a release function that must be
// called exactly once when the caller is done with it.
func (p *Pools) acquire() (*backends, func()) {
	p.mu.RLock()
	b := p.cur
	b.pgc.users.Add(1)
	b.rc.users.Add(1)
	p.mu.RUnlock()
	return b, func() {
		b.pgc.users.Done()
		b.rc.users.Done()
	}
}

// Reload re-reads the settings and, when a credential changed, builds its
// connections, checks that they serve, makes them current and then waits
// until the replaced connections have drained (requests already running
// finish on them) and closes them. It returns whether it swapped. When the
// new connections are refused but the current ones still serve, it keeps the
// current ones and returns an error wrapping ErrNewNotServing; when they
// cannot be proved within ReloadTimeout (a slow host), it switches anyway.
// On any other error the current connections stay.
func (p *Pools) Reload(ctx context.Context) (bool, error) {
	swapped, drained, err := p.reload(ctx)
	if drained != nil {
		<-drained
	}
	return swapped, err
}

// reload is Reload without the wait for the drain: drained is closed once
// the replaced connections are closed (nil when nothing was swapped).
func (p *Pools) reload(ctx context.Context) (bool, <-chan struct{}, error) {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	if p.closed {
		return false, nil, errors.New("pools: reload after close")
	}
	s, err := p.src.Load()
	if err != nil {
		return false, nil, err
	}
	p.mu.RLock()
	cur := p.cur
	p.mu.RUnlock()
	if cur.settings == s {
		p.log.InfoContext(ctx, "reload: settings unchanged")
		return false, nil, nil
	}
	var newPGC *pgConn
	var newRC *redisConn
	var replaced []string
	if s.DatabaseURL != cur.pgc.url {
		if newPGC, err = newPG(s, p.appName); err != nil {
			return false, nil, err
		}
		replaced = append(replaced, "postgres")
	}
	if !cur.rc.same(s) {
		newRC = newRedis(s, p.appName)
		replaced = append(replaced, "redis")
	}
	discard := func() {
		if newPGC != nil {
			newPGC.pool.Close()
		}
		if newRC != nil {
			_ = newRC.client.Close()
		}
	}
	// One budget, ReloadTimeout, for proving the new connections and, when
	// they are refused, checking the current ones: the rotation margin
	// counts on a reload never taking longer.
	vctx, cancel := context.WithTimeout(ctx, ReloadTimeout)
	verr := serves(vctx, newPGC, newRC)
	if verr != nil && vctx.Err() == nil {
		// Refused (not merely slow): keep what works, the current
		// connections, while they still serve; they do until their lease
		// expires.
		var oldPGC *pgConn
		var oldRC *redisConn
		if newPGC != nil {
			oldPGC = cur.pgc
		}
		if newRC != nil {
			oldRC = cur.rc
		}
		if serves(vctx, oldPGC, oldRC) == nil {
			cancel()
			discard()
			return false, nil, fmt.Errorf("%w: %w", ErrNewNotServing, verr)
		}
	}
	cancel()
	if verr != nil {
		// Slow to prove (an overloaded host) or refused along with the
		// current ones: the new credentials are the ones Vault issued last,
		// and the current ones will expire.
		p.log.WarnContext(ctx, "reload: the new credentials could not be proved; switching to them anyway",
			attrError, verr.Error())
	}
	pgc, rc := cur.pgc, cur.rc
	if newPGC != nil {
		pgc = newPGC
	}
	if newRC != nil {
		rc = newRC
	}
	p.mu.Lock()
	p.cur = generation(s, pgc, rc)
	p.mu.Unlock()
	p.log.InfoContext(ctx, "reload: connections replaced", attrBackends, s.String(), attrReplaced, replaced)

	drained := make(chan struct{})
	p.drains.Add(1)
	go func() {
		defer p.drains.Done()
		defer close(drained)
		start := time.Now()
		if newPGC != nil {
			cur.pgc.users.Wait()
			cur.pgc.pool.Close()
		}
		if newRC != nil {
			cur.rc.users.Wait()
			_ = cur.rc.client.Close()
		}
		p.log.InfoContext(ctx, "reload: replaced connections drained and closed", attrReplaced, replaced,
			attrDrainMS, float64(time.Since(start).Microseconds())/1000)
	}()
	return true, drained, nil
}

// Close drains and closes the current connections and waits for the
// replaced ones still draining. Acquire must not be called afterwards.
func (p *Pools) Close() {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.mu.RLock()
	b := p.cur
	p.mu.RUnlock()
	b.pgc.users.Wait()
	b.rc.users.Wait()
	b.pgc.pool.Close()
	_ = b.rc.client.Close()
	p.drains.Wait()
}

// Check reports whether Postgres and Redis answer with the current
// credentials (see checkPG).
func (p *Pools) Check(ctx context.Context) error {
	b, release := p.acquire()
	defer release()
	return errors.Join(checkPG(ctx, b.pg), checkRedis(ctx, b.rdb))
}

// reloadOn calls reload whenever sig delivers, until ctx ends. It does not
// wait for replaced connections to drain, so a second credential's reload
// is not held up by the first one's long requests; a reload that kept the
// current connections (ErrNewNotServing) is tried again every reloadRetry
// until it swaps or the settings change again.
func (p *Pools) reloadOn(ctx context.Context, sig <-chan os.Signal) {
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-sig:
			if !ok {
				return
			}
		case <-retry:
		}
		retry = nil
		_, _, err := p.reload(ctx)
		switch {
		case errors.Is(err, ErrNewNotServing):
			p.log.WarnContext(ctx, "reload: the new credentials do not serve yet; keeping the current connections",
				attrError, err.Error())
			retry = time.After(reloadRetry)
		case err != nil:
			p.log.ErrorContext(ctx, "reload: keeping the current connections", attrError, err.Error())
		}
	}
}
