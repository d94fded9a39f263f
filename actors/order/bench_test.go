package order_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/order"
	"github.com/emporium-shop/emporium/payments"
	inventorypb "github.com/emporium-shop/emporium/protos/inventorypb"
	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

// BenchmarkPlaceOrder places orders through the OrderGrain, 32 buyers at a
// time (16 per GOMAXPROCS on the 2-core machine), each order of one unit of
// one of 64 well-stocked SKUs, paid with the sandbox's tok_visa, and waits
// until it is confirmed: the whole saga (reserve, authorize, commit,
// capture, cart checkout), every step durable in the package's store, but
// no HTTP, no pricing and no read of the cart. ns/op is the wall time per
// confirmed order at that concurrency (1/throughput); p50-ms and p99-ms are
// the latencies from Place to confirmed. The end of a saga is found by
// asking the grain every 2 ms, which the latencies include.
func BenchmarkPlaceOrder(b *testing.B) {
	const skus = 64
	run := counter.Add(1)
	names := make([]string, skus)
	for i := range names {
		names[i] = fmt.Sprintf("SKU-BENCH-%d-%d", run, i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := inventorypb.GetInventoryGrainGrainClient(member, names[i]).SetStock(
			&inventorypb.SetStockRequest{CommandId: fmt.Sprint("bench-set-", run, "-", i), OnHand: 1_000_000_000},
			actors.Within(ctx, member))
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(p *testing.PB) {
		worker := counter.Add(1)
		buyer := fmt.Sprint("bench-buyer-", run, "-", worker)
		var mine []time.Duration
		for n := 0; p.Next(); n++ {
			sku := names[(int(worker)+n)%skus]
			id := order.OrderID(buyer, fmt.Sprint("k", n))
			start := time.Now()
			status, err := placeAndWait(id, buyer, placeRequest(buyer, sku, 1, payments.TokenVisa))
			if err != nil || status != emporium.OrderConfirmed {
				b.Errorf("order %s: %s %v", id, status, err)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	reportLatencies(b, lat)
}

// placeAndWait places the order and answers its status once it is no
// longer pending.
func placeAndWait(id, buyer string, req *pb.PlaceRequest) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o, err := place(ctx, id, req)
	for err == nil && o.State.Status == emporium.OrderPending {
		select {
		case <-ctx.Done():
			return o.State.Status, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		o, err = get(ctx, id, buyer)
	}
	if err != nil {
		return "", err
	}
	return o.State.Status, nil
}

// BenchmarkShipDeliver ships and then delivers confirmed orders through
// the OrderGrain, 32 at a time: each op is one Ship and one Deliver of a
// two-line order of one vendor, both durable (journal, read models, the
// buyer's mail steps and the purchases read model). The b.N orders are
// placed and confirmed first, outside the timer. p50-ms and p99-ms are the
// latencies of one Ship plus its Deliver.
func BenchmarkShipDeliver(b *testing.B) {
	run := counter.Add(1)
	sku := fmt.Sprintf("SKU-SHIP-%d", run)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err := inventorypb.GetInventoryGrainGrainClient(member, sku).SetStock(
		&inventorypb.SetStockRequest{CommandId: fmt.Sprint("bench-ship-", run), OnHand: 1_000_000_000}, actors.Within(ctx, member))
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, b.N)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				buyer := fmt.Sprint("ship-buyer-", run, "-", i%64)
				ids[i] = order.OrderID(buyer, fmt.Sprint("ship-", run, "-", i))
				req := placeRequest(buyer, sku, 1, payments.TokenVisa)
				req.RequestHash = ids[i]
				req.Lines[0].VendorId = "v-bench"
				req.Lines = append(req.Lines, &pb.Line{LineId: "l2", Sku: sku, VendorId: "v-bench", Quantity: 1,
					UnitPrice: usd(1000), LineTotal: usd(1000)})
				if status, err := placeAndWait(ids[i], buyer, req); err != nil || status != emporium.OrderConfirmed {
					b.Errorf("order %s: %s %v", ids[i], status, err)
				}
			}
		})
	}
	for i := range b.N {
		next <- i
	}
	close(next)
	wg.Wait()

	var mu sync.Mutex
	var lat []time.Duration
	var at int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(p *testing.PB) {
		var mine []time.Duration
		for p.Next() {
			mu.Lock()
			id := ids[at]
			at++
			mu.Unlock()
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			c := pb.GetOrderGrainGrainClient(member, id)
			_, err := c.Ship(&pb.ShipRequest{CommandId: "ship-" + id, VendorId: "v-bench", Carrier: "UPS", TrackingNumber: "1Z"}, actors.Within(ctx, member))
			if err == nil {
				var o *pb.Order
				o, err = c.Deliver(&pb.DeliverRequest{CommandId: "deliver-" + id, VendorId: "v-bench"}, actors.Within(ctx, member))
				if err == nil && o.State.Status != emporium.OrderDelivered {
					err = fmt.Errorf("status %s", o.State.Status)
				}
			}
			cancel()
			if err != nil {
				b.Errorf("order %s: %v", id, err)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	reportLatencies(b, lat)
}

// reportLatencies reports the p50 and p99 of lat, in milliseconds.
func reportLatencies(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
}
