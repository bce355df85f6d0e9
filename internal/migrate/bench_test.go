package migrate_test

import (
	"context"
	"testing"

	"github.com/tenantctl/tenantctl/internal/migrate"
	"github.com/tenantctl/tenantctl/internal/testenv"
	"github.com/tenantctl/tenantctl/migrations"
)

// BenchmarkMigrateEmpty applies every embedded migration to an empty
// database, connecting included. The goal is at most 1 s per operation.
func BenchmarkMigrateEmpty(b *testing.B) {
	p := testenv.SharedPostgres(b)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		url, _ := createDB(b, p, "mig_bench")
		b.StartTimer()
		r, err := migrate.Open(ctx, url, migrations.FS, migrate.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Migrate(ctx, false); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}
