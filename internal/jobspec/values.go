package jobspec

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// Kind is the HCL type of a variable or object attribute.
type Kind int

// The kinds the jobspec variables use.
const (
	String Kind = iota // string
	Number             // number (whole, positive)
	List               // list(string)
	Object             // object({...}) of strings or numbers
)

// Value is one variable of a tenant's var file, or one attribute of an
// object variable.
type Value struct {
	Name string
	Kind Kind
	// Str holds a String, Num a Number, Items a List, Fields an Object.
	Str    string
	Num    int
	Items  []string
	Fields []Value
	// Settable reports whether --var may override it. The tenant's
	// identity (id, name, host) and every name from tenant.NamesFor are
	// not settable: they have their own flags or follow the naming scheme.
	Settable bool
	check    func(string) error
}

// HCL returns the value as an HCL literal. Strings are quoted with Quote,
// so no value can end its string or start an interpolation; objects span
// lines, indented by indent.
func (v Value) HCL(indent string) string {
	switch v.Kind {
	case Number:
		return strconv.Itoa(v.Num)
	case List:
		q := make([]string, len(v.Items))
		for i, s := range v.Items {
			q[i] = Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case Object:
		var b strings.Builder
		b.WriteString("{\n")
		writeAligned(&b, v.Fields, indent+"  ")
		b.WriteString(indent + "}")
		return b.String()
	default:
		return Quote(v.Str)
	}
}

func writeAligned(b *strings.Builder, vs []Value, indent string) {
	width := 0
	for _, v := range vs {
		width = max(width, len(v.Name))
	}
	for _, v := range vs {
		b.WriteString(indent)
		b.WriteString(v.Name)
		b.WriteString(strings.Repeat(" ", width-len(v.Name)))
		b.WriteString(" = ")
		b.WriteString(v.HCL(indent))
		b.WriteByte('\n')
	}
}

// Values are the variables of one tenant in one profile, in var-file order.
// Build them with ValuesFor; override with Set.
type Values struct {
	list []Value
}

// ValuesFor returns the variables of spec's tenant under cfg, for spec's
// profile. Every jobspec of the profile declares exactly these variables.
func ValuesFor(cfg config.Config, spec tenant.Spec) Values {
	n := tenant.NamesFor(spec.ID)
	plan := cfg.Plans[spec.Plan]
	// A tenant's own app build (fleet file) replaces the config's.
	if a := spec.App.Artifact; a != "" {
		cfg.Exec.TenantApp, cfg.Docker.AppImage = a, a
	}
	fixed := func(name, s string) Value { return Value{Name: name, Kind: String, Str: s} }
	str := func(name, s string, check func(string) error) Value {
		return Value{Name: name, Kind: String, Str: s, Settable: true, check: check}
	}
	// Sizes obey the same ranges as the config file's plan blocks.
	num := func(name string, i int) Value {
		return Value{Name: name, Kind: Number, Num: i, Settable: true, check: func(s string) error {
			n, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("it must be a whole number")
			}
			return config.CheckPlanValue(name, n)
		}}
	}
	osID := func(name string, i int) Value {
		return Value{Name: name, Kind: Number, Num: i, Settable: true, check: func(s string) error {
			n, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("it must be a whole number")
			}
			return config.CheckAppID(n)
		}}
	}
	obj := func(name string, fields ...Value) Value { return Value{Name: name, Kind: Object, Fields: fields} }

	components := tenant.Components()
	var jobs, services, volumes, identities, dbRoles, redisRoles []Value
	for _, c := range components {
		key := Key(c)
		identities = append(identities, fixed(key+"_vault_role", n.Identity(c)))
		jobs = append(jobs, fixed(key+"_job", n.Job(c)))
		if c.Service {
			services = append(services, fixed(key+"_service", n.Service(c)))
		}
		if c.Volume {
			volumes = append(volumes, fixed(key+"_volume", n.Volume(c)))
		}
		if r := n.DBRole(c); r != "" {
			dbRoles = append(dbRoles, fixed("db_role_"+key, r))
		}
		if r := n.RedisRole(c); r != "" {
			redisRoles = append(redisRoles, fixed("redis_role_"+key, r))
		}
	}
	names := []Value{fixed("namespace", n.Namespace)}
	names = append(names, identities...)
	names = append(names,
		fixed("bootstrap_path", n.BootstrapPath),
		fixed("database", n.Database),
	)
	names = append(append(append(names, jobs...), services...), volumes...)
	names = append(names,
		fixed("redis_admin_user", n.RedisAdminUser),
		fixed("redis_aclsave_user", n.RedisACLSaveUser),
	)
	names = append(names, dbRoles...)
	names = append(names,
		fixed("db_owner_role", n.OwnerRole),
		fixed("db_app_role", n.AppGroupRole),
	)
	names = append(names, redisRoles...)
	bk := cfg.BackupFor(spec.Plan)

	vs := []Value{
		fixed("tenant_id", spec.ID.String()),
		fixed("tenant_name", spec.Name.String()),
		fixed("host", spec.Host.String()),
		{Name: "datacenters", Kind: List, Items: append([]string(nil), cfg.Datacenters...), Settable: true, check: config.CheckNomadName},
		str("node_pool", cfg.NodePool, config.CheckNomadName),
		fixed("spec_version", SpecVersion),
		obj("names", names...),
		obj("vault",
			str("kv_mount", cfg.Vault.KVMount, config.CheckMount),
			str("database_mount", cfg.Vault.DatabaseMount, config.CheckMount),
		),
		obj("update",
			str("min_healthy_time", cfg.Update.MinHealthyTime, config.CheckDuration),
			str("healthy_deadline", cfg.Update.HealthyDeadline, config.CheckDuration),
			str("progress_deadline", cfg.Update.ProgressDeadline, config.CheckDuration),
		),
		obj("resources",
			num("postgres_cpu", plan.PostgresCPU),
			num("postgres_memory", plan.PostgresMemory),
			num("postgres_max_connections", plan.PostgresMaxConnections),
			num("redis_cpu", plan.RedisCPU),
			num("redis_memory", plan.RedisMemory),
			num("redis_maxmemory", plan.RedisMaxMemory),
			num("app_count", plan.AppCount),
			num("app_cpu", plan.AppCPU),
			num("app_memory", plan.AppMemory),
			num("worker_count", plan.WorkerCount),
			num("worker_cpu", plan.WorkerCPU),
			num("worker_memory", plan.WorkerMemory),
			num("migrate_cpu", plan.MigrateCPU),
			num("migrate_memory", plan.MigrateMemory),
		),
		// Where backups go and when the scheduled backup runs; schedule ""
		// means no scheduled-backup job (Render leaves it out).
		obj("backup",
			str("dir", bk.Dir, config.CheckPath),
			str("volume", bk.Volume, config.CheckNomadName),
			str("schedule", bk.Schedule, config.CheckScheduleOrEmpty),
			Value{Name: "keep", Kind: Number, Num: bk.Keep, Settable: true, check: func(s string) error {
				n, err := strconv.Atoi(s)
				if err != nil {
					return fmt.Errorf("it must be a whole number")
				}
				return config.CheckKeep(n)
			}},
		),
	}
	switch spec.Profile {
	case tenant.ProfileExec:
		vs = append(vs, obj("exec",
			str("postgres_bin_dir", cfg.Exec.PostgresBinDir, config.CheckPath),
			str("postgres_user", cfg.Exec.PostgresUser, config.CheckUser),
			str("postgres_data_dir", path.Join(cfg.Exec.DataDir, n.VolumePostgres), config.CheckPath),
			str("redis_server", cfg.Exec.RedisServer, config.CheckPath),
			str("redis_cli", cfg.Exec.RedisCLI, config.CheckPath),
			str("redis_data_dir", path.Join(cfg.Exec.DataDir, n.VolumeRedis), config.CheckPath),
			str("tenant_app", cfg.Exec.TenantApp, config.CheckPath),
			str("tenantctl", cfg.Exec.Tenantctl, config.CheckPath),
			str("app_user", cfg.Exec.AppUser, config.CheckAppUser),
			osID("app_uid", cfg.Exec.AppUID),
			osID("app_gid", cfg.Exec.AppGID),
		))
	default:
		vs = append(vs, obj("images",
			str("postgres", cfg.Docker.PostgresImage, config.CheckImage),
			str("redis", cfg.Docker.RedisImage, config.CheckImage),
			str("app", cfg.Docker.AppImage, config.CheckImage),
			str("tenantctl", cfg.Docker.TenantctlImage, config.CheckImage),
			str("backup", cfg.Docker.BackupImage, config.CheckImage),
		))
	}
	return Values{list: vs}
}

// Key is component c's name as it appears in the var file's names object
// (<key>_job, <key>_vault_role, db_role_<key>, …): HCL attribute names
// with underscores for the component name's hyphens.
func Key(c tenant.Component) string { return strings.ReplaceAll(c.Name, "-", "_") }

// Get returns the value at path: a variable name, or object.attribute.
func (vs Values) Get(path string) (Value, bool) {
	top, attr, nested := strings.Cut(path, ".")
	for _, v := range vs.list {
		if v.Name != top {
			continue
		}
		if !nested {
			return v, true
		}
		for _, f := range v.Fields {
			if f.Name == attr {
				return f, true
			}
		}
	}
	return Value{}, false
}

// SettableNames returns the paths Set accepts, in var-file order.
func (vs Values) SettableNames() []string {
	var out []string
	for _, v := range vs.list {
		if v.Settable {
			out = append(out, v.Name)
		}
		for _, f := range v.Fields {
			if f.Settable {
				out = append(out, v.Name+"."+f.Name)
			}
		}
	}
	return out
}

// SetError is an override that Set refused.
type SetError struct {
	Name, Raw, Reason, Example string
}

// Error returns "--var <path>=<value>: <reason>".
func (e *SetError) Error() string {
	raw := []rune(e.Raw)
	if len(raw) > 64 {
		raw = append(raw[:64], '…')
	}
	return fmt.Sprintf("--var %s=%q: %s", e.Name, string(raw), e.Reason)
}

// Set overrides the value at path (a variable, or object.attribute such as
// resources.app_count) with raw, as given to --var path=raw: numbers in
// decimal, lists comma-separated. It refuses unknown paths, names derived
// from the tenant and invalid values, and leaves vs unchanged then.
func (vs *Values) Set(path, raw string) error {
	top, attr, nested := strings.Cut(path, ".")
	var v *Value
	for i := range vs.list {
		if vs.list[i].Name != top {
			continue
		}
		v = &vs.list[i]
		if nested {
			v = nil
			for j := range vs.list[i].Fields {
				if vs.list[i].Fields[j].Name == attr {
					// Copy the fields so Values from ValuesFor never share them.
					vs.list[i].Fields = append([]Value(nil), vs.list[i].Fields...)
					v = &vs.list[i].Fields[j]
				}
			}
		}
	}
	settable := "one of: " + strings.Join(vs.SettableNames(), ", ")
	switch {
	case v == nil:
		return &SetError{Name: path, Raw: raw, Reason: "no such variable in this profile", Example: settable}
	case !v.Settable:
		return &SetError{Name: path, Raw: raw, Reason: "it is derived from the tenant and cannot be set",
			Example: "--name, --host or --plan, or " + settable}
	}
	switch v.Kind {
	case Number:
		if err := v.check(raw); err != nil {
			return &SetError{Name: path, Raw: raw, Reason: err.Error(),
				Example: fmt.Sprintf("--var %s=%d", path, v.Num)}
		}
		v.Num, _ = strconv.Atoi(raw)
	case List:
		items := strings.Split(raw, ",")
		for _, it := range items {
			if err := v.check(it); err != nil {
				return &SetError{Name: path, Raw: raw, Reason: err.Error(), Example: "--var " + path + "=dc1,dc2"}
			}
		}
		v.Items = items
	default:
		if err := v.check(raw); err != nil {
			return &SetError{Name: path, Raw: raw, Reason: err.Error(), Example: fmt.Sprintf("--var %s=%s", path, v.Str)}
		}
		v.Str = raw
	}
	return nil
}

// Validate checks relations between values that Set cannot check alone,
// as the config file's validation does.
func (vs Values) Validate() error {
	mh, _ := vs.Get("update.min_healthy_time")
	hd, _ := vs.Get("update.healthy_deadline")
	pd, _ := vs.Get("update.progress_deadline")
	if err := config.CheckUpdateOrder(mh.Str, hd.Str, pd.Str); err != nil {
		return &SetError{Name: "update", Raw: mh.Str + " < " + hd.Str + " < " + pd.Str, Reason: err.Error(),
			Example: "--var update.min_healthy_time=5s --var update.healthy_deadline=3m --var update.progress_deadline=5m"}
	}
	maxmem, _ := vs.Get("resources.redis_maxmemory")
	mem, _ := vs.Get("resources.redis_memory")
	if maxmem.Num >= mem.Num {
		return &SetError{Name: "resources.redis_maxmemory", Raw: strconv.Itoa(maxmem.Num),
			Reason:  fmt.Sprintf("it must be below resources.redis_memory (%d MiB)", mem.Num),
			Example: fmt.Sprintf("--var resources.redis_maxmemory=%d", mem.Num/2)}
	}
	return nil
}

// File returns the var-file text: a comment header, then one `name = value`
// per variable, aligned the way `nomad fmt` aligns them.
func (vs Values) File() string {
	id, _ := vs.Get("tenant_id")
	var b strings.Builder
	b.Grow(2048)
	b.WriteString("# Variables of tenant " + id.Str + " for the tenantctl jobspecs, written by `tenantctl render`.\n")
	b.WriteString("# Every jobspec of the profile declares exactly these variables. No secrets here.\n")
	b.WriteString("#   nomad job run -var-file=" + id.Str + ".vars.hcl postgres.nomad.hcl\n\n")
	writeAligned(&b, vs.list, "")
	return b.String()
}
