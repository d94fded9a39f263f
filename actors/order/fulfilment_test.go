package order

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

// statusSpec is the transition table of docs/orders.md written as the
// table reads, row by row, over the live lines (not cancelled or refunded).
func statusSpec(lines []string) string {
	var live []string
	refunded := false
	for _, l := range lines {
		switch l {
		case emporium.LineCancelled:
		case emporium.LineRefunded:
			refunded = true
		default:
			live = append(live, l)
		}
	}
	all := func(ok func(string) bool) bool {
		return !slices.ContainsFunc(live, func(l string) bool { return !ok(l) })
	}
	delivered := func(l string) bool { return l == emporium.LineDelivered }
	moved := func(l string) bool { return l == emporium.LineShipped || l == emporium.LineDelivered }
	switch {
	case len(live) == 0 && refunded:
		return emporium.OrderRefunded
	case len(live) == 0:
		return emporium.OrderCancelled
	case all(delivered):
		return emporium.OrderDelivered
	case all(moved):
		return emporium.OrderShipped
	case slices.ContainsFunc(live, moved):
		return emporium.OrderProcessing
	}
	return emporium.OrderConfirmed
}

// rank orders the statuses a confirmed order moves through; a line's move
// (ship, deliver) never lowers it.
var rank = map[string]int{emporium.OrderConfirmed: 0, emporium.OrderProcessing: 1, emporium.OrderShipped: 2, emporium.OrderDelivered: 3}

// The transition table, exhaustively over every list of up to four line
// statuses (1,555 lists): StatusOfLines agrees with the table, ignores the
// order of the lines, and no line moving forward (unfulfilled → shipped →
// delivered) ever moves the order backwards.
func TestStatusOfLinesExhaustive(t *testing.T) {
	seen := map[string]int{}
	next := map[string]string{emporium.LineUnfulfilled: emporium.LineShipped, emporium.LineShipped: emporium.LineDelivered}
	var walk func(prefix []string)
	walk = func(prefix []string) {
		got := StatusOfLines(prefix...)
		require.Equal(t, statusSpec(prefix), got, "%v", prefix)
		rev := slices.Clone(prefix)
		slices.Reverse(rev)
		require.Equal(t, got, StatusOfLines(rev...), "order-independent: %v", prefix)
		for i, st := range prefix {
			if to, ok := next[st]; ok {
				moved := slices.Clone(prefix)
				moved[i] = to
				after := StatusOfLines(moved...)
				require.GreaterOrEqual(t, rank[after], rank[got], "%v → %v: %s → %s", prefix, moved, got, after)
			}
		}
		seen[got]++
		if len(prefix) == 4 {
			return
		}
		for _, st := range allLineStatuses {
			walk(append(slices.Clone(prefix), st))
		}
	}
	walk(nil)
	assert.Len(t, seen, 6, "confirmed, processing, shipped, delivered, cancelled, refunded: %v", seen)
	for _, c := range []struct {
		lines []string
		want  string
	}{
		{[]string{"unfulfilled", "unfulfilled"}, emporium.OrderConfirmed},
		{[]string{"shipped", "unfulfilled"}, emporium.OrderProcessing},
		{[]string{"delivered", "unfulfilled"}, emporium.OrderProcessing},
		{[]string{"shipped", "delivered"}, emporium.OrderShipped},
		{[]string{"delivered", "delivered"}, emporium.OrderDelivered},
		{[]string{"delivered", "cancelled"}, emporium.OrderDelivered},
		{[]string{"shipped", "refunded"}, emporium.OrderShipped},
		{[]string{"cancelled", "cancelled"}, emporium.OrderCancelled},
		{[]string{"cancelled", "refunded"}, emporium.OrderRefunded},
	} {
		assert.Equal(t, c.want, StatusOfLines(c.lines...), "%v", c.lines)
	}
}

// confirmedTwoVendors is a confirmed order with lines l1 (A, v1), l2 (B,
// v2) and l3 (C, v1), every mail of its confirmation sent.
func confirmedTwoVendors(t *testing.T) *saga {
	g := &saga{t: t, s: newState("ord_1")}
	require.NoError(t, g.request(twoVendorReq()))
	g.run()
	require.Equal(t, emporium.OrderConfirmed, g.s.Status)
	g.steps = nil
	return g
}

func lineStatusesOf(s *pb.State) map[string]string {
	out := map[string]string{}
	for _, l := range s.Lines {
		out[l.LineId] = l.FulfillmentStatus
	}
	return out
}

// Two vendors ship and deliver their own lines; the order goes confirmed →
// processing → shipped → delivered, and the buyer is mailed each shipment
// and each delivery once.
func TestTwoVendorsShipAndDeliver(t *testing.T) {
	g := confirmedTwoVendors(t)
	ship := func(vendor, tracking string, lines ...string) error {
		return g.request(&pb.ShipRequest{CommandId: "s-" + tracking, VendorId: vendor, Carrier: "UPS", TrackingNumber: tracking, Lines: lines})
	}
	require.NoError(t, ship("v1", "T1", "l1"))
	assert.Equal(t, emporium.OrderProcessing, g.s.Status)
	g.run()
	assert.Equal(t, []pb.Step{pb.Step_STEP_NOTIFY}, g.steps, "the shipped mail")
	assert.Contains(t, g.s.Notified, MailShipped+"shp_1")

	// v1 ships the rest of theirs (l3) with no lines named; v2 ships l2.
	require.NoError(t, ship("v1", "T2"))
	assert.Equal(t, []string{"l3"}, g.s.Shipments[1].Lines)
	assert.Equal(t, emporium.OrderProcessing, g.s.Status)
	require.NoError(t, ship("v2", "T3"))
	assert.Equal(t, emporium.OrderShipped, g.s.Status)
	g.run()

	// Delivering: v2's line first, then all of v1's at once.
	require.NoError(t, g.request(&pb.DeliverRequest{CommandId: "d1", VendorId: "v2"}))
	assert.Equal(t, emporium.OrderShipped, g.s.Status)
	assert.NotNil(t, g.s.Shipments[2].DeliveredAt)
	assert.Nil(t, g.s.Shipments[0].DeliveredAt)
	require.NoError(t, g.request(&pb.DeliverRequest{CommandId: "d2", VendorId: "v1"}))
	assert.Equal(t, emporium.OrderDelivered, g.s.Status)
	assert.True(t, Terminal(g.s))
	g.run()
	for _, sh := range g.s.Shipments {
		assert.Contains(t, g.s.Notified, MailShipped+sh.Id)
		assert.Contains(t, g.s.Notified, MailDelivered+sh.Id)
	}
	assert.True(t, Settled(g.s, t0))
	assert.Empty(t, mailDue(g.s))
}

// A vendor acts on their own lines only: another vendor's line is not
// found, as is an order without lines of theirs; what shipped cannot ship
// again, and the same shipment sent again is a replay (no events).
func TestShipRules(t *testing.T) {
	g := confirmedTwoVendors(t)
	decideOn := func(cmd *pb.ShipRequest) (int, error) {
		events, err := decide(g.s, cmd, t0)
		return len(events), err
	}
	_, err := decideOn(&pb.ShipRequest{VendorId: "v2", Carrier: "UPS", TrackingNumber: "X", Lines: []string{"l1"}})
	assert.True(t, emporium.IsCode(err, emporium.ENOTFOUND), "another vendor's line: %v", err)
	_, err = decideOn(&pb.ShipRequest{VendorId: "v9", Carrier: "UPS", TrackingNumber: "X"})
	assert.True(t, emporium.IsCode(err, emporium.ENOTFOUND), "no lines of theirs: %v", err)
	_, err = decideOn(&pb.ShipRequest{VendorId: "v1", Carrier: "UPS", TrackingNumber: "X", Lines: []string{"l1", "l1"}})
	assert.True(t, emporium.IsCode(err, emporium.EINVALID), "a line named twice: %v", err)

	require.NoError(t, g.request(&pb.ShipRequest{CommandId: "s1", VendorId: "v1", Carrier: "UPS", TrackingNumber: "T1", Lines: []string{"l1"}}))
	n, err := decideOn(&pb.ShipRequest{VendorId: "v1", Carrier: "UPS", TrackingNumber: "T1", Lines: []string{"l1"}})
	assert.NoError(t, err)
	assert.Zero(t, n, "the same shipment again is a replay")
	_, err = decideOn(&pb.ShipRequest{VendorId: "v1", Carrier: "DHL", TrackingNumber: "T9", Lines: []string{"l1"}})
	assert.True(t, emporium.IsCode(err, emporium.ECONFLICT), "shipped already: %v", err)

	// Deliver before shipping is a conflict; a delivered line again is a
	// replay.
	_, err = decide(g.s, &pb.DeliverRequest{VendorId: "v1", Lines: []string{"l3"}}, t0)
	assert.True(t, emporium.IsCode(err, emporium.ECONFLICT), "not shipped: %v", err)
	require.NoError(t, g.request(&pb.DeliverRequest{CommandId: "d1", VendorId: "v1", Lines: []string{"l1"}}))
	events, err := decide(g.s, &pb.DeliverRequest{VendorId: "v1", Lines: []string{"l1"}}, t0)
	assert.NoError(t, err)
	assert.Empty(t, events)

	// Once a line shipped, the buyer cannot cancel (409); nothing changed.
	before := lineStatusesOf(g.s)
	err = g.request(&pb.CancelRequest{CommandId: "c1", BuyerId: "u1"})
	assert.True(t, emporium.IsCode(err, emporium.ECONFLICT), "%v", err)
	assert.Equal(t, before, lineStatusesOf(g.s))
	assert.Empty(t, g.s.Adjustments)
}

// A pending or failed order ships nothing: it never showed to its vendors.
func TestShipBeforeConfirmationIsNotFound(t *testing.T) {
	g := &saga{t: t, s: newState("ord_1")}
	require.NoError(t, g.request(twoVendorReq()))
	_, err := decide(g.s, &pb.ShipRequest{VendorId: "v1", Carrier: "UPS", TrackingNumber: "T"}, t0)
	assert.True(t, emporium.IsCode(err, emporium.ENOTFOUND), "%v", err)
}

// An admin cancels what has not shipped of a partly shipped order: the
// unshipped lines are cancelled, their units returned and their share
// refunded; the order follows its shipped lines.
func TestAdminCancelsUnshippedLines(t *testing.T) {
	g := confirmedTwoVendors(t)
	require.NoError(t, g.request(&pb.ShipRequest{CommandId: "s1", VendorId: "v1", Carrier: "UPS", TrackingNumber: "T1", Lines: []string{"l1"}}))
	g.run()
	g.steps = nil
	require.NoError(t, g.request(&pb.CancelRequest{CommandId: "c1", BuyerId: "admin", Admin: true, Reason: "Fraud check"}))
	assert.Equal(t, map[string]string{"l1": "shipped", "l2": "cancelled", "l3": "cancelled"}, lineStatusesOf(g.s))
	assert.Equal(t, emporium.OrderShipped, g.s.Status, "what is left has shipped")
	require.Len(t, g.s.Adjustments, 1)
	a := g.s.Adjustments[0]
	assert.Equal(t, AdjustCancel, a.Kind)
	assert.Equal(t, int64(700+300), a.Amount.Amount, "the lines' totals (no tax in this order)")
	g.run()
	assert.Equal(t, []pb.Step{pb.Step_STEP_ADJUST_REFUND, pb.Step_STEP_ADJUST_RETURN}, g.steps)
	assert.Equal(t, int64(1000), g.s.Payment.Refunded.Amount)
	assert.Equal(t, emporium.PaymentPartiallyRefunded, g.s.Payment.Status)
	assert.True(t, Settled(g.s, t0))

	// Nothing left to cancel.
	err := g.request(&pb.CancelRequest{CommandId: "c2", BuyerId: "admin", Admin: true})
	assert.True(t, emporium.IsCode(err, emporium.ECONFLICT), "%v", err)
}

// Cancelling the last lines refunds everything left, shipping included,
// and the order is cancelled with its buyer told.
func TestCancelLastLinesRefundsTheRest(t *testing.T) {
	g := confirmedTwoVendors(t)
	require.NoError(t, g.request(&pb.RefundRequest{CommandId: "r1", Lines: []string{"l2"}, Reason: "damaged"}))
	g.run()
	assert.Equal(t, int64(700), g.s.Payment.Refunded.Amount)
	// Adjusted before: the buyer's cancellation goes line by line.
	require.NoError(t, g.request(&pb.CancelRequest{CommandId: "c1", BuyerId: "u1"}))
	g.run()
	assert.Equal(t, emporium.OrderRefunded, g.s.Status, "a line was refunded, the others cancelled")
	assert.Equal(t, int64(2299), g.s.Payment.Refunded.Amount, "everything, shipping included")
	assert.Equal(t, emporium.PaymentRefunded, g.s.Payment.Status)
	assert.True(t, Settled(g.s, t0))
}

// Refunds: an amount at most what is left, in the order's currency, with a
// reason; lines' share with tax; the whole rest refunds the order.
func TestRefundRules(t *testing.T) {
	g := confirmedTwoVendors(t)
	g.s.Tax = usd(200) // as if taxed: 200 on a subtotal of 1700
	for _, c := range []struct {
		req  *pb.RefundRequest
		code string
	}{
		{&pb.RefundRequest{Amount: 100, Currency: "USD"}, emporium.EINVALID},
		{&pb.RefundRequest{Amount: 3000, Currency: "USD", Reason: "x"}, emporium.EINVALID},
		{&pb.RefundRequest{Amount: 100, Currency: "EUR", Reason: "x"}, emporium.EINVALID},
		{&pb.RefundRequest{Lines: []string{"l9"}, Reason: "x"}, emporium.EINVALID},
	} {
		events, err := decide(g.s, c.req, t0)
		assert.True(t, emporium.IsCode(err, c.code), "%v: %v", c.req, err)
		assert.Empty(t, events)
	}
	require.NoError(t, g.request(&pb.RefundRequest{CommandId: "r1", Lines: []string{"l1"}, Reason: "broken"}))
	// 1000 of 1700 bears 200 × 1000 / 1700 = 117.6 → 118 of the tax.
	assert.Equal(t, int64(1118), g.s.Adjustments[0].Amount.Amount)
	assert.Equal(t, emporium.LineRefunded, lineStatusesOf(g.s)["l1"])
	assert.Equal(t, emporium.OrderConfirmed, g.s.Status)
	g.run()
	require.NoError(t, g.request(&pb.RefundRequest{CommandId: "r2", Amount: 81, Currency: "USD", Reason: "goodwill"}))
	g.run()
	assert.Equal(t, int64(1199), g.s.Payment.Refunded.Amount)
	assert.Equal(t, emporium.PaymentPartiallyRefunded, g.s.Payment.Status)
	// The rest refunds the order.
	require.NoError(t, g.request(&pb.RefundRequest{CommandId: "r3", Reason: "closing"}))
	g.run()
	assert.Equal(t, int64(2299), g.s.Payment.Refunded.Amount)
	assert.Equal(t, emporium.OrderRefunded, g.s.Status)
	assert.Equal(t, emporium.PaymentRefunded, g.s.Payment.Status)
	_, err := decide(g.s, &pb.RefundRequest{Reason: "again"}, t0)
	assert.True(t, emporium.IsCode(err, emporium.ECONFLICT), "nothing left: %v", err)
}

// A refund retried after its step started but before its outcome was
// recorded runs under the same key, and an order turned back refunds by
// its own saga, never by an adjustment.
func TestRefundOfATurnedBackOrderIsRefused(t *testing.T) {
	g := confirmedTwoVendors(t)
	require.NoError(t, g.request(&pb.CancelRequest{CommandId: "c1", BuyerId: "u1"}))
	_, err := decide(g.s, &pb.RefundRequest{Reason: "x"}, t0)
	assert.True(t, emporium.IsCode(err, emporium.ECONFLICT), "%v", err)
}

func TestProrate(t *testing.T) {
	g := confirmedTwoVendors(t)
	g.s.Tax = usd(1)
	g.s.Subtotal = usd(2)
	// 1 × 1 / 2 = 0.5 → 0 (half to even); 1 × 3 / 2 = 1.5 → 2.
	assert.Equal(t, int64(1), share(g.s, []*pb.Line{{LineTotal: usd(1)}}))
	assert.Equal(t, int64(5), share(g.s, []*pb.Line{{LineTotal: usd(3)}}))
}
