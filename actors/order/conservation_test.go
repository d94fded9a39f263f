package order_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/actors/inventory"
	"github.com/emporium-shop/emporium/actors/order"
	"github.com/emporium-shop/emporium/payments"
	"github.com/emporium-shop/emporium/payments/sandbox"
	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

// Buyers race for the last units of a scarce SKU while each of their
// orders also holds plentiful SKUs (the kill test's shape, on one node and
// without kills): once every order has settled, each SKU's stock adds up,
// in the grain and in its read model. An order refused out_of_stock on
// the scarce SKU gives its plentiful units back.
func TestScarceRushGivesBackTheOtherLines(t *testing.T) {
	const buyers, scarceUnits, plenty = 200, 10, 100_000
	n := counter.Add(1)
	scarce := fmt.Sprint("SKU-SCARCE-", n)
	plentiful := []string{fmt.Sprint("SKU-PLENTY-A-", n), fmt.Sprint("SKU-PLENTY-B-", n)}
	stock(t, scarce, scarceUnits)
	for _, sku := range plentiful {
		stock(t, sku, plenty)
	}
	request := func(buyer string, i int) *pb.PlaceRequest {
		// One unit of the scarce SKU and 1-2 units of each plentiful one,
		// in a different line order for every other buyer.
		lines := []*pb.Line{
			{LineId: "s", Sku: scarce, Quantity: 1, UnitPrice: usd(1000), LineTotal: usd(1000)},
			{LineId: "a", Sku: plentiful[0], Quantity: 1 + int64(i%2), UnitPrice: usd(100), LineTotal: usd(100 * (1 + int64(i%2)))},
			{LineId: "b", Sku: plentiful[1], Quantity: 1, UnitPrice: usd(100), LineTotal: usd(100)},
		}
		if i%2 == 1 {
			lines[0], lines[2] = lines[2], lines[0]
		}
		var sub int64
		for _, l := range lines {
			sub += l.LineTotal.Amount
		}
		return &pb.PlaceRequest{BuyerId: buyer, RequestHash: "hash-" + buyer, Lines: lines,
			Subtotal: usd(sub), Shipping: usd(0), Tax: usd(0), Total: usd(sub),
			Provider: sandbox.Name, PaymentMethod: payments.TokenVisa}
	}
	ids := make([]string, buyers)
	var wg sync.WaitGroup
	for i := range buyers {
		buyer := fmt.Sprint("scarce-rush-", n, "-", i)
		ids[i] = order.OrderID(buyer, scarce)
		wg.Go(func() {
			deadline := time.Now().Add(60 * time.Second)
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := place(ctx, ids[i], request(buyer, i))
				cancel()
				if err == nil || !emporium.IsCode(err, emporium.EUNAVAILABLE) || time.Now().After(deadline) {
					assert.NoError(t, err)
					return
				}
			}
		})
	}
	wg.Wait()

	sold := map[string]int64{}
	confirmed, outOfStock := 0, 0
	for i, id := range ids {
		s := settle(t, id, fmt.Sprint("scarce-rush-", n, "-", i))
		switch {
		case s.Status == emporium.OrderConfirmed:
			confirmed++
			for _, l := range s.Lines {
				sold[l.Sku] += l.Quantity
			}
		case s.Status == emporium.OrderFailed && s.FailureReason == emporium.ReasonOutOfStock:
			outOfStock++
		default:
			t.Errorf("order %s ended %s (%s)", id, s.Status, s.FailureReason)
		}
	}
	assert.Equal(t, scarceUnits, confirmed)
	assert.Equal(t, buyers-scarceUnits, outOfStock)

	initial := map[string]int64{scarce: scarceUnits, plentiful[0]: plenty, plentiful[1]: plenty}
	for sku, onHand := range initial {
		st := availability(t, sku)
		assert.Equal(t, sold[sku], st.Sold, "%s: the grain's sold is the confirmed orders' units", sku)
		assert.Zero(t, st.Reserved, "%s: nothing stays reserved once every order is over", sku)
		assert.Equal(t, onHand, st.Available+st.Sold, "%s: available + sold = stocked (grain)", sku)

		// The read model the product pages show converges on the same.
		actorstest.WaitFor(t, 20*time.Second, "the read model of "+sku, func() bool {
			var v inventory.View
			_, err := store.Projections().Get(t.Context(), inventory.ViewCollection, sku, &v)
			return err == nil && v.Available == st.Available && v.Sold == st.Sold && v.Reserved == 0
		})
	}
	require.Equal(t, int64(scarceUnits), sold[scarce])
}

// The new order's first read model is stored before its saga's first
// effect runs. The recovery loop finds unsettled orders only through the
// read model: were the node to die after the order reserved stock and
// before the read model was written, nothing would ever wake the order,
// and its units would stay reserved until they expired (and the buyer
// would never see it in their list).
func TestFirstViewStoredBeforeTheFirstEffect(t *testing.T) {
	require.NoError(t, store.Projections().EnsureIndex(t.Context(), order.ViewCollection, "buyer_id", "-_id"))
	n := counter.Add(1)
	sku, buyer := fmt.Sprint("SKU-FIRST-VIEW-", n), fmt.Sprint("first-view-", n)
	stock(t, sku, 5)
	id := order.OrderID(buyer, sku)
	var mu sync.Mutex
	seen := map[string]int{} // effect point -> views of the buyer stored then
	crashes.observe(id, func(point string) {
		if point != "before-effect:"+pb.Step_STEP_RESERVE.String() {
			return
		}
		var views []order.View
		err := store.Projections().List(context.Background(), order.ViewCollection, "buyer_id", buyer, "", 10, &views)
		assert.NoError(t, err)
		mu.Lock()
		seen[point] = len(views)
		mu.Unlock()
	})
	defer crashes.observe(id, nil)
	_, err := place(ctxT(t), id, placeRequest(buyer, sku, 1, payments.TokenVisa))
	require.NoError(t, err)
	s := settle(t, id, buyer)
	assert.Equal(t, emporium.OrderConfirmed, s.Status)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, map[string]int{"before-effect:" + pb.Step_STEP_RESERVE.String(): 1}, seen,
		"the order's read model was stored when it first reserved")
}
