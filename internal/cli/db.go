package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/migrate"
	"github.com/tenantctl/tenantctl/migrations"
)

// Environment variables of the db commands. DATABASE_URL is what the migrate
// job's Vault template provides.
const (
	envDatabaseURL = "DATABASE_URL"
	envOwnerRole   = "TENANTCTL_DB_OWNER_ROLE"
	envAppRole     = "TENANTCTL_DB_APP_ROLE"
)

func (a *app) dbCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "db",
		Usage: "tenant database: apply the schema migrations, show their status; back up and restore",
		Description: "These commands run inside the tenant's migrate, backup and restore batch jobs, against the\n" +
			"tenant's Postgres (and Redis), with credentials from Vault. The migrations are embedded in\n" +
			"tenantctl; --dir overrides them.",
		Subcommands: []*ucli.Command{a.dbMigrateCommand(), a.dbStatusCommand(),
			a.dbBackupCommand(), a.dbRestoreCommand(), a.dbBackupsCommand()},
	}
}

func dbFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "database-url", Usage: "PostgreSQL URL, postgres://user:password@host:port/db (env " + envDatabaseURL + ")"},
		&ucli.StringFlag{Name: "dir", Usage: "read migrations from this directory instead of the embedded ones"},
		&ucli.BoolFlag{Name: "json", Usage: "print JSON"},
	}
}

func (a *app) dbMigrateCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "migrate",
		Usage: "apply pending migrations (each in its own transaction, under a lock)",
		Description: "Applies every pending migration in order and, with --app-role, grants the app role access to the\n" +
			"tables. Refuses to run when an applied migration file was changed. Safe to run concurrently: the\n" +
			"runners take turns and each migration is applied once. A second run changes nothing.",
		Flags: append(dbFlags(),
			&ucli.BoolFlag{Name: "dry-run", Usage: "print what would be applied; change nothing"},
			&ucli.StringFlag{Name: "owner-role", Usage: "SET ROLE to this role so it owns what the migrations create (env " + envOwnerRole + ")"},
			&ucli.StringFlag{Name: "app-role", Usage: "grant this role read/write access to the tables (env " + envAppRole + ")"},
			&ucli.DurationFlag{Name: "lock-timeout", Value: migrate.DefaultLockTimeout, Usage: "how long to wait for another runner's lock"},
		),
		Action: func(c *ucli.Context) error {
			r, err := a.openMigrator(c, migrate.Options{
				OwnerRole:   a.flagOrEnv(c, "owner-role", envOwnerRole),
				AppRole:     a.flagOrEnv(c, "app-role", envAppRole),
				LockTimeout: c.Duration("lock-timeout"),
				Logger:      a.log,
			})
			if err != nil {
				return err
			}
			defer r.Close()
			res, err := r.Migrate(c.Context, c.Bool("dry-run"))
			if res != nil {
				if perr := a.printMigrate(c, res, err == nil); perr != nil && err == nil {
					err = perr
				}
			}
			return dbError(err)
		},
	}
}

func (a *app) dbStatusCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "status",
		Usage: "show applied, pending and drifted migrations",
		Description: "States: applied; pending; modified (applied, file changed since), missing (applied, no file)\n" +
			"and out-of-order (pending, numbered below the current version) are drift, which migrate refuses.",
		Flags: dbFlags(),
		Action: func(c *ucli.Context) error {
			r, err := a.openMigrator(c, migrate.Options{Logger: a.log})
			if err != nil {
				return err
			}
			defer r.Close()
			st, err := r.Status(c.Context)
			if err != nil {
				return dbError(err)
			}
			return a.printStatus(c, st)
		},
	}
}

func (a *app) flagOrEnv(c *ucli.Context, flag, env string) string {
	if c.IsSet(flag) {
		return c.String(flag)
	}
	return a.Getenv(env)
}

// openMigrator resolves the database URL and the migration files and
// connects.
func (a *app) openMigrator(c *ucli.Context, opts migrate.Options) (*migrate.Runner, error) {
	url := a.flagOrEnv(c, "database-url", envDatabaseURL)
	if url == "" {
		return nil, exit.UsageError(
			"pass --database-url postgres://user:password@host:5432/database or set "+envDatabaseURL,
			"no database URL")
	}
	fsys, err := dirOrEmbedded(c, "dir", migrations.FS)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
	defer cancel()
	r, err := migrate.Open(ctx, url, fsys, opts)
	if err != nil {
		return nil, dbError(err)
	}
	return r, nil
}

// dbError attaches exit codes and remedies to the migrate package's errors and
// makes sure no connection password appears in the message.
func dbError(err error) error {
	if err == nil {
		return nil
	}
	err = redacted{err}
	var (
		cfgErr  *migrate.ConfigError
		connErr *migrate.ConnectError
		lockErr *migrate.LockError
		hinter  interface{ Hint() string }
	)
	switch {
	case errors.As(err, &cfgErr):
		hint := cfgErr.Remedy
		if hint == "" {
			hint = "check --database-url (postgres://user:password@host:port/database) and that --dir holds NNNNN_description.sql files"
		}
		return exit.Wrap(err, exit.Usage, hint)
	case errors.As(err, &connErr) && connErr.Role != "":
		return exit.Wrap(err, exit.Unreachable, fmt.Sprintf(
			"make the migrating user a member of role %q (GRANT %s TO <user>), or leave --owner-role unset", connErr.Role, connErr.Role))
	case errors.As(err, &connErr):
		return exit.Wrap(err, exit.Unreachable,
			"check that PostgreSQL is running and that --database-url (or DATABASE_URL) has the right host, port, user and password")
	case errors.As(err, &lockErr):
		return exit.Wrap(err, exit.Locked,
			"another `tenantctl db migrate` is running on this database: wait for it and run again, or raise --lock-timeout "+
				"(a dead holder's lock goes away with its connection: SELECT pg_terminate_backend(<pid>))")
	case errors.As(err, &hinter):
		return exit.Wrap(err, exit.Failure, hinter.Hint())
	}
	return err
}

// redacted is an error whose message has connection passwords masked.
type redacted struct{ err error }

func (r redacted) Error() string { return migrate.RedactURL(r.err.Error()) }
func (r redacted) Unwrap() error { return r.err }

func (a *app) printMigrate(c *ucli.Context, res *migrate.Result, ok bool) error {
	if wantJSON(c) {
		if !ok {
			return nil // the error goes to stderr; stdout stays one valid document or nothing
		}
		if res.Applied == nil {
			res.Applied = []migrate.Applied{}
		}
		return writeJSON(a.Stdout, res)
	}
	verb := "applied"
	if res.DryRun {
		verb = "would apply"
	}
	for _, m := range res.Applied {
		if res.DryRun {
			fmt.Fprintf(a.Stdout, "%s %s\n", verb, m.File)
		} else {
			fmt.Fprintf(a.Stdout, "%s %s (%s)\n", verb, m.File, m.Duration.Round(time.Millisecond))
		}
	}
	if !ok {
		return nil
	}
	switch {
	case res.UpToDate():
		fmt.Fprintf(a.Stdout, "nothing to apply: the database is at version %d, up to date\n", res.Version)
	case res.DryRun:
		fmt.Fprintf(a.Stdout, "dry run: %d pending; the database would go from version %d to %d\n",
			len(res.Applied), res.FromVersion, res.Version)
	default:
		fmt.Fprintf(a.Stdout, "migrated the database from version %d to %d (%d applied)\n",
			res.FromVersion, res.Version, len(res.Applied))
	}
	return nil
}

func (a *app) printStatus(c *ucli.Context, st *migrate.Status) error {
	if wantJSON(c) {
		if st.Migrations == nil {
			st.Migrations = []migrate.MigrationStatus{}
		}
		return writeJSON(a.Stdout, st)
	}
	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATE\tFILE\tAPPLIED AT")
	for _, m := range st.Migrations {
		at := "-"
		if m.AppliedAt != nil {
			at = m.AppliedAt.UTC().Format(time.RFC3339)
		}
		file := m.File
		if file == "" {
			file = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", m.Version, m.State, file, at)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.Stdout, "version %d of %d: %d applied, %d pending, %d drifted\n",
		st.CurrentVersion, st.TargetVersion, st.Applied, st.Pending, st.Drift)
	return nil
}
