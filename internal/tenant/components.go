package tenant

// Stage is when up converges a component, and what the other commands do
// with it.
type Stage int

// The stages, in up's order.
const (
	// StageData components are the data services: registered together and
	// waited on until healthy before Vault's secrets engines connect to them;
	// down stops them after Vault's teardown; their data outlives the jobs.
	StageData Stage = iota
	// StageMigrate is the parameterized migration job: registered,
	// dispatched for the current migration set and waited on.
	StageMigrate
	// StageWorkload components are the app and its worker: deployed after
	// the migrations, stopped first by down, and their allocations replaced
	// by rotate.
	StageWorkload
	// StageOnDemand components are parameterized batch jobs that up
	// registers and only a command dispatches: backup (tenantctl backup,
	// down --purge-data's final backup) and restore (tenantctl restore).
	// down stops them with the workloads.
	StageOnDemand
	// StageScheduled components are periodic jobs that exist only when the
	// config asks for them (the scheduled backup, backup { schedule }): up
	// registers them when it does and removes them when it no longer does.
	StageScheduled
)

// Component is one job of a tenant's stack. Its name names the jobspec
// (<name>.<profile>.nomad.hcl) and, after the tenant id, its Nomad job,
// Consul service and data volume (see Names).
type Component struct {
	Name  string
	Stage Stage
	// Service reports whether the job registers a Consul service; tenantctl
	// waits for it to pass, and status shows its health.
	Service bool
	// Volume reports whether the job keeps data on a volume (docker: a Nomad
	// dynamic host volume; exec: a directory on the client).
	Volume bool
	// Reads is what the component's tasks may read from Vault with their
	// workload identity; its Vault policy grants exactly that (see Names.Identity).
	Reads Reads
}

// Reads is what one component's tasks read from Vault.
type Reads struct {
	// Bootstrap: the tenant's bootstrap secret (the data services'
	// first-boot admin passwords).
	Bootstrap bool
	// Postgres and Redis: dynamic credentials of the component's own roles
	// (Names.DBRole, Names.RedisRole).
	Postgres, Redis bool
}

// Components returns a tenant's components in the order up registers them.
// Every command derives its jobs, services and volumes from this list; see
// "Adding a component" in docs/jobspecs.md.
func Components() []Component {
	return []Component{
		{Name: "postgres", Stage: StageData, Service: true, Volume: true, Reads: Reads{Bootstrap: true}},
		{Name: "redis", Stage: StageData, Service: true, Volume: true, Reads: Reads{Bootstrap: true}},
		{Name: "migrate", Stage: StageMigrate, Reads: Reads{Postgres: true}},
		{Name: "app", Stage: StageWorkload, Service: true, Reads: Reads{Postgres: true, Redis: true}},
		{Name: "worker", Stage: StageWorkload, Service: true, Reads: Reads{Postgres: true, Redis: true}},
		// Backups read the database and Redis through roles of their own:
		// read-only dump rights (backup, scheduled-backup) and the owner's
		// rights plus FLUSHDB/RESTORE (restore); see docs/backups.md.
		{Name: "backup", Stage: StageOnDemand, Reads: Reads{Postgres: true, Redis: true}},
		{Name: "restore", Stage: StageOnDemand, Reads: Reads{Postgres: true, Redis: true}},
		{Name: "scheduled-backup", Stage: StageScheduled, Reads: Reads{Postgres: true, Redis: true}},
	}
}

// ComponentsAt returns the components of stage, in order.
func ComponentsAt(stage Stage) []Component {
	var out []Component
	for _, c := range Components() {
		if c.Stage == stage {
			out = append(out, c)
		}
	}
	return out
}

// Job returns the Nomad job id of component c.
func (n Names) Job(c Component) string { return n.ID.String() + Separator + c.Name }

// Service returns the Consul service of component c, "" when it has none.
func (n Names) Service(c Component) string {
	if !c.Service {
		return ""
	}
	return n.ID.String() + Separator + c.Name
}

// Volume returns the data volume of component c, "" when it has none.
func (n Names) Volume(c Component) string {
	if !c.Volume {
		return ""
	}
	return n.ID.String() + Separator + c.Name + "-data"
}

// Identity returns the name of component c's Vault identity: its role in the
// Nomad workload-identity jwt auth mount and its ACL policy (two Vault
// systems, one name). Every component has one.
func (n Names) Identity(c Component) string {
	return n.ID.String() + Separator + "nomad-" + c.Name
}

// DBRole returns the database secrets engine role issuing component c's
// Postgres credentials, "" when c reads none.
func (n Names) DBRole(c Component) string {
	if !c.Reads.Postgres {
		return ""
	}
	return n.ID.String() + Separator + c.Name
}

// RedisRole returns the database secrets engine role issuing component c's
// Redis credentials, "" when c reads none.
func (n Names) RedisRole(c Component) string {
	if !c.Reads.Redis {
		return ""
	}
	return n.ID.String() + Separator + "redis-" + c.Name
}

// Identities returns the Vault identities of cs, in order.
func (n Names) Identities(cs []Component) []string { return nonEmpty(cs, n.Identity) }

// DBRoles returns the Postgres credential roles of cs, in order.
func (n Names) DBRoles(cs []Component) []string { return nonEmpty(cs, n.DBRole) }

// RedisRoles returns the Redis credential roles of cs, in order.
func (n Names) RedisRoles(cs []Component) []string { return nonEmpty(cs, n.RedisRole) }

// Jobs returns the Nomad job ids of cs, in order.
func (n Names) Jobs(cs []Component) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, n.Job(c))
	}
	return out
}

// Services returns the Consul services of those of cs that have one, in
// order.
func (n Names) Services(cs []Component) []string { return nonEmpty(cs, n.Service) }

// Volumes returns the data volumes of those of cs that have one, in order.
func (n Names) Volumes(cs []Component) []string { return nonEmpty(cs, n.Volume) }

// nonEmpty returns name(c) of every c in cs that has one, in order.
func nonEmpty(cs []Component, name func(Component) string) []string {
	var out []string
	for _, c := range cs {
		if s := name(c); s != "" {
			out = append(out, s)
		}
	}
	return out
}
