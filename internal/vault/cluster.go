package vault

import (
	"context"
	"fmt"
	"sort"
	"strings"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/tenantctl/tenantctl/internal/compat"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// ClusterConfig is the cluster-wide Vault configuration `tenantctl cluster
// init` converges.
type ClusterConfig struct {
	// JWKSURL is where Nomad publishes the keys of its workload identities:
	// <nomad address>/.well-known/jwks.json. Vault fetches it when the
	// config is written, so Nomad must be reachable from Vault.
	JWKSURL string
	// DefaultRole is the jwt auth mount's default role; empty for none.
	DefaultRole string
}

// SupportedAlgs are the signing algorithms Nomad uses for workload
// identities.
var SupportedAlgs = []string{"RS256", "EdDSA"}

// Change is one change EnsureCluster made, or would make in a dry run.
type Change struct {
	// Object is the Vault path, such as "sys/auth/jwt-nomad".
	Object string `json:"object"`
	// Action is what happens to it: "enable", "configure".
	Action string `json:"action"`
	// Detail describes the change for a human.
	Detail string `json:"detail"`
}

// EnsureCluster converges the mounts tenantctl needs: the jwt auth mount for
// Nomad workload identities with its JWKS configuration, the KV v2 mount for
// bootstrap secrets and the database secrets engine mount. With dryRun it
// only reports what it would change. A mount that exists with another type
// is an error: tenantctl never replaces a mount.
func (c *Client) EnsureCluster(ctx context.Context, cfg ClusterConfig, dryRun bool) ([]Change, error) {
	if cfg.JWKSURL == "" {
		return nil, exit.UsageError("give the URL of Nomad's JWKS, <nomad address>/.well-known/jwks.json", "the Nomad JWKS URL is empty")
	}
	var changes []Change
	apply := func(ch Change, do func() error) error {
		changes = append(changes, ch)
		if dryRun {
			return nil
		}
		if err := c.refuseWrite(ch.Action, ch.Object); err != nil {
			return err
		}
		if err := do(); err != nil {
			return err
		}
		c.log.InfoContext(ctx, "vault: "+ch.Action, attrPath, ch.Object, attrAction, ch.Detail)
		return nil
	}

	auths, err := c.api.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return nil, apiErr("list auth methods", "sys/auth", err)
	}
	jwtExists := false
	if m, ok := auths[c.mounts.JWT+"/"]; ok {
		if m.Type != "jwt" {
			return nil, exit.New(exit.Failure, "choose another path for tenantctl's jwt auth mount",
				"vault: auth mount %s/ is of type %q, not jwt", c.mounts.JWT, m.Type)
		}
		jwtExists = true
	}
	if !jwtExists {
		err := apply(Change{Object: "sys/auth/" + c.mounts.JWT, Action: "enable", Detail: "jwt auth method for Nomad workload identities"}, func() error {
			err := c.api.Sys().EnableAuthWithOptionsWithContext(ctx, c.mounts.JWT, &vaultapi.EnableAuthOptions{
				Type: "jwt", Description: "Nomad workload identities (tenantctl)"})
			return apiErr("enable auth method", "sys/auth/"+c.mounts.JWT, err)
		})
		if err != nil {
			return changes, err
		}
	}
	configPath := "auth/" + c.mounts.JWT + "/config"
	want := []field{
		{key: "jwks_url", value: cfg.JWKSURL},
		{key: "jwt_supported_algs", value: SupportedAlgs, set: true},
		{key: "default_role", value: cfg.DefaultRole},
		{key: "oidc_discovery_url", value: ""},
		{key: "jwt_validation_pubkeys", value: []string{}},
	}
	var have map[string]any
	if jwtExists {
		if have, err = c.read(ctx, "read jwt config", configPath); err != nil {
			return changes, err
		}
	}
	if keys := diff(have, want); have == nil || len(keys) > 0 {
		err := apply(Change{Object: configPath, Action: "configure", Detail: "jwks_url=" + cfg.JWKSURL +
			", jwt_supported_algs=" + strings.Join(SupportedAlgs, ",") + defaultRoleDetail(cfg.DefaultRole)}, func() error {
			_, err := c.write(ctx, "configure jwt auth", configPath, payload(want))
			return err
		})
		if err != nil {
			return changes, err
		}
	}

	mounts, err := c.api.Sys().ListMountsWithContext(ctx)
	if err != nil {
		return changes, apiErr("list secrets engines", "sys/mounts", err)
	}
	type engine struct {
		path, typ, version, detail string
	}
	for _, e := range []engine{
		{c.mounts.KV, "kv", "2", "KV version 2 for tenant bootstrap secrets"},
		{c.mounts.Database, "database", "", "database secrets engine for tenant Postgres and Redis credentials"},
	} {
		if m, ok := mounts[e.path+"/"]; ok {
			if m.Type != e.typ {
				return changes, exit.New(exit.Failure, "choose another mount path in tenantctl's configuration",
					"vault: secrets engine %s/ is of type %q, not %s", e.path, m.Type, e.typ)
			}
			if e.version != "" && m.Options["version"] != e.version {
				return changes, exit.New(exit.Failure,
					fmt.Sprintf("upgrade it with `vault kv enable-versioning %s/` or choose another path", e.path),
					"vault: secrets engine %s/ is KV version %q, not %s", e.path, m.Options["version"], e.version)
			}
			continue
		}
		e := e
		err := apply(Change{Object: "sys/mounts/" + e.path, Action: "enable", Detail: e.detail}, func() error {
			in := &vaultapi.MountInput{Type: e.typ, Description: e.detail + " (tenantctl)"}
			if e.version != "" {
				in.Options = map[string]string{"version": e.version}
			}
			return apiErr("enable secrets engine", "sys/mounts/"+e.path, c.api.Sys().MountWithContext(ctx, e.path, in))
		})
		if err != nil {
			return changes, err
		}
	}
	return changes, nil
}

func defaultRoleDetail(role string) string {
	if role == "" {
		return ""
	}
	return ", default_role=" + role
}

// Preflight checks that Vault is reachable, unsealed and recent enough, that
// the jwt auth, KV and database mounts exist (when the token may list them)
// and that the token may do what provisioning a
// tenant needs (checked on the paths of names, or of a sample tenant when
// none is given). Its errors carry exit.Unreachable and a remedy.
func (c *Client) Preflight(ctx context.Context, names ...tenant.Names) error {
	const code = exit.Unreachable
	st, err := c.api.Sys().SealStatusWithContext(ctx)
	if err != nil {
		return exit.Because(apiErr("read seal status", "sys/seal-status", err), code, CauseUnreachable)
	}
	if st.Sealed {
		return exit.New(code, "unseal Vault", "vault: %s is sealed", c.api.Address())
	}
	if err := compat.Check("vault", st.Version); err != nil {
		return exit.New(code, "upgrade Vault (or use OpenBao 2)", "vault: %v", err)
	}
	auths, err := c.api.Sys().ListAuthWithContext(ctx)
	switch {
	case IsPermissionDenied(apiErr("", "", err)):
		// The token may not list auth methods; the capability check below
		// still covers the JWT role path.
	case err != nil:
		return exit.Because(apiErr("list auth methods", "sys/auth", err), code, CauseForbidden)
	default:
		if m, ok := auths[c.mounts.JWT+"/"]; !ok || m.Type != "jwt" {
			return exit.New(code, "run `tenantctl cluster init`",
				"vault: no jwt auth mount at %s/ for Nomad workload identities", c.mounts.JWT)
		}
	}
	mounts, err := c.api.Sys().ListMountsWithContext(ctx)
	switch {
	case IsPermissionDenied(apiErr("", "", err)):
	case err != nil:
		return exit.Because(apiErr("list secrets engines", "sys/mounts", err), code, CauseForbidden)
	default:
		for _, want := range []struct{ path, typ string }{{c.mounts.KV, "kv"}, {c.mounts.Database, "database"}} {
			if m, ok := mounts[want.path+"/"]; !ok || m.Type != want.typ {
				return exit.New(code, "run `tenantctl cluster init`",
					"vault: no %s secrets engine at %s/", want.typ, want.path)
			}
		}
	}
	if len(names) == 0 {
		names = []tenant.Names{tenant.NamesFor("preflight-check")}
	}
	for _, n := range names {
		if err := c.checkCapabilities(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// requiredCapabilities lists, per path, what provisioning tenant n needs.
func (c *Client) requiredCapabilities(n tenant.Names) map[string][]string {
	crud := []string{"create", "read", "update", "delete"}
	req := map[string][]string{
		c.bootstrapDataPath(n):                                  {"create", "read"},
		c.bootstrapMetaPath(n):                                  {"read", "update", "delete"},
		c.connectionPath(n.DBConnection):                        crud,
		c.connectionPath(n.RedisConnection):                     crud,
		c.mounts.Database + "/rotate-root/" + n.DBConnection:    {"update"},
		c.mounts.Database + "/rotate-root/" + n.RedisConnection: {"update"},
	}
	for _, id := range append(n.Identities(tenant.Components()), n.SharedJWTRole) {
		req[c.jwtRolePath(id)] = crud
	}
	for _, p := range append(n.Identities(tenant.Components()), n.SharedPolicy) {
		req[policyPath(p)] = crud
	}
	for _, r := range credRoles(n) {
		req[c.rolePath(r)] = crud
		req["sys/leases/lookup/"+c.leasePrefix(r)] = []string{"list", "sudo"}
		req["sys/leases/revoke-prefix/"+c.leasePrefix(r)] = []string{"update", "sudo"}
	}
	return req
}

// checkCapabilities asks Vault, in one request, what the token may do on
// every path provisioning n needs.
func (c *Client) checkCapabilities(ctx context.Context, n tenant.Names) error {
	req := c.requiredCapabilities(n)
	paths := make([]string, 0, len(req))
	for p := range req {
		paths = append(paths, p)
	}
	s, err := c.query(ctx, "check token capabilities", "sys/capabilities-self", map[string]any{"paths": paths})
	if err != nil {
		return exit.Because(err, exit.Unreachable, CauseForbidden)
	}
	var missing []string
	for _, p := range paths {
		have := map[string]bool{}
		if s != nil {
			if list, ok := s.Data[p].([]any); ok {
				for _, v := range list {
					if cs, ok := v.(string); ok {
						have[cs] = true
					}
				}
			}
		}
		if have["root"] {
			continue
		}
		for _, want := range req[p] {
			if !have[want] {
				missing = append(missing, fmt.Sprintf("%s on %s", want, p))
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return exit.New(exit.Unreachable, "grant the token the operator policy in docs/vault.md",
			"vault: the token lacks %d capabilities, such as %s", len(missing), missing[0])
	}
	return nil
}
