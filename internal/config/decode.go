package config

import (
	"fmt"
	"path"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// fileBody is tenantctl.hcl as gohcl decodes it. Its blocks point at the
// config being built, so a block overlays the defaults it already holds.
type fileBody struct {
	BaseDomain    string      `hcl:"base_domain,optional"`
	Datacenters   []string    `hcl:"datacenters,optional"`
	NodePool      string      `hcl:"node_pool,optional"`
	Profile       string      `hcl:"profile,optional"`
	RouterAddress string      `hcl:"router_address,optional"`
	PathRouting   string      `hcl:"path_routing_host,optional"`
	Vault         *Vault      `hcl:"vault,block"`
	Docker        *Docker     `hcl:"docker,block"`
	Exec          *Exec       `hcl:"exec,block"`
	Update        *Update     `hcl:"update,block"`
	Backup        *Backup     `hcl:"backup,block"`
	Plans         []planBlock `hcl:"plan,block"`
}

// planBlock is one `plan "<name>" { … }`; its body overlays that plan's
// defaults once the label is known to be a plan.
type planBlock struct {
	Name string   `hcl:"name,label"`
	Body hcl.Body `hcl:",remain"`
}

// planBackupBlock is a plan's backup block as gohcl decodes it; which
// settings it sets is read from the file's positions.
type planBackupBlock struct {
	Schedule string `hcl:"schedule,optional"`
	Keep     int    `hcl:"keep,optional"`
}

// decodeFile overlays the settings of f onto cfg, which holds the defaults.
func decodeFile(f *HCLFile, cfg *Config) error {
	fb := fileBody{
		BaseDomain: cfg.BaseDomain, Datacenters: cfg.Datacenters, NodePool: cfg.NodePool,
		Profile: string(cfg.Profile), RouterAddress: cfg.RouterAddress, PathRouting: cfg.PathRoutingHost,
		Vault: &cfg.Vault, Docker: &cfg.Docker, Exec: &cfg.Exec, Update: &cfg.Update, Backup: &cfg.Backup,
	}
	if err := f.Decode(f.Body, "", &fb); err != nil {
		return err
	}
	cfg.BaseDomain, cfg.Datacenters, cfg.NodePool, cfg.RouterAddress = fb.BaseDomain, fb.Datacenters, fb.NodePool, fb.RouterAddress
	cfg.PathRoutingHost = fb.PathRouting
	if _, ok := f.Pos["exec.redis_server"]; ok {
		if _, ok := f.Pos["exec.redis_cli"]; !ok {
			cfg.Exec.RedisCLI = path.Join(path.Dir(cfg.Exec.RedisServer), "redis-cli")
		}
	}
	seen := map[tenant.Plan]bool{}
	for _, pb := range fb.Plans {
		plan, err := tenant.ParsePlan(pb.Name)
		if err != nil {
			return f.Locate(&Error{Field: "plan", Value: pb.Name, Reason: "unknown plan", Example: `plan "small" { app_count = 1 }`,
				Line: f.Pos["plan."+pb.Name].Line})
		}
		if seen[plan] {
			return f.Locate(&Error{Field: "plan " + pb.Name, Reason: "the block is given twice", Example: "one plan block per plan",
				Line: f.Pos["plan."+pb.Name].Line})
		}
		seen[plan] = true
		pre := "plan." + string(plan) + "."
		sizes, backups, err := splitPlanBody(f, pb.Body)
		if err != nil {
			return err
		}
		p := cfg.Plans[plan]
		if err := f.Decode(sizes, pre, &p); err != nil {
			return err
		}
		cfg.Plans[plan] = p
		if len(backups) > 1 {
			return f.Locate(&Error{Field: pre + "backup", Reason: "the block is given twice", Example: "one backup block per plan",
				Line: backups[1].TypeRange.Start.Line})
		}
		for _, b := range backups {
			var bb planBackupBlock
			if err := f.Decode(b.Body, pre+"backup.", &bb); err != nil {
				return err
			}
			var o PlanBackup
			if _, ok := f.Pos[pre+"backup.schedule"]; ok {
				o.Schedule = &bb.Schedule
			}
			if _, ok := f.Pos[pre+"backup.keep"]; ok {
				o.Keep = &bb.Keep
			}
			if cfg.PlanBackups == nil {
				cfg.PlanBackups = map[tenant.Plan]PlanBackup{}
			}
			cfg.PlanBackups[plan] = o
		}
	}
	p, err := tenant.ParseProfile(fb.Profile)
	if err != nil {
		return f.Locate(&Error{Field: "profile", Value: fb.Profile, Reason: "unknown profile", Example: `profile = "docker"`})
	}
	cfg.Profile = p
	return nil
}

// splitPlanBody separates a plan block's backup blocks from its sizes, so
// each is checked and decoded against its own struct.
func splitPlanBody(f *HCLFile, body hcl.Body) (hcl.Body, []*hclsyntax.Block, error) {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		return nil, nil, fmt.Errorf("config: %s: not a native HCL body", f.Name)
	}
	sizes := *sb
	sizes.Blocks = nil
	var backups []*hclsyntax.Block
	for _, b := range sb.Blocks {
		if b.Type == "backup" && len(b.Labels) == 0 {
			backups = append(backups, b)
			continue
		}
		sizes.Blocks = append(sizes.Blocks, b)
	}
	return &sizes, backups, nil
}
