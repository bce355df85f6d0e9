package backup_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantctl/tenantctl/internal/backup"
	"github.com/tenantctl/tenantctl/internal/backup/backuptest"
	"github.com/tenantctl/tenantctl/internal/testenv"
)

// BenchmarkBackupRestore100kContacts takes a backup of a tenant with 100,000
// contacts (and the rows Fill writes, and 10,000 Redis keys), then restores
// it in place, and reports each phase's time and the dump's size:
// backup-s/op, restore-s/op, dump-bytes, snapshot-bytes.
func BenchmarkBackupRestore100kContacts(b *testing.B) {
	const contacts = 100_000
	ctx := context.Background()
	tn := backuptest.NewTenant(b, testenv.SharedPostgres(b), backuptest.UniqueID(b, "bench"))
	tn.Fill(b, 1)
	super := tn.Super(b)
	var org string
	if err := super.QueryRow(ctx, `SELECT id FROM organizations LIMIT 1`).Scan(&org); err != nil {
		b.Fatal(err)
	}
	rows := make([][]any, contacts)
	for i := range rows {
		rows[i] = []any{org, fmt.Sprintf("Contact %d", i), fmt.Sprintf("contact%d@example.test", i), "+1 555 0100", "Company Ltd"}
	}
	if _, err := super.CopyFrom(ctx, pgx.Identifier{"contacts"}, []string{"org_id", "name", "email", "phone", "company"},
		pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	rc := tn.Admin(b)
	pipe := rc.Pipeline()
	for i := range 10_000 {
		pipe.Set(ctx, fmt.Sprintf("session:%d", i), "some session state of moderate size, about sixty bytes", time.Hour)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	root := b.TempDir()
	var backupTime, restoreTime time.Duration
	var dumpSize, snapSize int64
	for b.Loop() {
		start := time.Now()
		m, err := backup.Backup(ctx, backup.Options{Root: root, Tenant: tn.ID, Keep: 1,
			DatabaseURL: tn.BackupURL, RedisURL: tn.RedisBackupURL})
		if err != nil {
			b.Fatal(err)
		}
		backupTime += time.Since(start)
		if m.Postgres.Rows["public.contacts"] != contacts+1 {
			b.Fatalf("backup has %d contacts; want %d", m.Postgres.Rows["public.contacts"], contacts+1)
		}
		for _, f := range m.Files {
			switch f.Name {
			case backup.PostgresFile:
				dumpSize = f.Size
			case backup.RedisFile:
				snapSize = f.Size
			}
		}
		start = time.Now()
		if _, err := backup.Restore(ctx, restoreOpts(b, tn, root, m.ID)); err != nil {
			b.Fatal(err)
		}
		restoreTime += time.Since(start)
	}
	b.ReportMetric(backupTime.Seconds()/float64(b.N), "backup-s/op")
	b.ReportMetric(restoreTime.Seconds()/float64(b.N), "restore-s/op")
	b.ReportMetric(float64(dumpSize), "dump-bytes")
	b.ReportMetric(float64(snapSize), "snapshot-bytes")
}
