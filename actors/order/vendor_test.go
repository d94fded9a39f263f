package order

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

// allLineStatuses are the line statuses, and one VendorFulfillment does not
// know.
var allLineStatuses = []string{emporium.LineUnfulfilled, emporium.LineShipped, emporium.LineDelivered,
	emporium.LineCancelled, emporium.LineRefunded, "lost_in_space"}

// fulfillmentSpec is VendorFulfillment written another way, from the
// definition in emporium.Fulfillment...: over the live lines (not cancelled
// or refunded), all delivered, all at least shipped, any at least shipped.
func fulfillmentSpec(lines []string) string {
	var live []string
	for _, l := range lines {
		if l != emporium.LineCancelled && l != emporium.LineRefunded {
			live = append(live, l)
		}
	}
	isMoved := func(l string) bool { return l == emporium.LineShipped || l == emporium.LineDelivered }
	isDelivered := func(l string) bool { return l == emporium.LineDelivered }
	switch {
	case len(live) == 0:
		return emporium.FulfillmentCancelled
	case !slices.ContainsFunc(live, func(l string) bool { return !isDelivered(l) }):
		return emporium.FulfillmentDelivered
	case !slices.ContainsFunc(live, func(l string) bool { return !isMoved(l) }):
		return emporium.FulfillmentShipped
	case slices.ContainsFunc(live, isMoved):
		return emporium.FulfillmentPartiallyShipped
	}
	return emporium.FulfillmentUnfulfilled
}

// Every list of up to four line statuses (6^0 + ... + 6^4 = 1555 lists):
// VendorFulfillment agrees with the definition, ignores the lines' order,
// and answers one of the documented values.
func TestVendorFulfillmentExhaustive(t *testing.T) {
	seen := map[string]int{}
	var walk func(prefix []string)
	walk = func(prefix []string) {
		got := VendorFulfillment(prefix...)
		require.Equal(t, fulfillmentSpec(prefix), got, "%v", prefix)
		require.Contains(t, emporium.FulfillmentStatuses, got)
		rev := slices.Clone(prefix)
		slices.Reverse(rev)
		require.Equal(t, got, VendorFulfillment(rev...), "order-independent: %v", prefix)
		// Adding a cancelled or refunded line changes nothing unless it is
		// the only kind of line.
		if len(prefix) > 0 && got != emporium.FulfillmentCancelled {
			require.Equal(t, got, VendorFulfillment(append(slices.Clone(prefix), emporium.LineRefunded)...), "%v", prefix)
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
	assert.Len(t, seen, len(emporium.FulfillmentStatuses), "every value is reachable: %v", seen)
	// A few by name, as the transition table will read them.
	for _, c := range []struct {
		lines []string
		want  string
	}{
		{nil, emporium.FulfillmentCancelled},
		{[]string{"unfulfilled", "unfulfilled"}, emporium.FulfillmentUnfulfilled},
		{[]string{"shipped", "unfulfilled"}, emporium.FulfillmentPartiallyShipped},
		{[]string{"delivered", "unfulfilled"}, emporium.FulfillmentPartiallyShipped},
		{[]string{"shipped", "delivered"}, emporium.FulfillmentShipped},
		{[]string{"shipped", "cancelled"}, emporium.FulfillmentShipped},
		{[]string{"delivered", "refunded"}, emporium.FulfillmentDelivered},
		{[]string{"cancelled", "refunded"}, emporium.FulfillmentCancelled},
		{[]string{"lost_in_space", "delivered"}, emporium.FulfillmentPartiallyShipped},
	} {
		assert.Equal(t, c.want, VendorFulfillment(c.lines...), "%v", c.lines)
	}
}

// twoVendorReq is an order with two lines of vendor v1 and one of v2.
func twoVendorReq() *pb.PlaceRequest {
	req := placeReq()
	req.Lines[0].VendorId = "v1"
	req.Lines[1].VendorId = "v2"
	req.Lines = append(req.Lines, &pb.Line{LineId: "l3", Sku: "C", VendorId: "v1", Quantity: 1,
		UnitPrice: usd(300), LineTotal: usd(300)})
	return req
}

// An order confirmed mails its buyer, then each vendor once, each mail its
// own NOTIFY step recorded as a Notified event; then it is settled.
func TestVendorsAreNotifiedOnceEach(t *testing.T) {
	g := &saga{t: t, s: newState("ord_1")}
	require.NoError(t, g.request(twoVendorReq()))
	assert.Empty(t, mailDue(g.s), "nothing owed while the order is placed")
	g.run()
	assert.Equal(t, emporium.OrderConfirmed, g.s.Status)
	assert.Equal(t, []string{MailConfirmed, MailVendorOrder + "v1", MailVendorOrder + "v2"}, g.s.Notified)
	assert.Equal(t, []pb.Step{pb.Step_STEP_NOTIFY, pb.Step_STEP_NOTIFY, pb.Step_STEP_NOTIFY}, g.steps[len(g.steps)-3:])
	assert.True(t, Settled(g.s, t0))
	assert.Empty(t, mailDue(g.s))

	// Cancelled afterwards: the buyer's cancellation only; vendors are
	// not mailed again.
	require.NoError(t, g.request(&pb.CancelRequest{CommandId: "c1", BuyerId: "u1"}))
	g.run()
	assert.Equal(t, emporium.OrderCancelled, g.s.Status)
	assert.Equal(t, []string{MailConfirmed, MailVendorOrder + "v1", MailVendorOrder + "v2", MailCancelled}, g.s.Notified)
}

// A vendor's mail that keeps failing is given up on, recorded as failed,
// and the next vendor's follows.
func TestVendorMailGivenUp(t *testing.T) {
	g := &saga{t: t, s: newState("ord_1")}
	require.NoError(t, g.request(twoVendorReq()))
	for g.s.Started != pb.Step_STEP_NOTIFY || mailDue(g.s) != MailVendorOrder+"v1" {
		require.NotEqual(t, pb.Step_STEP_NONE, g.s.Started)
		g.runStep()
	}
	out := notifyOutcome(MailVendorOrder+"v1", assert.AnError, 1, t0)
	require.Error(t, out.retry, "retried at first")
	g.finish(notifyOutcome(MailVendorOrder+"v1", assert.AnError, maxNotifyAttempts, t0))
	assert.Equal(t, MailVendorOrder+"v2", mailDue(g.s))
	assert.Equal(t, pb.Step_STEP_NOTIFY, g.s.Started)
}

// Vendors see an order only from its confirmation on: split by vendor,
// only their lines, their subtotal, no payment; cancelled, its unshipped
// lines show cancelled.
func TestVendorViews(t *testing.T) {
	g := &saga{t: t, s: newState("ord_1")}
	require.NoError(t, g.request(twoVendorReq()))
	assert.False(t, vendorsSee(g.s), "not while pending")
	_, ok := VendorOrderOf(g.s, 3, "v1")
	assert.False(t, ok)
	g.run()
	require.True(t, vendorsSee(g.s))

	_, v := viewOf(g.s, 9, t0)
	views := vendorViews(v)
	require.Len(t, views, 2)
	v1 := views["v1"]
	assert.Equal(t, []string{"l1", "l3"}, []string{v1.Lines[0].LineID, v1.Lines[1].LineID})
	assert.Equal(t, emporium.Money{Amount: 1300, Currency: "USD"}, v1.Subtotal)
	assert.Equal(t, emporium.FulfillmentUnfulfilled, v1.FulfillmentStatus)
	assert.Equal(t, "v1|unfulfilled", v1.VendorFulfillment)
	assert.Equal(t, "v1|ord_1", v1.VendorOrder)
	assert.Equal(t, emporium.OrderConfirmed, v1.Status)
	assert.Len(t, views["v2"].Lines, 1)
	assert.Equal(t, int64(700), views["v2"].Subtotal.Amount)

	vo, ok := VendorOrderOf(g.s, 9, "v2")
	require.True(t, ok)
	assert.Equal(t, "ord_1", vo.ID)
	assert.Equal(t, uint64(9), vo.Seq)
	assert.Equal(t, "B", vo.Lines[0].SKU)
	_, ok = VendorOrderOf(g.s, 9, "v3")
	assert.False(t, ok, "no lines of v3")

	require.NoError(t, g.request(&pb.CancelRequest{CommandId: "c1", BuyerId: "u1"}))
	g.run()
	require.True(t, vendorsSee(g.s), "a cancelled order stays")
	vo, ok = VendorOrderOf(g.s, 12, "v1")
	require.True(t, ok)
	assert.Equal(t, emporium.OrderCancelled, vo.Status)
	assert.Equal(t, emporium.FulfillmentCancelled, vo.FulfillmentStatus)
	for _, l := range vo.Lines {
		assert.Equal(t, emporium.LineCancelled, l.FulfillmentStatus)
	}
}

// An order that failed never shows to its vendors, and mails none.
func TestFailedOrdersNeverShowToVendors(t *testing.T) {
	g := &saga{t: t, s: newState("ord_1")}
	require.NoError(t, g.request(twoVendorReq()))
	g.finish(reserveOutcome(skuErrors{"A": nil, "B": emporium.Errorf(emporium.EOUTOFSTOCK, "out"), "C": nil}, t0))
	g.run()
	require.Equal(t, emporium.OrderFailed, g.s.Status)
	assert.False(t, vendorsSee(g.s))
	assert.Empty(t, g.s.Notified)
}

func TestLineStatusIn(t *testing.T) {
	assert.Equal(t, "unfulfilled", lineStatusIn(emporium.OrderConfirmed, "unfulfilled"))
	assert.Equal(t, "cancelled", lineStatusIn(emporium.OrderCancelled, "unfulfilled"))
	assert.Equal(t, "refunded", lineStatusIn(emporium.OrderRefunded, ""))
	assert.Equal(t, "shipped", lineStatusIn(emporium.OrderCancelled, "shipped"), "a shipped line stays shipped")
	v, ok := VendorOfMail(MailVendorOrder + "v1")
	assert.True(t, ok)
	assert.Equal(t, "v1", v)
	_, ok = VendorOfMail(MailConfirmed)
	assert.False(t, ok)
	_, ok = VendorOfMail(MailVendorOrder)
	assert.False(t, ok)
}
