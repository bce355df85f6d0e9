package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/backup"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/migrate"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/migrations"
)

// Environment variables of the db backup, restore and backups commands: what
// the backup and restore jobs' templates and env blocks provide.
const (
	envRedisURL            = "REDIS_URL"
	envTenantID            = "TENANT_ID"
	envBackupDir           = "TENANTCTL_BACKUP_DIR"
	envBackupID            = "TENANTCTL_BACKUP_ID"
	envBackupKeep          = "TENANTCTL_BACKUP_KEEP"
	envRestoreFrom         = "TENANTCTL_RESTORE_FROM"
	envRestoreSourceTenant = "TENANTCTL_RESTORE_SOURCE_TENANT"
	envPGBinDir            = "TENANTCTL_PG_BIN_DIR"
)

// optionSetting returns the flag and environment variable behind an option
// of the backup package (backup.ConfigError.Option), for remedies.
func optionSetting(option string) (flag, env string) {
	switch option {
	case "DatabaseURL":
		return "database-url", envDatabaseURL
	case "RedisURL":
		return "redis-url", envRedisURL
	case "PGBinDir":
		return "pg-bin-dir", envPGBinDir
	case "Keep":
		return "keep", envBackupKeep
	case "ID":
		return "from", envRestoreFrom
	}
	return "", ""
}

func backupFlags(extra ...ucli.Flag) []ucli.Flag {
	return append([]ucli.Flag{
		&ucli.StringFlag{Name: "tenant", Usage: "tenant id (env " + envTenantID + ")"},
		&ucli.StringFlag{Name: "backup-dir", Usage: "directory holding every tenant's backups, <dir>/<tenant>/<backup-id>/ (env " + envBackupDir + ")"},
	}, extra...)
}

func connFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "database-url", Usage: "PostgreSQL URL, postgres://user:password@host:port/db (env " + envDatabaseURL + ")"},
		&ucli.StringFlag{Name: "redis-url", Usage: "Redis URL, redis://user:password@host:port/0 (env " + envRedisURL + ")"},
		&ucli.StringFlag{Name: "pg-bin-dir", Usage: "directory of pg_dump, pg_restore and psql; default: PATH (env " + envPGBinDir + ")"},
	}
}

func (a *app) dbBackupCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "backup",
		Usage: "back up the tenant's Postgres and Redis into the backup directory",
		Description: "Runs inside the tenant's backup batch job. Writes <backup-dir>/<tenant>/<id>/ with postgres.dump\n" +
			"(pg_dump custom format, one consistent snapshot), redis.snapshot (every key, DUMP and PTTL) and\n" +
			"manifest.json (sizes, checksums, schema version), complete or not at all, then deletes the\n" +
			"tenant's backups beyond --keep. The last line on stdout is\n" +
			"  " + backup.BackupLinePrefix + "<manifest JSON>",
		Flags: backupFlags(append(connFlags(),
			&ucli.StringFlag{Name: "id", Usage: "backup id, YYYYMMDDTHHMMSSZ-<6 hex>; default: a new one (env " + envBackupID + ")"},
			&ucli.StringFlag{Name: "keep", Usage: "keep this many newest backups of the tenant, 0 = all (env " + envBackupKeep + ")"},
		)...),
		Action: func(c *ucli.Context) error {
			id, root, err := a.tenantAndDir(c)
			if err != nil {
				return err
			}
			keep := 0
			if s := a.flagOrEnv(c, "keep", envBackupKeep); s != "" {
				if keep, err = strconv.Atoi(s); err != nil || keep < 0 {
					return exit.UsageError("pass --keep N (or "+envBackupKeep+") with N ≥ 0; 0 keeps every backup",
						"invalid number of backups to keep %q", s)
				}
			}
			m, err := backup.Backup(c.Context, backup.Options{
				Root: root, Tenant: id, ID: a.flagOrEnv(c, "id", envBackupID), Keep: keep,
				DatabaseURL: a.flagOrEnv(c, "database-url", envDatabaseURL),
				RedisURL:    a.flagOrEnv(c, "redis-url", envRedisURL),
				PGBinDir:    a.flagOrEnv(c, "pg-bin-dir", envPGBinDir),
				Logger:      a.log,
			})
			if m != nil {
				if perr := a.resultLine(backup.BackupLinePrefix, m); perr != nil && err == nil {
					err = perr
				}
			}
			return a.backupError(c, err)
		},
	}
}

func (a *app) dbRestoreCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "restore",
		Usage: "restore a backup into the tenant's Postgres and Redis",
		Description: "Runs inside the tenant's restore batch job, with the app and worker stopped. Checks the backup\n" +
			"first (its manifest names --source-tenant, default --tenant; files match their checksums; its schema\n" +
			"is not newer than the migrations this tenantctl has) and changes nothing when a check fails. Then\n" +
			"replaces the database's public schema with the dump in one transaction (all or nothing), and\n" +
			"Redis's keys (FLUSHDB, then RESTORE of every key). A --source-tenant other than --tenant restores a\n" +
			"copy of that tenant's data. The last line on stdout is\n" +
			"  " + backup.RestoreLinePrefix + "<summary JSON>",
		Flags: backupFlags(append(connFlags(),
			&ucli.StringFlag{Name: "from", Usage: "id of the backup to restore (env " + envRestoreFrom + ")"},
			&ucli.StringFlag{Name: "source-tenant", Usage: "tenant the backup was taken from; default: --tenant (env " + envRestoreSourceTenant + ")"},
			&ucli.StringFlag{Name: "dir", Usage: "read migrations from this directory instead of the embedded ones (for the newest known schema version)"},
		)...),
		Action: func(c *ucli.Context) error {
			id, root, err := a.tenantAndDir(c)
			if err != nil {
				return err
			}
			from := a.flagOrEnv(c, "from", envRestoreFrom)
			if from == "" {
				return exit.UsageError("pass --from <backup id> (or set "+envRestoreFrom+"); `tenantctl db backups` lists them",
					"no backup to restore")
			}
			source := id
			if s := a.flagOrEnv(c, "source-tenant", envRestoreSourceTenant); s != "" {
				if source, err = tenant.ParseID(s); err != nil {
					return exit.UsageError("pass the id of the tenant the backup was taken from", "--source-tenant: %v", err)
				}
			}
			fsys, err := dirOrEmbedded(c, "dir", migrations.FS)
			if err != nil {
				return err
			}
			migs, _, err := migrate.Load(fsys)
			if err != nil {
				return dbError(err)
			}
			res, err := backup.Restore(c.Context, backup.RestoreOptions{
				Root: root, Tenant: id, SourceTenant: source, ID: from,
				KnownSchemaVersion: migs[len(migs)-1].Version,
				DatabaseURL:        a.flagOrEnv(c, "database-url", envDatabaseURL),
				RedisURL:           a.flagOrEnv(c, "redis-url", envRedisURL),
				PGBinDir:           a.flagOrEnv(c, "pg-bin-dir", envPGBinDir),
				Logger:             a.log,
			})
			if res != nil {
				if perr := a.resultLine(backup.RestoreLinePrefix, res); perr != nil && err == nil {
					err = perr
				}
			}
			return a.backupError(c, err)
		},
	}
}

func (a *app) dbBackupsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "backups",
		Usage: "list the tenant's backups in the backup directory",
		Description: "Reads the manifests under <backup-dir>/<tenant>/, newest first. Entries that are not complete\n" +
			"backups of the tenant (being written, interrupted, damaged, another tenant's) are listed on stderr.",
		Flags: backupFlags(&ucli.BoolFlag{Name: "json", Usage: "print JSON"}),
		Action: func(c *ucli.Context) error {
			id, root, err := a.tenantAndDir(c)
			if err != nil {
				return err
			}
			l, err := backup.List(root, id)
			if err != nil {
				return a.backupError(c, err)
			}
			if wantJSON(c) {
				return writeJSON(a.Stdout, l)
			}
			tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCREATED\tSCHEMA\tSIZE\tROWS\tKEYS\tTENANTCTL")
			for _, m := range l.Backups {
				var rows int64
				for _, n := range m.Postgres.Rows {
					rows += n
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%s\n", m.ID, m.Created.UTC().Format(time.RFC3339),
					m.SchemaVersion, sizeString(m.Size()), rows, m.Redis.Keys, m.TenantctlVersion)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, s := range l.Skipped {
				fmt.Fprintf(a.Stderr, "skipped %s: %s\n", s.Name, s.Reason)
			}
			return nil
		},
	}
}

// tenantAndDir reads --tenant and --backup-dir.
func (a *app) tenantAndDir(c *ucli.Context) (tenant.ID, string, error) {
	raw := a.flagOrEnv(c, "tenant", envTenantID)
	if raw == "" {
		return "", "", exit.UsageError("pass --tenant <id> or set "+envTenantID, "no tenant id")
	}
	id, err := tenant.ParseID(raw)
	if err != nil {
		return "", "", exit.UsageError("pass the tenant's id, e.g. "+tenant.ExampleID, "%v", err)
	}
	root := a.flagOrEnv(c, "backup-dir", envBackupDir)
	if root == "" {
		return "", "", exit.UsageError("pass --backup-dir <directory> or set "+envBackupDir, "no backup directory")
	}
	return id, root, nil
}

// resultLine prints prefix and v as one line of compact JSON.
func (a *app) resultLine(prefix string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.Stdout, "%s%s\n", prefix, data)
	return err
}

// sizeString is n bytes in a human unit.
func sizeString(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// backupError gives the backup package's errors their exit codes and
// remedies, and scrubs the connection URLs and their passwords from the
// message.
func (a *app) backupError(c *ucli.Context, err error) error {
	if err == nil {
		return nil
	}
	err = scrubbed{err: err, secrets: a.connSecrets(c)}
	var (
		cfgErr     *backup.ConfigError
		idErr      *backup.InvalidIDError
		existsErr  *backup.ExistsError
		notFound   *backup.NotFoundError
		tenantErr  *backup.TenantError
		schemaErr  *backup.SchemaError
		sumErr     *backup.ChecksumError
		formatErr  *backup.FormatError
		connErr    *backup.ConnectError
		privErr    *backup.PrivilegeError
		partialErr *backup.PartialRestoreError
	)
	switch {
	case errors.As(err, &cfgErr):
		flag, env := optionSetting(cfgErr.Option)
		hint := fmt.Sprintf("pass --%s or set %s", flag, env)
		switch env {
		case envDatabaseURL:
			hint += " (postgres://user:password@host:port/database)"
		case envRedisURL:
			hint += " (redis://user:password@host:port/0)"
		case envPGBinDir:
			hint += " to the directory of pg_dump, pg_restore and psql (PostgreSQL 15: /usr/lib/postgresql/15/bin)"
		}
		return exit.Wrap(err, exit.Usage, hint)
	case errors.As(err, &idErr):
		return exit.Wrap(err, exit.Usage, "pass a backup id as `tenantctl db backups` lists it, or leave "+envBackupID+" unset for a new one")
	case errors.As(err, &existsErr):
		return exit.Wrap(err, exit.Usage, "leave --id ("+envBackupID+") unset for a new id, or pass another")
	case errors.As(err, &notFound):
		return exit.Wrap(err, exit.Usage, fmt.Sprintf("list the backups with `tenantctl db backups --tenant %s`; a backup of another tenant needs --source-tenant", notFound.Tenant))
	case errors.As(err, &tenantErr):
		return exit.Wrap(err, exit.Usage, fmt.Sprintf("restore a backup of %s, or pass --source-tenant %s (%s) to restore a copy of that tenant's data",
			tenantErr.Want, tenantErr.Got, envRestoreSourceTenant))
	case errors.As(err, &schemaErr):
		return exit.Wrap(err, exit.Usage, fmt.Sprintf("use a tenantctl whose migrations reach version %d", schemaErr.Backup))
	case errors.As(err, &formatErr):
		return exit.Wrap(err, exit.Usage, "use a tenantctl that reads this backup format")
	case errors.As(err, &sumErr):
		return exit.Wrap(err, exit.Failure, "the backup is damaged; restore another one (`tenantctl db backups` lists them)")
	case errors.As(err, &connErr):
		return exit.Wrap(err, exit.Unreachable, "check that Postgres and Redis are running and that "+envDatabaseURL+" and "+envRedisURL+" have the right host, port, user and password")
	case errors.As(err, &privErr):
		return exit.Wrap(err, exit.Failure, privErr.Hint())
	case errors.As(err, &partialErr):
		return exit.Wrap(err, exit.Partial, "run the same restore again: it starts over from the backup")
	}
	return err
}

// connSecrets are the connection URLs and their passwords, which no message
// may show.
func (a *app) connSecrets(c *ucli.Context) []string {
	var out []string
	if u := a.flagOrEnv(c, "database-url", envDatabaseURL); u != "" {
		out = append(out, u)
	}
	if u := a.flagOrEnv(c, "redis-url", envRedisURL); u != "" {
		out = append(out, u)
		if o, err := redis.ParseURL(u); err == nil && o.Password != "" {
			out = append(out, o.Password)
		}
	}
	return out
}

// scrubbed is an error whose message has the given secrets and every
// connection password masked.
type scrubbed struct {
	err     error
	secrets []string
}

func (s scrubbed) Error() string {
	msg := s.err.Error()
	for _, sec := range s.secrets {
		if len(sec) >= 4 {
			msg = strings.ReplaceAll(msg, sec, "[redacted]")
		}
	}
	return migrate.RedactURL(msg)
}
func (s scrubbed) Unwrap() error { return s.err }
