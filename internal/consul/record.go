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

// RecordsPrefix is where every tenant's record lives in KV: the parent of
// every tenant.Names.KVPrefix.
const RecordsPrefix = "tenantctl/tenants/"

func recordKey(prefix string) string { return prefix + "record" }

// ReadRecord returns the tenant record under prefix (a tenant's KV prefix), or nil
// when there is none.
func (c *Client) ReadRecord(ctx context.Context, prefix string) (*tenant.Record, error) {
	kv, _, err := c.api.KV().Get(recordKey(prefix), (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("consul: read %s: %w", recordKey(prefix), err)
	}
	if kv == nil {
		return nil, nil
	}
	var r tenant.Record
	if err := json.Unmarshal(kv.Value, &r); err != nil {
		return nil, fmt.Errorf("consul: decode %s: %w", recordKey(prefix), err)
	}
	return &r, nil
}

// WriteRecord stores r under prefix unless the stored record already says
// the same (apart from LastApply). It reports whether it wrote.
func (c *Client) WriteRecord(ctx context.Context, prefix string, r tenant.Record) (bool, error) {
	old, err := c.ReadRecord(ctx, prefix)
	if err != nil {
		return false, err
	}
	if old != nil && old.SameState(r) {
		return false, nil
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return false, fmt.Errorf("consul: encode record: %w", err)
	}
	_, err = c.api.KV().Put(&consulapi.KVPair{Key: recordKey(prefix), Value: b}, (&consulapi.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return false, fmt.Errorf("consul: write %s: %w", recordKey(prefix), err)
	}
	return true, nil
}

// DeletePrefix deletes every key under prefix, which must end with "/" so it
// can never reach another tenant's keys. It reports whether anything was
// there.
func (c *Client) DeletePrefix(ctx context.Context, prefix string) (bool, error) {
	if !strings.HasSuffix(prefix, "/") || strings.Count(prefix, "/") < 3 {
		return false, fmt.Errorf("consul: refusing to delete %q: a tenant prefix ends with \"/\" and names the tenant", prefix)
	}
	keys, _, err := c.api.KV().Keys(prefix, "", (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return false, fmt.Errorf("consul: list %s: %w", prefix, err)
	}
	if len(keys) == 0 {
		return false, nil
	}
	if _, err := c.api.KV().DeleteTree(prefix, (&consulapi.WriteOptions{}).WithContext(ctx)); err != nil {
		return false, fmt.Errorf("consul: delete %s: %w", prefix, err)
	}
	return true, nil
}

// ListRecords returns every tenant record, sorted by tenant id.
func (c *Client) ListRecords(ctx context.Context) ([]tenant.Record, error) {
	pairs, _, err := c.api.KV().List(RecordsPrefix, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("consul: list %s: %w", RecordsPrefix, err)
	}
	var out []tenant.Record
	for _, kv := range pairs {
		if !strings.HasSuffix(kv.Key, "/record") {
			continue
		}
		var r tenant.Record
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("consul: decode %s: %w", kv.Key, err)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tenant < out[j].Tenant })
	return out, nil
}
