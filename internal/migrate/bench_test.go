package migrate_test

import (
	"context"
	"testing"

	"github.com/tenantctl/tenantctl/internal/migrate"
	"github.com/tenantctl/tenantctl/internal/testenv"
	"github.com/tenantctl/tenantctl/migrations"
)

// BenchmarkMigrateEmpty applies every embedded migration to an empty
// database (goal: at most 1 s per operation). "connect" includes Open (the
// first login); "apply" times Migrate alone, which still logs in once more
// for goose's connection.
func BenchmarkMigrateEmpty(b *testing.B) {
	p := testenv.SharedPostgres(b)
	ctx := context.Background()
	b.Run("connect", func(b *testing.B) {
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
	})
	b.Run("apply", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			url, _ := createDB(b, p, "mig_bench")
			r, err := migrate.Open(ctx, url, migrations.FS, migrate.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := r.Migrate(ctx, false); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			r.Close()
			b.StartTimer()
		}
	})
}
