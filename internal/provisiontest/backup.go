package provisiontest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/tenantctl/tenantctl/internal/backup"
	"github.com/tenantctl/tenantctl/internal/migrate"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// batchCreds logs in to Vault as the starting task (its workload identity
// and the role its vault block names) and returns what the task's two
// templates render: DATABASE_URL and REDIS_URL with the credentials of
// dbRole and redisRole.
func (d *double) batchCreds(ctx context.Context, h *Harness, n tenant.Names, ts nomadtest.TaskStart, dbRole, redisRole string) (string, string, error) {
	vc, err := d.taskVault(ctx, h, ts, ts.Task.Name)
	if err != nil {
		return "", "", err
	}
	mount := h.cfg.Vault.DatabaseMount
	dbUser, dbPass, err := creds(ctx, vc, mount, dbRole)
	if err != nil {
		return "", "", err
	}
	rUser, rPass, err := creds(ctx, vc, mount, redisRole)
	if err != nil {
		return "", "", err
	}
	pgAddr, err := h.passingAddr(ctx, n.ServicePostgres)
	if err != nil {
		return "", "", err
	}
	redisAddr, err := h.passingAddr(ctx, n.ServiceRedis)
	if err != nil {
		return "", "", err
	}
	// As the templates render them: user and password query-escaped (a
	// Redis user Vault names after a workload identity holds ':').
	dsn := fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", url.QueryEscape(dbUser), url.QueryEscape(dbPass), pgAddr, n.Database)
	rurl := fmt.Sprintf("redis://%s:%s@%s/0", url.QueryEscape(rUser), url.QueryEscape(rPass), redisAddr)
	return dsn, rurl, nil
}

// backupTask runs the backup runner as `tenantctl db backup` does inside
// the backup (or scheduled-backup) job: the credentials of the job's own
// roles, the environment its jobspec sets, the manifest line on stdout.
func (d *double) backupTask(h *Harness, n tenant.Names, dbRole, redisRole string) nomadtest.TaskHook {
	return func(ctx context.Context, ts nomadtest.TaskStart) (*nomadtest.TaskRun, error) {
		dsn, rurl, err := d.batchCreds(ctx, h, n, ts, dbRole, redisRole)
		if err != nil {
			return nil, err
		}
		keep, err := strconv.Atoi(ts.Env["TENANTCTL_BACKUP_KEEP"])
		if err != nil {
			return nil, fmt.Errorf("TENANTCTL_BACKUP_KEEP %q: %w", ts.Env["TENANTCTL_BACKUP_KEEP"], err)
		}
		opts := backup.Options{Root: ts.Env["TENANTCTL_BACKUP_DIR"], Tenant: tenant.ID(ts.Env["TENANT_ID"]),
			ID: ts.Env["TENANTCTL_BACKUP_ID"], Keep: keep, DatabaseURL: dsn, RedisURL: rurl, PGBinDir: ts.Env["TENANTCTL_PG_BIN_DIR"]}
		return &nomadtest.TaskRun{Wait: func(ctx context.Context) int {
			m, err := backup.Backup(ctx, opts)
			if err != nil {
				fmt.Fprintf(ts.Stderr, "Error: %s\n", migrate.RedactURL(err.Error()))
				return 1
			}
			b, _ := json.Marshal(m)
			fmt.Fprintf(ts.Stdout, "%s%s\n", backup.BackupLinePrefix, b)
			return 0
		}}, nil
	}
}

// restoreTask runs the restore runner as `tenantctl db restore` does inside
// the restore job.
func (d *double) restoreTask(h *Harness, n tenant.Names) nomadtest.TaskHook {
	return func(ctx context.Context, ts nomadtest.TaskStart) (*nomadtest.TaskRun, error) {
		dsn, rurl, err := d.batchCreds(ctx, h, n, ts, n.DBRoleRestore, n.RedisRoleRestore)
		if err != nil {
			return nil, err
		}
		known, err := knownSchema(h)
		if err != nil {
			return nil, err
		}
		opts := backup.RestoreOptions{Root: ts.Env["TENANTCTL_BACKUP_DIR"], Tenant: tenant.ID(ts.Env["TENANT_ID"]),
			SourceTenant: tenant.ID(ts.Env["TENANTCTL_RESTORE_SOURCE_TENANT"]), ID: ts.Env["TENANTCTL_RESTORE_FROM"],
			KnownSchemaVersion: known, DatabaseURL: dsn, RedisURL: rurl, PGBinDir: ts.Env["TENANTCTL_PG_BIN_DIR"]}
		return &nomadtest.TaskRun{Wait: func(ctx context.Context) int {
			res, err := backup.Restore(ctx, opts)
			if err != nil {
				fmt.Fprintf(ts.Stderr, "Error: %s\n", migrate.RedactURL(err.Error()))
				return 1
			}
			b, _ := json.Marshal(res)
			fmt.Fprintf(ts.Stdout, "%s%s\n", backup.RestoreLinePrefix, b)
			return 0
		}}, nil
	}
}

// knownSchema is the newest migration version of the harness's migrations.
func knownSchema(h *Harness) (int64, error) {
	v, err := provision.MigrationsVersion(h.migrations)
	if err != nil {
		return 0, err
	}
	num, _, _ := strings.Cut(v, "-")
	return strconv.ParseInt(num, 10, 64)
}
