package config

import (
	"fmt"
	"math/big"
	"path"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// decodeFile overlays the settings in body on cfg (which holds the defaults).
// Unknown attributes and blocks are errors, so a typo never silently keeps a
// default.
func decodeFile(body hcl.Body, cfg *Config) error {
	profile := string(cfg.Profile)
	top := fields{
		"base_domain":       &cfg.BaseDomain,
		"datacenters":       &cfg.Datacenters,
		"node_pool":         &cfg.NodePool,
		"profile":           &profile,
		"router_address":    &cfg.RouterAddress,
		"path_routing_host": &cfg.PathRoutingHost,
	}
	blocks := map[string]fields{
		"vault": {
			"jwt_auth_path": &cfg.Vault.JWTAuthPath, "kv_mount": &cfg.Vault.KVMount,
			"database_mount": &cfg.Vault.DatabaseMount, "creds_ttl": &cfg.Vault.CredsTTL,
			"creds_max_ttl": &cfg.Vault.CredsMaxTTL, "token_ttl": &cfg.Vault.TokenTTL,
		},
		"docker": {
			"postgres_image": &cfg.Docker.PostgresImage, "redis_image": &cfg.Docker.RedisImage,
			"app_image": &cfg.Docker.AppImage, "tenantctl_image": &cfg.Docker.TenantctlImage,
		},
		"exec": {
			"postgres_bin_dir": &cfg.Exec.PostgresBinDir, "postgres_user": &cfg.Exec.PostgresUser,
			"redis_server": &cfg.Exec.RedisServer, "redis_cli": &cfg.Exec.RedisCLI, "tenant_app": &cfg.Exec.TenantApp,
			"tenantctl": &cfg.Exec.Tenantctl, "data_dir": &cfg.Exec.DataDir,
		},
		"update": {
			"min_healthy_time": &cfg.Update.MinHealthyTime, "healthy_deadline": &cfg.Update.HealthyDeadline,
			"progress_deadline": &cfg.Update.ProgressDeadline,
		},
	}
	schema := &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "plan", LabelNames: []string{"name"}}}}
	for name := range top {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: name})
	}
	for name := range blocks {
		schema.Blocks = append(schema.Blocks, hcl.BlockHeaderSchema{Type: name})
	}
	content, diags := body.Content(schema)
	if diags.HasErrors() {
		return &Error{Field: "(schema)", Reason: diags.Error(), Example: `base_domain = "tenants.example.com"`}
	}
	if err := top.decode("", content.Attributes); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, b := range content.Blocks {
		key := b.Type
		if b.Type == "plan" {
			key += " " + b.Labels[0]
		}
		if seen[key] {
			return &Error{Field: key, Reason: "the block is given twice", Example: "one " + b.Type + " block"}
		}
		seen[key] = true
		f := blocks[b.Type]
		prefix := b.Type + "."
		if b.Type == "plan" {
			plan, err := tenant.ParsePlan(b.Labels[0])
			if err != nil {
				return &Error{Field: "plan", Value: b.Labels[0], Reason: "unknown plan", Example: `plan "small" { app_count = 1 }`}
			}
			p := cfg.Plans[plan]
			if err := decodeBlock(b, "plan."+string(plan)+".", planFields(&p)); err != nil {
				return err
			}
			cfg.Plans[plan] = p
			continue
		}
		if err := decodeBlock(b, prefix, f); err != nil {
			return err
		}
		if b.Type == "exec" {
			// redis-cli ships with redis-server: a file that moves redis_server
			// moves redis_cli along unless it sets redis_cli too.
			attrs, _ := b.Body.JustAttributes()
			_, server := attrs["redis_server"]
			_, cli := attrs["redis_cli"]
			if server && !cli {
				cfg.Exec.RedisCLI = path.Join(path.Dir(cfg.Exec.RedisServer), "redis-cli")
			}
		}
	}
	p, err := tenant.ParseProfile(profile)
	if err != nil {
		return &Error{Field: "profile", Value: profile, Reason: "unknown profile", Example: `profile = "docker"`}
	}
	cfg.Profile = p
	return nil
}

func decodeBlock(b *hcl.Block, prefix string, f fields) error {
	attrs, diags := b.Body.JustAttributes()
	if diags.HasErrors() {
		return &Error{Field: b.Type, Reason: diags.Error(), Example: `vault { kv_mount = "tenantctl" }`}
	}
	return f.decode(prefix, attrs)
}

func planFields(p *Plan) fields {
	return fields{
		"postgres_cpu": &p.PostgresCPU, "postgres_memory": &p.PostgresMemory,
		"postgres_max_connections": &p.PostgresMaxConnections,
		"redis_cpu":                &p.RedisCPU, "redis_memory": &p.RedisMemory, "redis_maxmemory": &p.RedisMaxMemory,
		"app_count": &p.AppCount, "app_cpu": &p.AppCPU, "app_memory": &p.AppMemory,
		"worker_count": &p.WorkerCount, "worker_cpu": &p.WorkerCPU, "worker_memory": &p.WorkerMemory,
		"migrate_cpu": &p.MigrateCPU, "migrate_memory": &p.MigrateMemory,
	}
}

// fields maps attribute names to *string, *[]string or *int destinations.
type fields map[string]any

func (f fields) decode(prefix string, attrs hcl.Attributes) error {
	for name, attr := range attrs {
		dst, ok := f[name]
		if !ok {
			return &Error{Field: prefix + name, Reason: fmt.Sprintf("unknown setting (%s)", attr.NameRange),
				Example: "see docs/jobspecs.md for the settings"}
		}
		v, diags := attr.Expr.Value(nil)
		if diags.HasErrors() {
			return &Error{Field: prefix + name, Reason: diags.Error(), Example: "a literal value, no expressions"}
		}
		if err := assign(dst, v); err != nil {
			return &Error{Field: prefix + name, Value: v.GoString(), Reason: err.Error(), Example: exampleFor(dst)}
		}
	}
	return nil
}

func exampleFor(dst any) string {
	switch dst.(type) {
	case *int:
		return "a whole number such as 256"
	case *[]string:
		return `a list such as ["dc1"]`
	default:
		return `a quoted string such as "value"`
	}
}

func assign(dst any, v cty.Value) error {
	if v.IsNull() || !v.IsWhollyKnown() {
		return fmt.Errorf("it is null or unknown")
	}
	switch d := dst.(type) {
	case *string:
		s, err := convert.Convert(v, cty.String)
		if err != nil || v.Type() != cty.String {
			return fmt.Errorf("it must be a string")
		}
		*d = s.AsString()
	case *int:
		if v.Type() != cty.Number {
			return fmt.Errorf("it must be a number")
		}
		bf := v.AsBigFloat()
		if !bf.IsInt() {
			return fmt.Errorf("it must be a whole number")
		}
		i, acc := bf.Int64()
		if acc != big.Exact || i > 1<<31 || i < -(1<<31) {
			return fmt.Errorf("it is out of range")
		}
		*d = int(i)
	case *[]string:
		if !v.Type().IsTupleType() && !v.Type().IsListType() {
			return fmt.Errorf("it must be a list of strings")
		}
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.IsNull() || e.Type() != cty.String {
				return fmt.Errorf("it must be a list of strings")
			}
			out = append(out, e.AsString())
		}
		*d = out
	default:
		panic(fmt.Sprintf("config: unsupported destination %T", dst))
	}
	return nil
}
