package vault

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// Keys of the bootstrap secret. The tenant's Postgres job initialises its
// superuser "postgres" with PostgresPasswordKey; its Redis job creates the ACL
// user Names.RedisAdminUser with RedisPasswordKey.
const (
	PostgresPasswordKey = "postgres_password"
	RedisPasswordKey    = "redis_password"
)

// PostgresSuperuser is the superuser the tenant's Postgres job creates and
// Vault's connection uses.
const PostgresSuperuser = "postgres"

// Markers in the bootstrap secret's custom metadata: set once Vault has
// rotated the connection's root password, so the bootstrap value no longer
// works and rotation is never repeated by Ensure….
const (
	markerPostgresRotated = "postgres_root_rotated"
	markerRedisRotated    = "redis_root_rotated"
)

// passwordLen and passwordAlphabet: 40 characters of [A-Za-z0-9] carry 238
// bits and need no escaping in a URL, an ACL file or a shell.
const (
	passwordLen      = 40
	passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// newPassword returns a random password from crypto/rand.
func newPassword() (string, error) {
	out := make([]byte, 0, passwordLen)
	buf := make([]byte, 64)
	// 248 = 4*62: bytes at or above it are rejected so every letter is
	// equally likely.
	for len(out) < passwordLen {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("vault: read random: %w", err)
		}
		for _, b := range buf {
			if b < 248 && len(out) < passwordLen {
				out = append(out, passwordAlphabet[int(b)%len(passwordAlphabet)])
			}
		}
	}
	return string(out), nil
}

func (c *Client) bootstrapDataPath(n tenant.Names) string {
	return c.mounts.KV + "/data/" + n.BootstrapPath
}

func (c *Client) bootstrapMetaPath(n tenant.Names) string {
	return c.mounts.KV + "/metadata/" + n.BootstrapPath
}

// bootstrap is the tenant's bootstrap secret.
type bootstrap struct {
	postgres, redis string
}

// readBootstrap reads the bootstrap secret; ok is false when it does not
// exist. A secret whose current version was deleted, or that lacks a key, is
// an error: it is never replaced, because the tenant's data services were
// initialised with it.
func (c *Client) readBootstrap(ctx context.Context, n tenant.Names) (b bootstrap, ok bool, err error) {
	path := c.bootstrapDataPath(n)
	s, err := c.api.Logical().ReadWithContext(ctx, path)
	if err != nil {
		var re *vaultapi.ResponseError
		if !errors.As(err, &re) || re.StatusCode != 404 {
			return b, false, apiErr("read bootstrap secret", path, err)
		}
	}
	if s == nil {
		return b, false, nil
	}
	data, _ := s.Data["data"].(map[string]any)
	if data == nil {
		return b, false, exit.New(exit.Failure,
			fmt.Sprintf("restore it with `vault kv undelete -mount=%s %s`, or remove the tenant with `tenantctl down`", c.mounts.KV, n.BootstrapPath),
			"vault: bootstrap secret %s exists but its current version is deleted", path)
	}
	b.postgres, _ = data[PostgresPasswordKey].(string)
	b.redis, _ = data[RedisPasswordKey].(string)
	if b.postgres == "" || b.redis == "" {
		return b, false, exit.New(exit.Failure, "restore the secret's keys "+PostgresPasswordKey+" and "+RedisPasswordKey,
			"vault: bootstrap secret %s lacks a password", path)
	}
	return b, true, nil
}

// EnsureBootstrap creates the tenant's bootstrap secret once: random
// passwords for its Postgres superuser and Redis admin user. An existing
// secret is never overwritten (the write uses check-and-set 0). It reports
// whether it created the secret. The values are never returned or logged.
func (c *Client) EnsureBootstrap(ctx context.Context, n tenant.Names) (bool, error) {
	_, ok, err := c.readBootstrap(ctx, n)
	if err != nil || ok {
		return false, err
	}
	pg, err := newPassword()
	if err != nil {
		return false, err
	}
	rd, err := newPassword()
	if err != nil {
		return false, err
	}
	path := c.bootstrapDataPath(n)
	_, err = c.write(ctx, "write bootstrap secret", path, map[string]any{
		"data":    map[string]any{PostgresPasswordKey: pg, RedisPasswordKey: rd},
		"options": map[string]any{"cas": 0},
	}, pg, rd)
	if err != nil {
		// Someone else created it between our read and write: theirs wins.
		if _, ok, rerr := c.readBootstrap(ctx, n); rerr == nil && ok {
			return false, nil
		}
		return false, err
	}
	c.log.InfoContext(ctx, "vault: created bootstrap secret", attrTenant, n.ID.String(), attrPath, path)
	return true, nil
}

// markers reads the custom metadata of the bootstrap secret.
func (c *Client) markers(ctx context.Context, n tenant.Names) (map[string]string, error) {
	path := c.bootstrapMetaPath(n)
	data, err := c.read(ctx, "read bootstrap metadata", path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	if cm, ok := data["custom_metadata"].(map[string]any); ok {
		for k, v := range cm {
			if s, ok := v.(string); ok {
				out[k] = s
			}
		}
	}
	return out, nil
}

// setMarker records key=true in the bootstrap secret's custom metadata,
// keeping the other markers. KV metadata has no check-and-set, so the
// read-modify-write is serialised within the process (Postgres and Redis of
// one tenant converge concurrently); the tenant lock serialises processes.
func (c *Client) setMarker(ctx context.Context, n tenant.Names, key string) error {
	c.markerMu.Lock()
	defer c.markerMu.Unlock()
	m, err := c.markers(ctx, n)
	if err != nil {
		return err
	}
	if m[key] == "true" {
		return nil
	}
	m[key] = "true"
	path := c.bootstrapMetaPath(n)
	_, err = c.write(ctx, "write bootstrap metadata", path, map[string]any{"custom_metadata": m})
	return err
}
