package vault

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

func (c *Client) connectionPath(name string) string {
	return c.mounts.Database + "/config/" + name
}

func (c *Client) rolePath(name string) string {
	return c.mounts.Database + "/roles/" + name
}

func (c *Client) credsPath(role string) string {
	return c.mounts.Database + "/creds/" + role
}

// readConnection reads a connection and flattens it: its top-level fields and
// connection_details in one map. A missing connection is nil.
func (c *Client) readConnection(ctx context.Context, name string) (map[string]any, error) {
	have, err := c.read(ctx, "read connection", c.connectionPath(name))
	if err != nil || have == nil {
		return have, err
	}
	flat := map[string]any{}
	for k, v := range have {
		flat[k] = v
	}
	if d, ok := have["connection_details"].(map[string]any); ok {
		for k, v := range d {
			flat[k] = v
		}
	}
	return flat, nil
}

// connectionSpec is a desired connection: its fields compared and written,
// and its root credentials, written only when the connection is created
// (afterwards Vault alone knows the rotated root password).
type connectionSpec struct {
	name     string
	fields   []field
	username string
	// password picks the connection's root password from the bootstrap
	// secret.
	password func(bootstrap) string
	marker   string
	// prepare, when not nil, runs before the connection is created, while
	// the bootstrap password still works.
	prepare func(ctx context.Context, password string) error
}

// ensureConnection creates the connection and rotates its root credentials,
// or updates the fields that differ without touching the credentials. A
// connection whose rotation marker is missing (an earlier run stopped between
// creation and rotation) is rotated now.
func (c *Client) ensureConnection(ctx context.Context, n tenant.Names, spec connectionSpec) (bool, error) {
	path := c.connectionPath(spec.name)
	have, err := c.readConnection(ctx, spec.name)
	if err != nil {
		return false, err
	}
	changed := false
	if have == nil {
		// Before the bootstrap password reaches prepare, which writes to the
		// tenant's database.
		if err := c.refuseWrite("create connection", path); err != nil {
			return false, err
		}
		b, ok, err := c.readBootstrap(ctx, n)
		if err != nil {
			return false, err
		}
		if !ok {
			return false, fmt.Errorf("vault: connection %s needs the bootstrap secret of tenant %s: ensure it first", spec.name, n.ID)
		}
		password := spec.password(b)
		if spec.prepare != nil {
			if err := spec.prepare(ctx, password); err != nil {
				return false, err
			}
		}
		body := payload(spec.fields)
		body["username"] = spec.username
		body["password"] = password
		body["verify_connection"] = true
		if _, err := c.write(ctx, "create connection", path, body, password); err != nil {
			return false, err
		}
		c.log.InfoContext(ctx, "vault: created connection", attrTenant, n.ID.String(), attrPath, path)
		changed = true
	} else if keys := diff(have, spec.fields); len(keys) > 0 {
		body := payload(only(spec.fields, keys))
		// Without a password the stored (rotated) one is kept; plugin_name
		// is always sent because Vault requires it on update.
		body["plugin_name"] = payload(spec.fields)["plugin_name"]
		body["verify_connection"] = true
		if _, err := c.write(ctx, "update connection", path, body); err != nil {
			return false, err
		}
		c.log.InfoContext(ctx, "vault: updated connection", attrTenant, n.ID.String(), attrPath, path,
			attrFields, fmt.Sprint(keys))
		changed = true
	}
	markers, err := c.markers(ctx, n)
	if err != nil {
		return changed, err
	}
	if markers[spec.marker] != "true" {
		if err := c.rotateRoot(ctx, spec.name); err != nil {
			return changed, err
		}
		if err := c.setMarker(ctx, n, spec.marker); err != nil {
			return true, err
		}
		changed = true
	}
	return changed, nil
}

// rotateRoot makes Vault replace the connection's root password with one
// only it knows.
func (c *Client) rotateRoot(ctx context.Context, name string) error {
	path := c.mounts.Database + "/rotate-root/" + name
	if _, err := c.write(ctx, "rotate root of", path, nil); err != nil {
		return err
	}
	c.log.InfoContext(ctx, "vault: rotated root credentials", attrPath, path)
	return nil
}

// roleSpec is a desired dynamic role of the database secrets engine.
type roleSpec struct {
	name       string
	connection string
	creation   []string
	revocation []string
}

// ensureRoles converges roles concurrently.
func (c *Client) ensureRoles(ctx context.Context, n tenant.Names, roles []roleSpec) (bool, error) {
	fns := make([]func() (bool, error), 0, len(roles))
	for _, r := range roles {
		fns = append(fns, func() (bool, error) { return c.ensureRole(ctx, n, r) })
	}
	return parallel(fns...)
}

// ensureRole writes a dynamic role when it is missing or differs.
func (c *Client) ensureRole(ctx context.Context, n tenant.Names, r roleSpec) (bool, error) {
	path := c.rolePath(r.name)
	have, err := c.read(ctx, "read role", path)
	if err != nil {
		return false, err
	}
	want := []field{
		{key: "db_name", value: r.connection},
		{key: "creation_statements", value: r.creation},
		{key: "revocation_statements", value: r.revocation},
		{key: "default_ttl", value: int64(c.ttls.CredsDefault.Seconds())},
		{key: "max_ttl", value: int64(c.ttls.CredsMax.Seconds())},
	}
	if have != nil && len(diff(have, want)) == 0 {
		return false, nil
	}
	if _, err := c.write(ctx, "write role", path, payload(want)); err != nil {
		return false, err
	}
	c.log.InfoContext(ctx, "vault: wrote role", attrTenant, n.ID.String(), attrPath, path)
	return true, nil
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
