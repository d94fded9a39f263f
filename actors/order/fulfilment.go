package order

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/checkout"
	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

// Fulfilment: the order's life after its saga confirmed it (the pure core,
// as core.go).
//
// Vendors ship their lines (Ship) and report them delivered (Deliver); the
// order's status follows its lines by one table, StatusOfLines
// (docs/orders.md). Admins, and buyers before anything shipped, change a
// confirmed order by adjustments: lines cancelled (their units go back on
// hand, their share of the money is refunded) or money refunded. An
// adjustment is decided at once, its lines taking their new status in the
// same event; its refund and its units follow as steps of the saga
// (nextStep), first adjustment first, each as idempotent as the saga's
// other steps.

// Kinds of adjustment (pb.Adjustment.Kind).
const (
	AdjustCancel = "cancel"
	AdjustRefund = "refund"
)

// Mail kinds of shipments (State.notified): the kind, then the shipment's
// id. The buyer is told of each shipment when it ships, with its carrier
// and tracking number, and when it is delivered.
const (
	MailShipped   = "shipped:"
	MailDelivered = "delivered:"
)

// StatusOfLines is the status of a confirmed order from the fulfilment
// statuses of its lines: the transition table of docs/orders.md.
// Cancelled and refunded lines are counted out; of the others (the live
// lines), none shipped is confirmed, some shipped or delivered and some not
// is processing, all shipped or delivered is shipped, all delivered is
// delivered. With no live line left, the order is refunded when a line was
// refunded, else cancelled.
func StatusOfLines(lines ...string) string {
	c := countLines(lines)
	switch {
	case c.live == 0 && c.refunded > 0:
		return emporium.OrderRefunded
	case c.live == 0:
		return emporium.OrderCancelled
	case c.delivered == c.live:
		return emporium.OrderDelivered
	case c.moved == c.live:
		return emporium.OrderShipped
	case c.moved > 0:
		return emporium.OrderProcessing
	}
	return emporium.OrderConfirmed
}

// lineCounts counts lines by fulfilment: live ones (not cancelled or
// refunded), those of them shipped or delivered (moved), those delivered,
// and the refunded ones. A status it does not know counts as a live line
// not yet shipped, so that nothing is shown as further along than it is.
type lineCounts struct{ live, moved, delivered, refunded int }

func countLines(statuses []string) lineCounts {
	var c lineCounts
	for _, st := range statuses {
		switch st {
		case emporium.LineCancelled:
			continue
		case emporium.LineRefunded:
			c.refunded++
			continue
		case emporium.LineDelivered:
			c.delivered++
			c.moved++
		case emporium.LineShipped:
			c.moved++
		}
		c.live++
	}
	return c
}

// lineStatuses returns the fulfilment statuses of lines.
func lineStatuses(lines []*pb.Line) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.FulfillmentStatus
	}
	return out
}

// fulfilling reports whether the order is in the part of its life that its
// lines drive: confirmed and not turned back.
func fulfilling(s *pb.State) bool {
	return s.Outcome == "" && s.CartCheckedOut && s.Status != emporium.OrderPending &&
		s.Status != emporium.OrderAwaitingPayment
}

// live reports whether a line still counts: not cancelled or refunded.
func live(l *pb.Line) bool {
	return l.FulfillmentStatus != emporium.LineCancelled && l.FulfillmentStatus != emporium.LineRefunded
}

// moved reports whether a line has left its vendor.
func moved(l *pb.Line) bool {
	return l.FulfillmentStatus == emporium.LineShipped || l.FulfillmentStatus == emporium.LineDelivered
}

// anyMoved reports whether a line of the order has shipped.
func anyMoved(s *pb.State) bool { return slices.ContainsFunc(s.Lines, moved) }

// noOrder is the answer to a vendor who has no lines in an order, the
// same as to one that does not exist, so that order ids do not leak.
func noOrder(id string) error {
	return emporium.Errorf(emporium.ENOTFOUND, "There is no order %s.", id)
}

// vendorLines returns the vendor's lines that the request names (all of
// the vendor's when ids is empty). A line id that is not one of the
// vendor's is not found, as another vendor's line must not be told from a
// line that does not exist.
func vendorLines(s *pb.State, vendorID string, ids []string) ([]*pb.Line, error) {
	if !vendorsSee(s) || vendorID == "" || !slices.ContainsFunc(s.Lines, func(l *pb.Line) bool { return l.VendorId == vendorID }) {
		return nil, noOrder(s.Id)
	}
	if len(ids) == 0 {
		var out []*pb.Line
		for _, l := range s.Lines {
			if l.VendorId == vendorID {
				out = append(out, l)
			}
		}
		return out, nil
	}
	out := make([]*pb.Line, 0, len(ids))
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			return nil, emporium.Invalidf(fmt.Sprintf("lines[%d]", i), emporium.FieldInvalid, "Line %s is named twice.", id)
		}
		j := slices.IndexFunc(s.Lines, func(l *pb.Line) bool { return l.LineId == id && l.VendorId == vendorID })
		if j < 0 {
			return nil, emporium.Errorf(emporium.ENOTFOUND, "Order %s has no line %s of yours.", s.Id, id)
		}
		out = append(out, s.Lines[j])
	}
	return out, nil
}

// checkFulfilling refuses a shipment or a delivery for an order that is not
// being fulfilled.
func checkFulfilling(s *pb.State) error {
	switch {
	case s.Outcome != "" || s.Status == emporium.OrderCancelled || s.Status == emporium.OrderFailed:
		return emporium.Errorf(emporium.ECONFLICT, "Order %s was cancelled; there is nothing to ship.", s.Id)
	case s.Status == emporium.OrderRefunded:
		return emporium.Errorf(emporium.ECONFLICT, "Order %s was refunded; there is nothing to ship.", s.Id)
	}
	return nil
}

func decideShip(s *pb.State, c *pb.ShipRequest, now time.Time) ([]proto.Message, error) {
	lines, err := vendorLines(s, c.VendorId, c.Lines)
	if err != nil {
		return nil, err
	}
	if err := checkFulfilling(s); err != nil {
		return nil, err
	}
	if replaysShipment(s, c, lines) {
		return nil, nil
	}
	var ids []string
	for _, l := range lines {
		switch {
		case l.FulfillmentStatus == emporium.LineUnfulfilled:
			ids = append(ids, l.LineId)
		case len(c.Lines) > 0 && moved(l):
			return nil, emporium.Errorf(emporium.ECONFLICT, "Line %s of order %s has shipped already.", l.LineId, s.Id)
		case len(c.Lines) > 0:
			return nil, emporium.Errorf(emporium.ECONFLICT, "Line %s of order %s is %s and does not ship.", l.LineId, s.Id, l.FulfillmentStatus)
		}
	}
	if len(ids) == 0 {
		return nil, emporium.Errorf(emporium.ECONFLICT, "Every line of yours in order %s has shipped or was cancelled; there is nothing left to ship.", s.Id)
	}
	at := timestamppb.New(now)
	return []proto.Message{&pb.Shipped{CommandId: c.CommandId, At: at, Shipment: &pb.Shipment{
		Id: "shp_" + strconv.Itoa(len(s.Shipments)+1), VendorId: c.VendorId, Carrier: c.Carrier,
		TrackingNumber: c.TrackingNumber, Lines: ids, ShippedAt: at,
	}}}, nil
}

// replaysShipment reports whether the request asks for a shipment the
// order holds already: the vendor's shipment with the same carrier and
// tracking number, holding every line the request names (or, when it names
// none, with nothing of the vendor's left to ship).
func replaysShipment(s *pb.State, c *pb.ShipRequest, lines []*pb.Line) bool {
	for _, sh := range s.Shipments {
		if sh.VendorId != c.VendorId || sh.Carrier != c.Carrier || sh.TrackingNumber != c.TrackingNumber {
			continue
		}
		if len(c.Lines) > 0 {
			if !slices.ContainsFunc(c.Lines, func(id string) bool { return !slices.Contains(sh.Lines, id) }) {
				return true
			}
			continue
		}
		if !slices.ContainsFunc(lines, func(l *pb.Line) bool { return l.FulfillmentStatus == emporium.LineUnfulfilled }) {
			return true
		}
	}
	return false
}

func decideDeliver(s *pb.State, c *pb.DeliverRequest, now time.Time) ([]proto.Message, error) {
	lines, err := vendorLines(s, c.VendorId, c.Lines)
	if err != nil {
		return nil, err
	}
	if err := checkFulfilling(s); err != nil {
		return nil, err
	}
	var ids []string
	delivered := false
	for _, l := range lines {
		switch l.FulfillmentStatus {
		case emporium.LineShipped:
			ids = append(ids, l.LineId)
		case emporium.LineDelivered:
			delivered = true
		case emporium.LineUnfulfilled:
			if len(c.Lines) > 0 {
				return nil, emporium.Errorf(emporium.ECONFLICT, "Line %s of order %s has not shipped yet; ship it first.", l.LineId, s.Id)
			}
		default:
			if len(c.Lines) > 0 {
				return nil, emporium.Errorf(emporium.ECONFLICT, "Line %s of order %s is %s and is not delivered.", l.LineId, s.Id, l.FulfillmentStatus)
			}
		}
	}
	switch {
	case len(ids) > 0:
		return []proto.Message{&pb.Delivered{VendorId: c.VendorId, Lines: ids, CommandId: c.CommandId, At: timestamppb.New(now)}}, nil
	case delivered:
		return nil, nil // delivered already: what was asked holds
	}
	return nil, emporium.Errorf(emporium.ECONFLICT, "No line of yours in order %s has shipped; ship it before it is delivered.", s.Id)
}

// remaining is the money of the order that can still be refunded: what was
// captured, less what was refunded and what adjustments will refund.
func remaining(s *pb.State) int64 {
	left := s.Payment.GetCaptured().GetAmount() - s.Payment.GetRefunded().GetAmount()
	for _, a := range s.Adjustments {
		if !a.Refunded {
			left -= a.Amount.GetAmount()
		}
	}
	return max(left, 0)
}

// share is what lines cost their buyer: their totals and the part of the
// order's tax they bear (in proportion to the subtotal, rounded half to
// even as checkout rounds), never more than what is left to refund.
func share(s *pb.State, lines []*pb.Line) int64 {
	var sum int64
	for _, l := range lines {
		sum += l.LineTotal.GetAmount()
	}
	sum += checkout.Prorate(s.Tax.GetAmount(), sum, s.Subtotal.GetAmount())
	return min(sum, remaining(s))
}

// liveLines returns the order's lines that still count.
func liveLines(s *pb.State) []*pb.Line {
	var out []*pb.Line
	for _, l := range s.Lines {
		if live(l) {
			out = append(out, l)
		}
	}
	return out
}

// decideCancelLines cancels the lines of a confirmed order that have not
// shipped: the buyer's or an admin's cancellation once the order was
// adjusted before, and an admin's once part of it shipped. When no line is
// left, the rest of the money (shipping included) goes back with them.
func decideCancelLines(s *pb.State, c *pb.CancelRequest, now time.Time) ([]proto.Message, error) {
	var cancel []*pb.Line
	for _, l := range s.Lines {
		if l.FulfillmentStatus == emporium.LineUnfulfilled {
			cancel = append(cancel, l)
		}
	}
	if len(cancel) == 0 {
		return nil, emporium.Errorf(emporium.ECONFLICT, "Every line of order %s has shipped or was cancelled; there is nothing left to cancel.", s.Id)
	}
	amount := share(s, cancel)
	if len(cancel) == len(liveLines(s)) {
		amount = remaining(s)
	}
	reason := c.Reason
	if reason == "" {
		reason = emporium.ReasonCancelled
	}
	return []proto.Message{adjusted(s, AdjustCancel, cancel, amount, reason, c.CommandId, now)}, nil
}

func decideRefund(s *pb.State, c *pb.RefundRequest, now time.Time) ([]proto.Message, error) {
	if !placed(s) {
		return nil, noOrder(s.Id)
	}
	switch {
	case !fulfilling(s):
		// An order turned back refunds everything by its own saga.
		return nil, emporium.Errorf(emporium.ECONFLICT, "Order %s is %s; only a confirmed order's money can be refunded.", s.Id, statusOrOutcome(s))
	case c.Reason == "":
		return nil, emporium.Invalidf("reason", emporium.FieldRequired, "A refund needs a reason.")
	}
	if c.Amount > 0 && c.Currency != s.Total.GetCurrency() {
		return nil, emporium.Invalidf("amount.currency", emporium.FieldCurrencyMismatch,
			"Order %s is in %s; refund it in %s.", s.Id, s.Total.GetCurrency(), s.Total.GetCurrency())
	}
	left := remaining(s)
	if left == 0 {
		return nil, emporium.Errorf(emporium.ECONFLICT, "Order %s has nothing left to refund.", s.Id)
	}
	var lines []*pb.Line
	for i, id := range c.Lines {
		field := fmt.Sprintf("lines[%d]", i)
		j := slices.IndexFunc(s.Lines, func(l *pb.Line) bool { return l.LineId == id })
		switch {
		case slices.Contains(c.Lines[:i], id):
			return nil, emporium.Invalidf(field, emporium.FieldInvalid, "Line %s is named twice.", id)
		case j < 0:
			return nil, emporium.Invalidf(field, emporium.FieldInvalid, "Order %s has no line %s.", s.Id, id)
		case !live(s.Lines[j]):
			return nil, emporium.Errorf(emporium.ECONFLICT, "Line %s of order %s is %s already.", id, s.Id, s.Lines[j].FulfillmentStatus)
		}
		lines = append(lines, s.Lines[j])
	}
	amount := c.Amount
	switch {
	case amount > left:
		return nil, emporium.Invalidf("amount", emporium.FieldOutOfRange,
			"amount is more than the %d left to refund of order %s.", left, s.Id)
	case amount < 0:
		return nil, emporium.Invalidf("amount", emporium.FieldOutOfRange, "amount must be positive.")
	case amount == 0 && len(lines) > 0:
		amount = share(s, lines)
	case amount == 0:
		amount = left
	}
	if amount == left {
		// Nothing is left to refund: the order is refunded, every line
		// that still counted with it.
		lines = liveLines(s)
	}
	return []proto.Message{adjusted(s, AdjustRefund, lines, amount, c.Reason, c.CommandId, now)}, nil
}

// adjusted is the event of an adjustment of kind to lines for amount.
func adjusted(s *pb.State, kind string, lines []*pb.Line, amount int64, reason, commandID string, now time.Time) *pb.Adjusted {
	at := timestamppb.New(now)
	ids := make([]string, len(lines))
	for i, l := range lines {
		ids[i] = l.LineId
	}
	return &pb.Adjusted{CommandId: commandID, At: at, Adjustment: &pb.Adjustment{
		Id: "adj_" + strconv.Itoa(len(s.Adjustments)+1), Kind: kind, Lines: ids,
		Amount: &pb.Money{Amount: amount, Currency: s.Total.GetCurrency()}, Reason: reason, At: at,
		// Nothing to refund, or no units to return, is done at once.
		Refunded: amount == 0, Returned: kind != AdjustCancel,
	}}
}

// adjustmentDue returns the first adjustment with work left, or nil.
func adjustmentDue(s *pb.State) *pb.Adjustment {
	for _, a := range s.Adjustments {
		if !a.Refunded || !a.Returned {
			return a
		}
	}
	return nil
}

// adjustmentByID returns the order's adjustment id, or nil.
func adjustmentByID(s *pb.State, id string) *pb.Adjustment {
	i := slices.IndexFunc(s.Adjustments, func(a *pb.Adjustment) bool { return a.Id == id })
	if i < 0 {
		return nil
	}
	return s.Adjustments[i]
}

// shipmentMailDue returns the kind of the next shipment mail the order
// owes its buyer, or "": each shipment's, then each delivery's.
func shipmentMailDue(s *pb.State) string {
	for _, sh := range s.Shipments {
		if !slices.Contains(s.Notified, MailShipped+sh.Id) {
			return MailShipped + sh.Id
		}
		if sh.DeliveredAt != nil && !slices.Contains(s.Notified, MailDelivered+sh.Id) {
			return MailDelivered + sh.Id
		}
	}
	return ""
}

// ShipmentOfMail returns the shipment a shipment mail's kind is about, and
// whether the kind is one.
func ShipmentOfMail(s *pb.State, kind string) (*pb.Shipment, bool) {
	for _, prefix := range []string{MailShipped, MailDelivered} {
		if id, ok := strings.CutPrefix(kind, prefix); ok {
			i := slices.IndexFunc(s.Shipments, func(sh *pb.Shipment) bool { return sh.Id == id })
			if i < 0 {
				return nil, false
			}
			return s.Shipments[i], true
		}
	}
	return nil, false
}

// applyFulfilment folds the events of fulfilment into the state.
func applyFulfilment(s *pb.State, ev proto.Message) {
	switch e := ev.(type) {
	case *pb.Shipped:
		s.Shipments = append(s.Shipments, proto.CloneOf(e.Shipment))
		setLines(s, e.Shipment.Lines, emporium.LineShipped)
	case *pb.Delivered:
		setLines(s, e.Lines, emporium.LineDelivered)
		for _, sh := range s.Shipments {
			if sh.DeliveredAt == nil && !slices.ContainsFunc(sh.Lines, func(id string) bool { return lineStatus(s, id) == emporium.LineShipped }) &&
				slices.ContainsFunc(sh.Lines, func(id string) bool { return slices.Contains(e.Lines, id) }) {
				sh.DeliveredAt = e.At
			}
		}
	case *pb.Adjusted:
		a := proto.CloneOf(e.Adjustment)
		s.Adjustments = append(s.Adjustments, a)
		status := emporium.LineCancelled
		if a.Kind == AdjustRefund {
			status = emporium.LineRefunded
		}
		setLines(s, a.Lines, status)
	case *pb.AdjustmentRefunded:
		if a := adjustmentByID(s, e.Id); a != nil {
			a.Refunded, a.RefundId = true, e.RefundId
		}
		p := s.Payment
		p.Refunded = addMoney(p.Refunded, e.Amount)
		p.Status = emporium.PaymentPartiallyRefunded
		if p.Refunded.GetAmount() >= p.Captured.GetAmount() {
			p.Status = emporium.PaymentRefunded
		}
		s.Started = pb.Step_STEP_NONE
		return
	case *pb.AdjustmentReturned:
		if a := adjustmentByID(s, e.Id); a != nil {
			a.Returned = true
		}
		s.Started = pb.Step_STEP_NONE
		return
	}
	if fulfilling(s) {
		s.Status = StatusOfLines(lineStatuses(s.Lines)...)
	}
}

// setLines sets the fulfilment status of the lines ids.
func setLines(s *pb.State, ids []string, status string) {
	for _, l := range s.Lines {
		if slices.Contains(ids, l.LineId) {
			l.FulfillmentStatus = status
		}
	}
}

// lineStatus returns the fulfilment status of line id.
func lineStatus(s *pb.State, id string) string {
	i := slices.IndexFunc(s.Lines, func(l *pb.Line) bool { return l.LineId == id })
	if i < 0 {
		return ""
	}
	return s.Lines[i].FulfillmentStatus
}
