package provision

import (
	"context"
	"io/fs"
	"log/slog"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/nomad"
	"github.com/tenantctl/tenantctl/internal/routing"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/internal/vault"
)

// Nomad is what provisioning needs of Nomad. *nomad.Client implements it.
type Nomad interface {
	Preflight(ctx context.Context) (string, error)
	// Version is the Nomad agent's version, read once (the converged
	// check's fast path depends on it).
	Version(ctx context.Context) (string, error)
	EnsureNamespace(ctx context.Context, name, description string, meta map[string]string) (bool, error)
	DeleteNamespace(ctx context.Context, name string) (bool, error)
	Parse(ctx context.Context, src []byte, varFile string) (*nomadapi.Job, error)
	Plan(ctx context.Context, job *nomadapi.Job) (nomad.PlanResult, error)
	Apply(ctx context.Context, job *nomadapi.Job, src []byte, varFile string) (nomad.ApplyResult, error)
	WaitDeployment(ctx context.Context, ns, jobID string, sinceIndex uint64) error
	Dispatch(ctx context.Context, ns, jobID string, meta map[string]string, idempotencyToken string) (string, error)
	WaitDispatched(ctx context.Context, ns, childID string) (nomad.DispatchResult, error)
	Deregister(ctx context.Context, ns, jobID string, purge bool) (bool, error)
	ListJobs(ctx context.Context, ns, prefix string) ([]nomad.JobInfo, error)
	JobStatus(ctx context.Context, ns, jobID string) (nomad.JobStatus, error)
	JobURL(ns, jobID string) string
	// Describe says in one line what a job is doing now (deployment
	// health, placement, the newest allocation's last task event), for the
	// progress reports of a long wait.
	Describe(ctx context.Context, ns, jobID string) string
	// ReplaceAllocations replaces the job's allocations create-before-destroy;
	// ready reports when a new allocation serves.
	ReplaceAllocations(ctx context.Context, ns, jobID string, ready func(ctx context.Context, allocID string) error) (nomad.Replacement, error)
	EnsureHostVolume(ctx context.Context, ns, name, nodePool string) (bool, error)
	DeleteHostVolume(ctx context.Context, ns, name string) (bool, error)
	// ScaleToZero stops a job's allocations and keeps its definition;
	// registering its jobspec again brings it back (restore).
	ScaleToZero(ctx context.Context, ns, jobID, reason string) (bool, error)
	// TaskOutput is the end of a task's stdout: a batch runner's result
	// line.
	TaskOutput(ctx context.Context, ns, allocID, task string) (string, error)
	PeriodicChildren(ctx context.Context, ns, jobID string) ([]nomad.JobInfo, error)
	LastAllocation(ctx context.Context, ns, jobID string) (allocID, task string, err error)
}

// Vault is what provisioning needs of Vault. *vault.Client implements it.
type Vault interface {
	Preflight(ctx context.Context, names ...tenant.Names) error
	EnsureBootstrap(ctx context.Context, n tenant.Names) (bool, error)
	EnsurePolicies(ctx context.Context, n tenant.Names) (bool, error)
	EnsureJWTRoles(ctx context.Context, n tenant.Names) (bool, error)
	EnsurePostgres(ctx context.Context, n tenant.Names, addr string) (bool, error)
	EnsureRedis(ctx context.Context, n tenant.Names, addr string) (bool, error)
	RotateRoots(ctx context.Context, n tenant.Names) (vault.RotateReport, error)
	ListLeases(ctx context.Context, n tenant.Names) (vault.Leases, error)
	RevokeLeases(ctx context.Context, n tenant.Names, l vault.Leases) ([]vault.RoleLeases, error)
	// LeaseInfos describes the tenant's credential leases (role, issued,
	// expires), without secrets.
	LeaseInfos(ctx context.Context, n tenant.Names) ([]vault.LeaseInfo, error)
	Teardown(ctx context.Context, n tenant.Names) (bool, error)
	PurgeKeys(ctx context.Context, n tenant.Names) (bool, error)
}

// Consul is what provisioning needs of Consul. *consul.Client implements it.
type Consul interface {
	Preflight(ctx context.Context) error
	Acquire(ctx context.Context, key string, holder consul.Holder, wait time.Duration) (*consul.Lock, error)
	Held(ctx context.Context, key string) (*consul.Holder, error)
	ReadRecord(ctx context.Context, prefix string) (*tenant.Record, error)
	WriteRecord(ctx context.Context, prefix string, r tenant.Record) (bool, error)
	ListRecords(ctx context.Context) ([]tenant.Record, error)
	DeletePrefix(ctx context.Context, prefix string) (bool, error)
	// ServiceHealth is also routing.HealthReader, what routing
	// verification reads.
	ServiceHealth(ctx context.Context, service string) ([]consul.Instance, error)
	// ServiceHealthSince is ServiceHealth as a blocking query (also
	// routing.HealthWatcher): the waits for a passing check use it.
	ServiceHealthSince(ctx context.Context, service string, index uint64, wait time.Duration) ([]consul.Instance, uint64, error)
	// TenantsByTag maps every tag of a tenant's service in the catalog to
	// the tenants whose services carry it (the host check).
	TenantsByTag(ctx context.Context) (map[string][]string, error)
	// The backup catalogue (tenant.Names.BackupsKVPrefix).
	WriteBackup(ctx context.Context, prefix string, b tenant.Backup) (bool, error)
	ListBackups(ctx context.Context, prefix string) ([]tenant.Backup, error)
	DeleteBackup(ctx context.Context, prefix, id string) (bool, error)
}

var (
	_ Nomad                 = (*nomad.Client)(nil)
	_ Vault                 = (*vault.Client)(nil)
	_ Consul                = (*consul.Client)(nil)
	_ routing.HealthReader  = Consul(nil)
	_ routing.HealthWatcher = Consul(nil)
)

// Env is everything a provisioning command works with.
type Env struct {
	Nomad Nomad
	Vault Vault
	// VaultCheck is the read-only Vault (vault.Client.ReadOnly) the
	// converged check runs the Ensure… methods on; nil skips checking Vault
	// there (the record and health still count).
	VaultCheck Vault
	Consul     Consul
	Config     config.Config
	// Jobspecs and Migrations are the embedded files, or a directory given
	// with --jobspecs-dir / --migrations-dir.
	Jobspecs   fs.FS
	Migrations fs.FS
	Sink       Sink
	// Remedy, when set, gives an error the remedy its front end words
	// (exit.Cause: the CLI names its flags); it returns err unchanged when it
	// has none. The runner applies it to a failed step's error.
	Remedy func(error) error
	Logger *slog.Logger
	// Now returns the time; time.Now when nil.
	Now func() time.Time
	// ProgressEvery is how often a long wait (deployments, migration runs,
	// routing) reports what it last saw; 15 s when zero.
	ProgressEvery time.Duration
}

func (e Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// runner returns the runner of command for tenant id.
func (e Env) runner(command string, id tenant.ID) runner {
	return runner{command: command, tenant: id.String(), sink: e.Sink, now: e.now, remedy: e.Remedy}
}

func (e Env) log() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.New(slog.DiscardHandler)
}
