package order_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/actors/order"
	"github.com/emporium-shop/emporium/payments"
	"github.com/emporium-shop/emporium/payments/sandbox"
	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

// Shipping, cancelling what has not shipped and refunding, each command
// sent several times at once (as Proto.Actor retries a request that timed
// out) and the order crashing at every point of the adjustments' steps:
// one shipment, one refund per adjustment at the provider, the cancelled
// units back on hand exactly once, and the order settled with its money
// and lines adding up.
func TestAdjustmentsOnceUnderRetriesAndCrashes(t *testing.T) {
	var points []string
	for _, step := range []pb.Step{pb.Step_STEP_ADJUST_REFUND, pb.Step_STEP_ADJUST_RETURN} {
		for _, at := range []string{"before-effect:", "after-effect:", "before-journal:", "after-journal:"} {
			points = append(points, at+step.String())
		}
	}
	points = append(points, "before-journal:request", "after-journal:request")
	for _, point := range points {
		t.Run(point, func(t *testing.T) { adjustmentRun(t, point) })
	}
}

func adjustmentRun(t *testing.T, point string) {
	skuA, skuB := fmt.Sprint("SKU-ADJ-A-", counter.Add(1)), fmt.Sprint("SKU-ADJ-B-", counter.Add(1))
	buyer := fmt.Sprint("adj-", counter.Add(1))
	stock(t, skuA, 5)
	stock(t, skuB, 5)
	id := order.OrderID(buyer, skuA)
	req := &pb.PlaceRequest{
		BuyerId: buyer, RequestHash: "hash-" + buyer,
		Lines: []*pb.Line{
			{LineId: "l1", Sku: skuA, VendorId: "v-a", Quantity: 1, UnitPrice: usd(1000), LineTotal: usd(1000)},
			{LineId: "l2", Sku: skuB, VendorId: "v-b", Quantity: 2, UnitPrice: usd(700), LineTotal: usd(1400)},
		},
		Subtotal: usd(2400), Shipping: usd(500), Tax: usd(240), Total: usd(3140),
		Provider: sandbox.Name, PaymentMethod: payments.TokenVisa,
	}
	_, err := place(ctxT(t), id, req)
	require.NoError(t, err)
	require.Equal(t, emporium.OrderConfirmed, settle(t, id, buyer).Status)

	// Every command is sent three times at once; a crash may refuse one,
	// and the client sends it again until one is answered.
	send := func(what string, call func(*pb.OrderGrainGrainClient) error) {
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				actorstest.WaitFor(t, 10*time.Second, what, func() bool {
					err := call(pb.GetOrderGrainGrainClient(member, id))
					require.True(t, err == nil || emporium.IsCode(emporium.GrainCall(what, err), emporium.EUNAVAILABLE), "%s: %v", what, err)
					return err == nil
				})
			})
		}
		wg.Wait()
	}
	send("ship", func(c *pb.OrderGrainGrainClient) error {
		_, err := c.Ship(&pb.ShipRequest{CommandId: "ship-1", VendorId: "v-a", Carrier: "UPS", TrackingNumber: "1Z1"}, actors.Within(ctxT(t), member))
		return err
	})
	crashes.arm(id, point)
	send("cancel", func(c *pb.OrderGrainGrainClient) error {
		_, err := c.Cancel(&pb.CancelRequest{CommandId: "cancel-1", BuyerId: "admin", Admin: true, Reason: "B is out"}, actors.Within(ctxT(t), member))
		return err
	})
	s := settle(t, id, buyer)
	send("refund", func(c *pb.OrderGrainGrainClient) error {
		_, err := c.Refund(&pb.RefundRequest{CommandId: "refund-1", Amount: 300, Currency: "USD", Reason: "late"}, actors.Within(ctxT(t), member))
		return err
	})
	s = settle(t, id, buyer)

	what := fmt.Sprintf("crash at %s", point)
	assert.Len(t, s.Shipments, 1, "%s: one shipment", what)
	require.Len(t, s.Adjustments, 2, "%s: one adjustment per command", what)
	assert.Equal(t, emporium.OrderShipped, s.Status, what)
	// B's share: 1400 and 240 × 1400 / 2400 = 140 of the tax.
	assert.Equal(t, int64(1540), s.Adjustments[0].Amount.Amount, what)
	assert.Equal(t, int64(1540+300), s.Payment.Refunded.Amount, what)
	assert.Equal(t, emporium.PaymentPartiallyRefunded, s.Payment.Status, what)
	pays := ledgerOf(t, id)
	require.Len(t, pays, 1, what)
	refunds := 0
	for _, op := range pays[0].Operations {
		if op.Kind == sandbox.OpRefund {
			refunds++
		}
	}
	assert.Equal(t, 2, refunds, "%s: one refund per adjustment at the provider", what)
	assert.Equal(t, int64(1540+300), pays[0].Refunded, what)
	stA, stB := availability(t, skuA), availability(t, skuB)
	assert.Equal(t, int64(4), stA.OnHand, "%s: A's unit shipped", what)
	assert.Equal(t, int64(5), stB.OnHand, "%s: B's two units back once", what)
	assert.Equal(t, int64(0), stB.Sold, what)
}
