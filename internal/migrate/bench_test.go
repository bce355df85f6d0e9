package migrate_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tenantctl/tenantctl/internal/migrate"
	"github.com/tenantctl/tenantctl/internal/testenv"
	"github.com/tenantctl/tenantctl/migrations"
)

// BenchmarkMigrateEmpty applies every embedded migration to an empty
// database, connecting included. The goal is at most 1 s per operation.
func BenchmarkMigrateEmpty(b *testing.B) {
	p := testenv.SharedPostgres(b)
	ctx := context.Background()
	run := time.Now().UnixNano() % 1e9 // a database name unique across -count runs
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		url := p.CreateDatabase(b, fmt.Sprintf("mig_bench_%d_%d", run, i))
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
