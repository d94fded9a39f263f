package order

import (
	"slices"
	"strings"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

// Vendors' part of an order.
//
// A vendor sees an order from the moment it is confirmed (its stock
// committed, its payment captured, its lines out of the buyer's cart): a
// pending, awaiting or failed order is nothing a vendor must ship, and never
// shows. From then on the vendor's part stays, with the order's status, also
// once the order is cancelled or refunded (its unshipped lines then show
// cancelled or refunded). Each vendor is told of the order once, by mail and
// by a live push (MailVendorOrder), after the buyer's confirmation.

// MailVendorOrder prefixes the mail kind (State.notified) that tells a
// vendor of a new order: "vendor_order:" followed by the vendor's id.
const MailVendorOrder = "vendor_order:"

// vendorsSee reports whether the order shows to its vendors: it was
// confirmed. CartCheckedOut is recorded in the same append as Confirmed
// (the saga confirms the order as soon as its cart is checked out), and
// nothing turns an order back between the two, so it marks an order that
// was confirmed also once it is cancelled.
func vendorsSee(s *pb.State) bool { return placed(s) && s.CartCheckedOut }

// vendorIDs returns the vendors of the order's lines, in the order of their
// first line.
func vendorIDs(s *pb.State) []string {
	var out []string
	for _, l := range s.Lines {
		if l.VendorId != "" && !slices.Contains(out, l.VendorId) {
			out = append(out, l.VendorId)
		}
	}
	return out
}

// mailDue returns the kind of the next mail the order owes, or "": the
// buyer's cancellation once it is cancelled; else the buyer's confirmation
// once it is confirmed, then each vendor's new order in turn, then the
// buyer's mail of each shipment and delivery (shipmentMailDue), and the
// cancellation of an order whose lines were all cancelled.
func mailDue(s *pb.State) string {
	if s.Outcome != "" {
		if s.Outcome == emporium.OrderCancelled && Terminal(s) && !slices.Contains(s.Notified, MailCancelled) {
			return MailCancelled
		}
		return ""
	}
	if !vendorsSee(s) || s.Status == emporium.OrderPending {
		return ""
	}
	if !slices.Contains(s.Notified, MailConfirmed) {
		return MailConfirmed
	}
	for _, v := range vendorIDs(s) {
		if !slices.Contains(s.Notified, MailVendorOrder+v) {
			return MailVendorOrder + v
		}
	}
	if kind := shipmentMailDue(s); kind != "" {
		return kind
	}
	if s.Status == emporium.OrderCancelled && !slices.Contains(s.Notified, MailCancelled) {
		// Every line was cancelled after the order was confirmed.
		return MailCancelled
	}
	return ""
}

// VendorOfMail returns the vendor a mail kind is addressed to, if it is a
// vendor's.
func VendorOfMail(kind string) (string, bool) {
	v, ok := strings.CutPrefix(kind, MailVendorOrder)
	return v, ok && v != ""
}

// VendorFulfillment sums up the fulfilment of a vendor's lines from their
// statuses (emporium.Line...). Cancelled and refunded lines are counted
// out; of the others (the live lines), none shipped is unfulfilled, some
// shipped or delivered partially_shipped, all shipped or delivered shipped,
// all delivered delivered; no live line at all is cancelled. A status it
// does not know counts as unfulfilled, so that a line is never shown as
// further along than it is.
func VendorFulfillment(lines ...string) string {
	c := countLines(lines)
	switch {
	case c.live == 0:
		return emporium.FulfillmentCancelled
	case c.delivered == c.live:
		return emporium.FulfillmentDelivered
	case c.moved == c.live:
		return emporium.FulfillmentShipped
	case c.moved > 0:
		return emporium.FulfillmentPartiallyShipped
	}
	return emporium.FulfillmentUnfulfilled
}

// lineStatusIn is a line's fulfilment status as its vendor sees it in an
// order of status: an order cancelled or refunded as a whole takes its
// unshipped lines with it.
func lineStatusIn(status, line string) string {
	if line != emporium.LineUnfulfilled && line != "" {
		return line
	}
	switch status {
	case emporium.OrderCancelled:
		return emporium.LineCancelled
	case emporium.OrderRefunded:
		return emporium.LineRefunded
	}
	return emporium.LineUnfulfilled
}

// VendorFulfillmentField and VendorOrderField name the compound fields a vendor's
// orders are queried by (each with its index): the vendor with the
// fulfilment status, and the vendor with the order id.
const (
	VendorFulfillmentField = "vendor_fulfillment"
	VendorOrderField       = "vendor_order"
)

// vendorFulfillmentKey is the value of VendorFulfillmentField.
func vendorFulfillmentKey(vendorID, status string) string { return vendorID + "|" + status }

// vendorOrderKey is the value of VendorOrderField.
func vendorOrderKey(vendorID, orderID string) string { return vendorID + "|" + orderID }

// vendorViews splits the order's view by vendor: each vendor's lines, with
// their statuses as the vendor sees them, their subtotal and fulfilment.
// Lines without a vendor are left out.
func vendorViews(v View) map[string]VendorView {
	out := map[string]VendorView{}
	for _, l := range v.Order.Lines {
		if l.VendorID == "" {
			continue
		}
		vv, ok := out[l.VendorID]
		if !ok {
			vv = VendorView{VendorID: l.VendorID, OrderID: v.OrderID, OrderKey: v.listKey(), Status: v.Status, CreatedAt: v.CreatedAt,
				UpdatedAt: v.Order.UpdatedAt, Seq: v.Order.Seq, VendorOrder: vendorOrderKey(l.VendorID, v.OrderID),
				ShippingAddress: v.Order.ShippingAddress, ShippingMethod: v.Order.ShippingMethod,
				Subtotal: emporium.Money{Currency: v.Order.Total.Currency}}
		}
		l.FulfillmentStatus = lineStatusIn(v.Status, l.FulfillmentStatus)
		vv.Lines = append(vv.Lines, l)
		vv.Subtotal.Amount += l.LineTotal.Amount
		out[l.VendorID] = vv
	}
	for _, sh := range v.Order.Shipments {
		if vv, ok := out[sh.VendorID]; ok {
			vv.Shipments = append(vv.Shipments, sh)
			out[sh.VendorID] = vv
		}
	}
	for id, vv := range out {
		statuses := make([]string, len(vv.Lines))
		for i, l := range vv.Lines {
			statuses[i] = l.FulfillmentStatus
		}
		vv.FulfillmentStatus = VendorFulfillment(statuses...)
		vv.VendorFulfillment = vendorFulfillmentKey(id, vv.FulfillmentStatus)
		out[id] = vv
	}
	return out
}

// VendorOrderOf presents a vendor's part of the order in state at seq; ok
// is false when the order does not show to that vendor.
func VendorOrderOf(s *pb.State, seq uint64, vendorID string) (emporium.VendorOrder, bool) {
	if !vendorsSee(s) {
		return emporium.VendorOrder{}, false
	}
	_, v := viewOf(s, seq, s.UpdatedAt.AsTime())
	vv, ok := vendorViews(v)[vendorID]
	if !ok {
		return emporium.VendorOrder{}, false
	}
	return vv.API(), true
}

// API presents the vendor's part as the API shows it.
func (vv VendorView) API() emporium.VendorOrder {
	lines := slices.Clone(vv.Lines)
	if lines == nil {
		lines = []emporium.OrderLine{}
	}
	for i := range lines {
		if lines[i].Options == nil {
			lines[i].Options = map[string]string{}
		}
	}
	shipments := slices.Clone(vv.Shipments)
	if shipments == nil {
		shipments = []emporium.Shipment{}
	}
	return emporium.VendorOrder{
		ID: vv.OrderID, Status: vv.Status, FulfillmentStatus: vv.FulfillmentStatus, Lines: lines, Shipments: shipments,
		Subtotal: vv.Subtotal, ShippingMethod: vv.ShippingMethod, ShippingAddress: vv.ShippingAddress,
		Seq: vv.Seq, CreatedAt: vv.CreatedAt.UTC(), UpdatedAt: vv.UpdatedAt.UTC(),
	}
}
