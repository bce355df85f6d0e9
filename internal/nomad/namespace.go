package nomad

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/exit"
)

// ErrNamespaceInUse is wrapped by DeleteNamespace's error when Nomad refuses
// to delete a namespace that still has non-terminal jobs (or volumes).
var ErrNamespaceInUse = errors.New("namespace still has non-terminal jobs or volumes")

// EnsureNamespace creates namespace name, or updates its description and
// meta, only when they differ from what Nomad holds. Other settings of an
// existing namespace (quota, node pools, Vault and Consul settings) are kept.
// It reports whether it wrote.
func (c *Client) EnsureNamespace(ctx context.Context, name, description string, meta map[string]string) (bool, error) {
	cur, _, err := c.api.Namespaces().Info(name, c.q(ctx, ""))
	switch {
	case isNotFound(err):
		cur = nil
	case err != nil:
		return false, fmt.Errorf("nomad: read namespace %q: %w", name, err)
	}
	want := &api.Namespace{Name: name}
	if cur != nil {
		if cur.Description == description && metaEqual(cur.Meta, meta) {
			return false, nil
		}
		c2 := *cur
		want = &c2
	}
	want.Description = description
	want.Meta = maps.Clone(meta)
	want.CreateIndex, want.ModifyIndex = 0, 0
	if _, err := c.api.Namespaces().Register(want, c.w(ctx, "")); err != nil {
		return false, fmt.Errorf("nomad: write namespace %q: %w", name, err)
	}
	c.log.InfoContext(ctx, "nomad namespace written", attrNamespace, name, "created", cur == nil)
	return true, nil
}

// DeleteNamespace deletes namespace name. Deleting a namespace that does not
// exist changes nothing. Nomad refuses while the namespace has non-terminal
// jobs; the error then wraps ErrNamespaceInUse and carries a remedy.
func (c *Client) DeleteNamespace(ctx context.Context, name string) (bool, error) {
	if _, _, err := c.api.Namespaces().Info(name, c.q(ctx, "")); err != nil {
		if isNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("nomad: read namespace %q: %w", name, err)
	}
	if _, err := c.api.Namespaces().Delete(name, c.w(ctx, "")); err != nil {
		body := responseBody(err)
		switch {
		case strings.Contains(body, "does not exist"):
			return false, nil
		case strings.Contains(body, "non-terminal") || strings.Contains(body, "volumes"):
			return false, exit.Wrap(fmt.Errorf("nomad: delete namespace %q: %w: %s", name, ErrNamespaceInUse, body),
				exit.Failure, fmt.Sprintf("stop and purge the jobs in namespace %s first (nomad job status -namespace=%s), then retry", name, name))
		}
		return false, fmt.Errorf("nomad: delete namespace %q: %w", name, err)
	}
	c.log.InfoContext(ctx, "nomad namespace deleted", attrNamespace, name)
	return true, nil
}

// metaEqual compares meta maps, treating nil and empty as equal.
func metaEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	return maps.Equal(a, b)
}
