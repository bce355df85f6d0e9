package consul

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// backupKey is the key of backup id under a tenant's backups prefix
// (tenant.Names.BackupsKVPrefix).
func backupKey(prefix, id string) (string, error) {
	if !strings.HasSuffix(prefix, "/") || strings.Count(prefix, "/") < 3 {
		return "", fmt.Errorf("consul: backups prefix %q: want a tenant prefix ending with \"/\"", prefix)
	}
	if err := tenant.ValidateBackupID(id); err != nil {
		return "", fmt.Errorf("consul: %w", err)
	}
	return prefix + id, nil
}

// WriteBackup stores backup b under prefix unless the same entry is already
// there; it reports whether it wrote. The entry holds no secret (it is the
// backup job's manifest).
func (c *Client) WriteBackup(ctx context.Context, prefix string, b tenant.Backup) (bool, error) {
	key, err := backupKey(prefix, b.ID)
	if err != nil {
		return false, err
	}
	v, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return false, fmt.Errorf("consul: encode backup %s: %w", b.ID, err)
	}
	old, _, err := c.api.KV().Get(key, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return false, fmt.Errorf("consul: read %s: %w", key, err)
	}
	if old != nil && string(old.Value) == string(v) {
		return false, nil
	}
	if _, err := c.api.KV().Put(&consulapi.KVPair{Key: key, Value: v}, (&consulapi.WriteOptions{}).WithContext(ctx)); err != nil {
		return false, fmt.Errorf("consul: write %s: %w", key, err)
	}
	return true, nil
}

// ListBackups returns the backups stored under prefix, oldest first (ids
// sort by time).
func (c *Client) ListBackups(ctx context.Context, prefix string) ([]tenant.Backup, error) {
	if !strings.HasSuffix(prefix, "/") {
		return nil, fmt.Errorf("consul: backups prefix %q does not end with \"/\"", prefix)
	}
	pairs, _, err := c.api.KV().List(prefix, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("consul: list %s: %w", prefix, err)
	}
	out := []tenant.Backup{}
	for _, kv := range pairs {
		var b tenant.Backup
		if err := json.Unmarshal(kv.Value, &b); err != nil {
			return nil, fmt.Errorf("consul: decode %s: %w", kv.Key, err)
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// DeleteBackup removes the entry of backup id under prefix and reports
// whether there was one.
func (c *Client) DeleteBackup(ctx context.Context, prefix, id string) (bool, error) {
	key, err := backupKey(prefix, id)
	if err != nil {
		return false, err
	}
	old, _, err := c.api.KV().Get(key, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return false, fmt.Errorf("consul: read %s: %w", key, err)
	}
	if old == nil {
		return false, nil
	}
	if _, err := c.api.KV().Delete(key, (&consulapi.WriteOptions{}).WithContext(ctx)); err != nil {
		return false, fmt.Errorf("consul: delete %s: %w", key, err)
	}
	return true, nil
}
