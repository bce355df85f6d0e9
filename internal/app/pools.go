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

// backends is one generation of connections, built from one Settings.
// inflight counts the requests and worker batches using it; the generation
// is closed only once it has been replaced and inflight reaches zero.
type backends struct {
	settings Settings
	pg       *pgxpool.Pool
	rdb      *redis.Client
	inflight sync.WaitGroup
}

// newBackends builds pools for s. Neither pool connects yet: a database that
// is down at start makes the app unready, not dead.
func newBackends(s Settings, appName string) (*backends, error) {
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
	return &backends{settings: s, pg: pg, rdb: rdb}, nil
}

// Pool sizes unless DATABASE_URL sets pool_min_conns or pool_max_conns.
const (
	defaultMinConns = 2
	defaultMaxConns = 8
)

// warm opens the pool's minimum connections at once (in parallel), so the
// generation starts with logged-in sessions.
func (b *backends) warm(ctx context.Context) error {
	n := max(int(b.pg.Config().MinConns), 1)
	errs := make(chan error, n)
	conns := make(chan *pgxpool.Conn, n)
	for range n {
		go func() {
			c, err := b.pg.Acquire(ctx)
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

// close closes both pools; pgxpool.Close waits for acquired connections.
func (b *backends) close() {
	b.pg.Close()
	_ = b.rdb.Close()
}

// Pools holds the current generation of Postgres and Redis connections and
// replaces it on Reload without failing requests: users acquire the current
// generation for the length of one request or job batch, and a replaced
// generation is closed once its last user has released it.
type Pools struct {
	src     SettingsSource
	appName string
	log     *slog.Logger

	mu  sync.RWMutex // guards cur, and orders acquire against swap
	cur *backends

	reloadMu sync.Mutex // one Reload at a time
	closed   bool       // under reloadMu
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
	b, err := newBackends(s, appName)
	if err != nil {
		return nil, err
	}
	logger.Info("connections configured", attrBackends, s.String())
	return &Pools{src: src, appName: appName, log: logger, cur: b}, nil
}

// acquire returns the current generation and a release function that must be
// called exactly once when the caller is done with it.
func (p *Pools) acquire() (*backends, func()) {
	p.mu.RLock()
	b := p.cur
	b.inflight.Add(1)
	p.mu.RUnlock()
	return b, b.inflight.Done
}

// Reload re-reads the settings and, when they changed, builds new pools,
// makes them current and then drains and closes the old ones: requests
// already running finish on the old pools. It returns whether it swapped. On
// error the current pools stay in place.
func (p *Pools) Reload(ctx context.Context) (bool, error) {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	if p.closed {
		return false, errors.New("pools: reload after close")
	}
	s, err := p.src.Load()
	if err != nil {
		return false, err
	}
	p.mu.RLock()
	same := p.cur.settings == s
	p.mu.RUnlock()
	if same {
		p.log.InfoContext(ctx, "reload: settings unchanged")
		return false, nil
	}
	nb, err := newBackends(s, p.appName)
	if err != nil {
		return false, err
	}
	// Warm the new pool so the first requests after the swap do not pay
	// for the login; a failure is only logged: the new settings are what
	// the operator rendered, and readiness will tell.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := nb.warm(wctx); err != nil {
		p.log.WarnContext(ctx, "reload: new postgres credentials do not connect yet", attrError, err.Error())
	}
	cancel()

	p.mu.Lock()
	old := p.cur
	p.cur = nb
	p.mu.Unlock()

	start := time.Now()
	old.inflight.Wait()
	old.close()
	p.log.InfoContext(ctx, "reload: connections replaced", attrBackends, s.String(),
		attrDrainMS, float64(time.Since(start).Microseconds())/1000)
	return true, nil
}

// Close drains and closes the current pools. Acquire must not be called
// afterwards.
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
	b.inflight.Wait()
	b.close()
}

// Check reports whether Postgres and Redis answer with the current
// credentials. The Postgres check reads (no rows of) contacts, so it needs
// what requests need: a working login, membership of the app group and the
// migrated schema. A plain ping would pass on a pooled session whose user
// Vault has already dropped.
func (p *Pools) Check(ctx context.Context) error {
	b, release := p.acquire()
	defer release()
	var errs []error
	if _, err := b.pg.Exec(ctx, `SELECT 1 FROM contacts LIMIT 0`); err != nil {
		errs = append(errs, fmt.Errorf("postgres: %w", err))
	}
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		errs = append(errs, fmt.Errorf("redis: %w", err))
	}
	return errors.Join(errs...)
}

// reloadOn calls Reload whenever sig delivers, until ctx ends.
func (p *Pools) reloadOn(ctx context.Context, sig <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-sig:
			if !ok {
				return
			}
			if _, err := p.Reload(ctx); err != nil {
				p.log.ErrorContext(ctx, "reload: keeping the current connections", attrError, err.Error())
			}
		}
	}
}
