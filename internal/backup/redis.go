package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// RedisBackupCommands are the only Redis commands a backup sends (besides
// AUTH/HELLO, which every user may send): the ACL of the backup user allows
// exactly these. The snapshot is logical, key by key over a normal
// connection: the tenant's Redis runs in another allocation, its RDB file
// cannot be fetched without SYNC rights, and taking one must not stop it.
var RedisBackupCommands = []string{"PING", "SCAN", "DUMP", "PTTL"}

// RedisRestoreCommands are the only Redis commands a restore sends (besides
// AUTH/HELLO).
var RedisRestoreCommands = []string{"PING", "FLUSHDB", "RESTORE", "DBSIZE"}

// redisBatch is how many keys one SCAN asks for and one pipeline carries.
const redisBatch = 1000

// redisClient connects to the Redis at redisURL
// (redis://user:password@host:port/0) as a client that sends nothing on
// connect beyond AUTH or HELLO: no CLIENT SETINFO, no CLIENT SETNAME, no
// maintenance-notification handshake. Its errors never hold the URL.
func redisClient(redisURL string) (*redis.Client, error) {
	if redisURL == "" {
		return nil, &ConfigError{Option: "RedisURL", Err: errors.New("no Redis URL")}
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, &ConfigError{Option: "RedisURL", Err: fmt.Errorf("the Redis URL does not parse: %s", scrubRedis(err.Error(), redisURL))}
	}
	if opts.DB != 0 {
		return nil, &ConfigError{Option: "RedisURL", Err: fmt.Errorf("Redis database %d: tenantctl backs up database 0, the tenant's only one", opts.DB)}
	}
	opts.Protocol = 2
	opts.DisableIdentity = true
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	opts.PoolSize = 1
	opts.MaxRetries = 2
	opts.ReadTimeout = 30 * time.Second
	opts.WriteTimeout = 30 * time.Second
	return redis.NewClient(opts), nil
}

// scrubRedis removes a Redis URL and its password from s.
func scrubRedis(s, redisURL string) string {
	secrets := []string{redisURL}
	if opts, err := redis.ParseURL(redisURL); err == nil {
		secrets = append(secrets, opts.Password)
	} else if i, j := strings.Index(redisURL, "://"), strings.LastIndex(redisURL, "@"); i >= 0 && j > i {
		secrets = append(secrets, redisURL[i+3:j])
	}
	return scrub(s, secrets...)
}

// redisError words a Redis error without the URL or password.
func redisError(op string, err error, redisURL string) error {
	return fmt.Errorf("redis: %s: %s", op, scrubRedis(err.Error(), redisURL))
}

// snapshotRedis writes every key of the Redis at redisURL to path in the
// snapshot format (snapshot.go), with PING, SCAN, DUMP and PTTL only. Keys
// are read one batch at a time: each key is consistent, the whole is not one
// point in time (Redis has no snapshot a reader could share).
func snapshotRedis(ctx context.Context, redisURL, path string) (RedisInfo, error) {
	var info RedisInfo
	rc, err := redisClient(redisURL)
	if err != nil {
		return info, err
	}
	defer rc.Close()
	if err := rc.Do(ctx, "PING").Err(); err != nil {
		return info, &ConnectError{Err: redisError("ping", err, redisURL)}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return info, err
	}
	defer f.Close()
	sw := newSnapshotWriter(f)
	// SCAN may return a key more than once.
	seen := map[string]struct{}{}
	var cursor uint64
	for {
		keys, next, err := rc.Scan(ctx, cursor, "", redisBatch).Result()
		if err != nil {
			return info, redisError("scan", err, redisURL)
		}
		fresh := keys[:0]
		for _, k := range keys {
			if _, dup := seen[k]; !dup {
				seen[k] = struct{}{}
				fresh = append(fresh, k)
			}
		}
		if len(fresh) > 0 {
			pipe := rc.Pipeline()
			dumps := make([]*redis.Cmd, len(fresh))
			ttls := make([]*redis.Cmd, len(fresh))
			for i, k := range fresh {
				dumps[i] = pipe.Do(ctx, "DUMP", k)
				ttls[i] = pipe.Do(ctx, "PTTL", k)
			}
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return info, redisError("dump", err, redisURL)
			}
			for i, k := range fresh {
				payload, err := dumps[i].Text()
				if errors.Is(err, redis.Nil) {
					continue // gone since SCAN saw it
				}
				if err != nil {
					return info, redisError("dump", err, redisURL)
				}
				ttl, err := ttls[i].Int64()
				if err != nil {
					return info, redisError("pttl", err, redisURL)
				}
				switch {
				case ttl == -2:
					continue // expired after DUMP
				case ttl < -1:
					return info, fmt.Errorf("redis: pttl of a key: unexpected %d", ttl)
				case ttl == -1:
					info.Persistent++
				}
				if err := sw.Add(snapshotRecord{Key: k, TTL: ttl, Payload: []byte(payload)}); err != nil {
					return info, fmt.Errorf("redis: write snapshot: %w", err)
				}
				info.Keys++
			}
		}
		if next == 0 {
			break
		}
		cursor = next
		if err := ctx.Err(); err != nil {
			return info, err
		}
	}
	if err := sw.Close(); err != nil {
		return info, fmt.Errorf("redis: write snapshot: %w", err)
	}
	if err := f.Sync(); err != nil {
		return info, fmt.Errorf("redis: write snapshot: %w", err)
	}
	return info, f.Close()
}

// restoreRedis empties the Redis at redisURL (FLUSHDB) and loads the
// snapshot at path with RESTORE … REPLACE, a key's remaining time to live
// counting again from now, and checks DBSIZE afterwards. The caller has
// checked the snapshot (checkSnapshot).
func restoreRedis(ctx context.Context, redisURL, path string, want RedisInfo) (int64, error) {
	rc, err := redisClient(redisURL)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	if err := rc.Do(ctx, "PING").Err(); err != nil {
		return 0, &ConnectError{Err: redisError("ping", err, redisURL)}
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sr, err := newSnapshotReader(f)
	if err != nil {
		return 0, err
	}
	if err := rc.Do(ctx, "FLUSHDB").Err(); err != nil {
		return 0, redisError("flushdb", err, redisURL)
	}
	var restored, persistent int64
	pipe := rc.Pipeline()
	flush := func() error {
		if pipe.Len() == 0 {
			return nil
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return redisError("restore", err, redisURL)
		}
		return nil
	}
	for {
		rec, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return restored, err
		}
		ttl := rec.TTL
		switch {
		case ttl < 0:
			ttl = 0 // RESTORE: 0 means no expiry
			persistent++
		case ttl == 0:
			ttl = 1 // was expiring as it was read: not a key without expiry
		}
		pipe.Do(ctx, "RESTORE", rec.Key, ttl, rec.Payload, "REPLACE")
		restored++
		if pipe.Len() >= redisBatch {
			if err := flush(); err != nil {
				return restored, err
			}
		}
	}
	if err := flush(); err != nil {
		return restored, err
	}
	if restored != want.Keys {
		return restored, fmt.Errorf("redis: restored %d keys; the manifest says %d", restored, want.Keys)
	}
	n, err := rc.Do(ctx, "DBSIZE").Int64()
	if err != nil {
		return restored, redisError("dbsize", err, redisURL)
	}
	// Keys with a time to live may have expired since; the others must all
	// be there.
	if n < persistent {
		return restored, fmt.Errorf("redis: %d keys after the restore; want at least the %d without expiry", n, persistent)
	}
	return restored, nil
}

// checkSnapshot reads the whole snapshot at path and checks its structure.
func checkSnapshot(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sr, err := newSnapshotReader(f)
	if err != nil {
		return err
	}
	for {
		if _, err := sr.Next(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}
