package cart_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emporium-shop/emporium/actors/catalog"
	pb "github.com/emporium-shop/emporium/protos/cartpb"
)

// BenchmarkAddToCart measures add-to-cart as a buyer sees it: 64 clients,
// each with its own cart, add units of SKUs of a 100-SKU catalogue, each
// cart cycling over its own lines (10, or all 100: the largest cart, whose
// every answer prices 100 lines). Each add reads the catalogue through
// catalog.Items with its production times to live and is durable in the
// embedded store before it answers. The target is 1,000 adds/s on 2 cores.
func BenchmarkAddToCart(b *testing.B) {
	const clients, products = 64, 20
	var skus []string
	for range products {
		_, s := newProduct(b, "USD", 1_000_000, 100, 200, 300, 400, 500)
		skus = append(skus, s...)
	}
	items, err := catalog.NewItems(catalog.ItemsConfig{Reads: store.Projections()})
	if err != nil {
		b.Fatal(err)
	}
	previous := catalogue.cur.Load()
	catalogue.set(items)
	defer catalogue.set(previous)
	published.off.Store(true)
	defer published.off.Store(false)

	for _, lines := range []int64{10, 100} {
		b.Run(fmt.Sprint("lines=", lines), func(b *testing.B) {
			round := counter.Add(1)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for c := range int64(clients) {
				wg.Go(func() {
					for {
						n := next.Add(1)
						if n > int64(b.N) {
							return
						}
						// About the client's n-th add; a cart takes at most
						// 99 units per line, so the client moves to a fresh
						// cart before any line is full.
						k := n / clients
						user := fmt.Sprintf("bench-%d-%d-%d", round, c, k/(lines*90))
						sku := skus[(c*lines+k%lines)%int64(len(skus))]
						_, err := carts(user).AddItem(&pb.AddItemRequest{CommandId: fmt.Sprint("add-", n), Sku: sku, Quantity: 1})
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "adds/s")
		})
	}
}
