package inventory_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	pb "github.com/emporium-shop/emporium/protos/inventorypb"
)

// BenchmarkGrainRoundTrip measures a read through the cluster to a warm
// grain on the same member: request, dispatch, reply. No store I/O.
func BenchmarkGrainRoundTrip(b *testing.B) {
	sku := fmt.Sprintf("bench-read-%d", b.N)
	if _, err := grain(sku).SetStock(&pb.SetStockRequest{CommandId: "initial", OnHand: 1}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb_ *testing.PB) {
		for pb_.Next() {
			if _, err := grain(sku).GetAvailability(&pb.GetAvailabilityRequest{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkReserveCommit measures a checkout's stock work: Reserve then
// Commit, each durable in the embedded store before it answers, spread over
// 64 SKUs by parallel buyers (so the journal's group commit has company).
func BenchmarkReserveCommit(b *testing.B) {
	const skus = 64
	names := make([]string, skus)
	for i := range names {
		names[i] = fmt.Sprintf("bench-rc-%d-%d", b.N, i)
		if _, err := grain(names[i]).SetStock(&pb.SetStockRequest{CommandId: "initial", OnHand: 1 << 40 >> 12}); err != nil {
			b.Fatal(err)
		}
	}
	var orders atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(p *testing.PB) {
		for p.Next() {
			n := orders.Add(1)
			sku, order := names[n%skus], fmt.Sprintf("order-%d", n)
			if _, err := grain(sku).Reserve(&pb.ReserveRequest{OrderId: order, Quantity: 1}); err != nil {
				b.Error(err)
				return
			}
			if _, err := grain(sku).Commit(&pb.CommitRequest{OrderId: order}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checkouts/s")
}
