package nomadtest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
)

// BenchmarkRegisterToHealthy measures one register → deployment successful
// cycle through the HTTP API with zero scheduler delays (goal: < 5 ms).
func BenchmarkRegisterToHealthy(b *testing.B) {
	srv := nomadtest.New(b)
	c := srv.Client()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("web-%d", i)
		resp, _, err := c.Jobs().Register(serviceJob("default", id, 1), nil)
		if err != nil {
			b.Fatal(err)
		}
		var idx uint64 = resp.JobModifyIndex
		for {
			d, meta, err := c.Jobs().LatestDeployment(id, &api.QueryOptions{WaitIndex: idx, WaitTime: 10 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			if d != nil && d.Status == api.DeploymentStatusSuccessful {
				break
			}
			idx = meta.LastIndex
		}
		b.StopTimer()
		if _, _, err := c.Jobs().Deregister(id, true, nil); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
