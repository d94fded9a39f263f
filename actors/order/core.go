package order

import (
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

// The pure core of the OrderGrain. The saga is a function of the state:
// next says which step comes after what the journal holds, so that a
// re-activated order resumes where its journal ends. decide turns a
// request into events; advance adds the events that need no outside effect
// (a step journaled as started, the order confirmed or ended); the outcome
// functions (outcomes.go) turn what a step's effect answered into events;
// apply folds an event into the state. Nothing here does I/O or reads the
// clock.

// Limits of the saga.
const (
	// ReservationTTL is how long a reservation holds: longer than every
	// step before its commit, the buyer's approval of a payment included.
	ReservationTTL = 45 * time.Minute
	// ApprovalWindow is how long an order waits for the buyer to approve
	// its payment before it fails payment_expired.
	ApprovalWindow = 30 * time.Minute
	// eventsKept bounds the provider notification ids an order remembers.
	eventsKept = 64
)

// Mail kinds an order sends (State.notified).
const (
	MailConfirmed = "confirmed"
	MailCancelled = "cancelled"
)

// newState returns the state of an order that was never placed.
func newState(id string) *pb.State { return &pb.State{Id: id} }

// placed reports whether the order exists.
func placed(s *pb.State) bool { return s.BuyerId != "" }

// Terminal reports whether the order's life is over: failed, cancelled,
// delivered or refunded (docs/orders.md). A terminal order may still owe
// adjustments' refunds and mails; Settled tells when nothing is left.
func Terminal(s *pb.State) bool {
	switch s.Status {
	case emporium.OrderFailed, emporium.OrderCancelled, emporium.OrderRefunded, emporium.OrderDelivered:
		return true
	}
	return false
}

// Settled reports whether the saga has nothing left to do by itself: the
// order is terminal, or confirmed (waiting for its vendors), or waiting for
// the buyer's approval, with no step in flight and nothing to send.
func Settled(s *pb.State, now time.Time) bool {
	if !placed(s) {
		return true
	}
	step, events := nextStep(s, now)
	return step == pb.Step_STEP_NONE && len(events) == 0
}

// decide checks a request against the state and returns the events that
// carry it out, advanced to the next step. No events and no error means
// the request asks for what already holds (a replay).
func decide(s *pb.State, cmd proto.Message, now time.Time) ([]proto.Message, error) {
	var events []proto.Message
	var err error
	switch c := cmd.(type) {
	case *pb.PlaceRequest:
		events, err = decidePlace(s, c, now)
	case *pb.GetRequest:
		err = authorize(s, c.BuyerId, c.Admin)
	case *pb.CancelRequest:
		events, err = decideCancel(s, c, now)
	case *pb.ConfirmPaymentRequest:
		events, err = decideConfirm(s, c, now)
	case *pb.PaymentEventRequest:
		events, err = decidePaymentEvent(s, c, now)
	case *pb.ShipRequest:
		events, err = decideShip(s, c, now)
	case *pb.DeliverRequest:
		events, err = decideDeliver(s, c, now)
	case *pb.RefundRequest:
		events, err = decideRefund(s, c, now)
	default:
		err = emporium.Errorf(emporium.EINTERNAL, "order: unknown request %T", cmd)
	}
	if err != nil || len(events) == 0 {
		return nil, err
	}
	return withAdvance(s, events, now), nil
}

// authorize refuses anyone but the order's buyer (or an admin); an order
// that does not exist and another buyer's order look the same.
func authorize(s *pb.State, buyerID string, admin bool) error {
	if !placed(s) || !admin && s.BuyerId != buyerID {
		return emporium.Errorf(emporium.ENOTFOUND, "There is no order %s.", s.Id)
	}
	return nil
}

// keyReused refuses a request that reuses the Idempotency-Key of order id
// with another body.
func keyReused(id string) *emporium.Error {
	return emporium.Errorf(emporium.EIDEMPOTENCY,
		"This Idempotency-Key placed order %s with another request; use a new key for a new order.", id)
}

func decidePlace(s *pb.State, c *pb.PlaceRequest, now time.Time) ([]proto.Message, error) {
	if placed(s) {
		if s.BuyerId != c.BuyerId {
			// Order ids derive from the buyer; a collision is not a thing
			// to reveal.
			return nil, emporium.Errorf(emporium.ENOTFOUND, "There is no order %s.", s.Id)
		}
		if s.RequestHash != c.RequestHash {
			return nil, keyReused(s.Id)
		}
		return nil, nil
	}
	switch {
	case c.BuyerId == "" || c.RequestHash == "":
		return nil, emporium.Errorf(emporium.EINTERNAL, "order: place without buyer or request hash")
	case len(c.Lines) == 0:
		return nil, emporium.Invalidf("cart", emporium.FieldRequired, "The cart is empty.")
	case c.Provider == "":
		return nil, emporium.Invalidf("payment.provider", emporium.FieldRequired, "payment.provider is required")
	}
	return []proto.Message{&pb.Placed{Order: c, OrderId: s.Id, At: timestamppb.New(now)}}, nil
}

func decideCancel(s *pb.State, c *pb.CancelRequest, now time.Time) ([]proto.Message, error) {
	if err := authorize(s, c.BuyerId, c.Admin); err != nil {
		return nil, err
	}
	switch {
	case s.Outcome == emporium.OrderCancelled:
		return nil, nil
	case s.Outcome != "" || Terminal(s):
		return nil, emporium.Errorf(emporium.ECONFLICT, "Order %s is %s; there is nothing to cancel.", s.Id, statusOrOutcome(s))
	case s.Status == emporium.OrderPending:
		return nil, &emporium.Error{Code: emporium.ECONFLICT, RetryAfter: time.Second,
			Message: "Order " + s.Id + " is being placed; cancel it once it is confirmed."}
	case anyMoved(s) && !c.Admin:
		return nil, emporium.Errorf(emporium.ECONFLICT, "Order %s has shipped and can no longer be cancelled.", s.Id)
	case anyMoved(s) || len(s.Adjustments) > 0:
		// Part of the order shipped (an admin cancels the rest) or was
		// adjusted already: its lines are cancelled one by one, so that
		// no unit or amount goes back twice.
		return decideCancelLines(s, c, now)
	case s.Status != emporium.OrderConfirmed && s.Status != emporium.OrderAwaitingPayment:
		return nil, emporium.Errorf(emporium.ECONFLICT, "Order %s is %s and can no longer be cancelled.", s.Id, s.Status)
	}
	detail := "The order was cancelled."
	if c.Reason != "" {
		detail = "The order was cancelled: " + c.Reason
	}
	return []proto.Message{&pb.TurnedBack{
		Outcome: emporium.OrderCancelled, Reason: emporium.ReasonCancelled, Detail: detail,
		CommandId: c.CommandId, At: timestamppb.New(now),
	}}, nil
}

func decideConfirm(s *pb.State, c *pb.ConfirmPaymentRequest, now time.Time) ([]proto.Message, error) {
	if err := authorize(s, c.BuyerId, false); err != nil {
		return nil, err
	}
	if s.Status != emporium.OrderAwaitingPayment || s.Outcome != "" || s.Payment.GetConfirmRequested() {
		// Approved, failed, or a confirmation already under way: the
		// order as it is answers.
		return nil, nil
	}
	return []proto.Message{&pb.PaymentConfirmRequested{CommandId: c.CommandId, At: timestamppb.New(now)}}, nil
}

// decidePaymentEvent applies a provider's notification once, and only when
// it moves the order forward: an authorisation the order was waiting for
// approval of, or a decline of it. Anything else is recorded and changes
// nothing, so a late or repeated event never moves an order backwards.
func decidePaymentEvent(s *pb.State, c *pb.PaymentEventRequest, now time.Time) ([]proto.Message, error) {
	if !placed(s) {
		return nil, emporium.Errorf(emporium.ENOTFOUND, "There is no order %s.", s.Id)
	}
	if c.EventId == "" || slices.Contains(s.PaymentEvents, c.EventId) {
		return nil, nil
	}
	at := timestamppb.New(now)
	events := []proto.Message{&pb.PaymentEventApplied{EventId: c.EventId, At: at}}
	waiting := s.Status == emporium.OrderAwaitingPayment && s.Outcome == "" && s.Started == pb.Step_STEP_NONE
	if waiting && (c.PaymentId == "" || c.PaymentId == s.Payment.GetPaymentId()) {
		switch c.Status {
		case string(payments.StatusAuthorized):
			events = append(events, &pb.PaymentAuthorized{PaymentId: s.Payment.GetPaymentId(), Amount: s.Total, At: at})
		case string(payments.StatusApproved):
			// The buyer approved at the provider: ask it, as when the
			// buyer comes back and confirms.
			if !s.Payment.GetConfirmRequested() {
				events = append(events, &pb.PaymentConfirmRequested{At: at})
			}
		case string(payments.StatusDeclined):
			events = append(events, declined(s.Payment.GetPaymentId(), c.DeclineCode, at))
		}
	}
	return events, nil
}

// declined turns the saga back because the provider declined the payment.
func declined(paymentID, code string, at *timestamppb.Timestamp) *pb.TurnedBack {
	reason, detail := emporium.ReasonPaymentDeclined, "The payment was declined."
	if code == emporium.ReasonInsufficientFunds {
		reason, detail = emporium.ReasonInsufficientFunds, "The payment was declined for insufficient funds."
	}
	return &pb.TurnedBack{Outcome: emporium.OrderFailed, Reason: reason, Detail: detail,
		PaymentDeclined: true, PaymentId: paymentID, At: at}
}

// failed turns the saga back for reason.
func failed(reason, detail string, at *timestamppb.Timestamp) *pb.TurnedBack {
	return &pb.TurnedBack{Outcome: emporium.OrderFailed, Reason: reason, Detail: detail, At: at}
}

// withAdvance returns events followed by what advance adds after them.
func withAdvance(s *pb.State, events []proto.Message, now time.Time) []proto.Message {
	after := proto.CloneOf(s)
	for _, ev := range events {
		Spec.Fold(after, ev)
	}
	return append(events, advance(after, now)...)
}

// advance returns the events that move the saga on without an outside
// effect: the order confirmed or ended, and the next step with an effect
// journaled as started (before it runs). It returns nothing while a step is
// in flight or the order waits for the buyer.
func advance(s *pb.State, now time.Time) []proto.Message {
	if !placed(s) || s.Started != pb.Step_STEP_NONE {
		return nil
	}
	s = proto.CloneOf(s)
	var out []proto.Message
	for range 8 { // the longest chain of instant events is short
		step, events := nextStep(s, now)
		if step != pb.Step_STEP_NONE {
			events = append(events, &pb.StepStarted{Step: step, At: timestamppb.New(now)})
		}
		if len(events) == 0 {
			break
		}
		for _, ev := range events {
			Spec.Fold(s, ev)
		}
		out = append(out, events...)
		if step != pb.Step_STEP_NONE {
			break
		}
	}
	return out
}

// nextStep says what the saga does next: a step with an outside effect, or
// instant events, or nothing (done, or waiting for the buyer).
func nextStep(s *pb.State, now time.Time) (pb.Step, []proto.Message) {
	if s.Started != pb.Step_STEP_NONE {
		return s.Started, nil
	}
	at := timestamppb.New(now)
	p := s.Payment
	if s.Outcome == "" {
		switch {
		case !s.StockReserved:
			return pb.Step_STEP_RESERVE, nil
		case p.Status == emporium.PaymentPending:
			return pb.Step_STEP_AUTHORIZE, nil
		case p.Status == emporium.PaymentRequiresApproval:
			if !now.Before(p.ApprovalDeadline.AsTime()) {
				return pb.Step_STEP_NONE, []proto.Message{failed(emporium.ReasonPaymentExpired,
					"The payment was not approved in time.", at)}
			}
			if p.ConfirmRequested {
				return pb.Step_STEP_CONFIRM_PAYMENT, nil
			}
			return pb.Step_STEP_NONE, nil
		case !s.StockCommitted:
			return pb.Step_STEP_COMMIT, nil
		case p.Status == emporium.PaymentAuthorized:
			return pb.Step_STEP_CAPTURE, nil
		case !s.CartCheckedOut:
			return pb.Step_STEP_CHECKOUT_CART, nil
		case s.Status == emporium.OrderPending:
			return pb.Step_STEP_NONE, []proto.Message{&pb.Confirmed{At: at}}
		case adjustmentDue(s) != nil:
			if !adjustmentDue(s).Refunded {
				return pb.Step_STEP_ADJUST_REFUND, nil
			}
			return pb.Step_STEP_ADJUST_RETURN, nil
		case mailDue(s) != "":
			// The buyer's confirmation, then each vendor's new order.
			return pb.Step_STEP_NOTIFY, nil
		}
		return pb.Step_STEP_NONE, nil
	}
	switch {
	case p.Status == emporium.PaymentCaptured || p.Status == emporium.PaymentPartiallyRefunded:
		return pb.Step_STEP_REFUND, nil
	case p.Status == emporium.PaymentAuthorized || p.Status == emporium.PaymentRequiresApproval ||
		p.Status == emporium.PaymentPending && s.PaymentTouched:
		return pb.Step_STEP_VOID, nil
	case s.StockTouched && !s.StockReturned && !nothingHeld(s):
		return pb.Step_STEP_RETURN_STOCK, nil
	case !Terminal(s):
		return pb.Step_STEP_NONE, []proto.Message{&pb.Ended{At: at}}
	case s.Outcome == emporium.OrderCancelled && !slices.Contains(s.Notified, MailCancelled):
		return pb.Step_STEP_NOTIFY, nil
	}
	return pb.Step_STEP_NONE, nil
}

// nothingHeld reports whether the order's reservation was refused for
// every SKU it holds: each SKU's grain answered out of stock, a definite
// refusal that holds nothing (a hold made by an earlier attempt of the step
// would have been answered as held). Such an order has no stock to give
// back, and skips the Return calls: in a rush for one SKU, they would queue
// on that SKU's one grain behind the reservations of the buyers still in
// the race.
func nothingHeld(s *pb.State) bool {
	if s.FailureReason != emporium.ReasonOutOfStock || s.StockReserved || len(s.OutOfStockSkus) == 0 {
		return false
	}
	for _, l := range s.Lines {
		if !slices.Contains(s.OutOfStockSkus, l.Sku) {
			return false
		}
	}
	return true
}

// apply folds one event into the state. Events are facts: apply never
// refuses one, so replaying a journal always gives the same state.
func apply(s *pb.State, ev proto.Message) {
	if s.Payment == nil {
		s.Payment = &pb.Payment{}
	}
	p := s.Payment
	switch e := ev.(type) {
	case *pb.Placed:
		applyPlaced(s, e)
	case *pb.StepStarted:
		s.Started = e.Step
		switch e.Step {
		case pb.Step_STEP_RESERVE:
			s.StockTouched = true
		case pb.Step_STEP_AUTHORIZE:
			s.PaymentTouched = true
		}
	case *pb.StockReserved:
		s.StockReserved = true
		s.Started = pb.Step_STEP_NONE
	case *pb.PaymentAuthorized:
		p.PaymentId, p.Status, p.Authorized = e.PaymentId, emporium.PaymentAuthorized, e.Amount
		p.ApprovalUrl, p.ConfirmRequested = "", false
		if s.Status == emporium.OrderAwaitingPayment {
			s.Status = emporium.OrderPending
		}
		s.Started = pb.Step_STEP_NONE
	case *pb.PaymentApprovalRequired:
		p.PaymentId, p.Status, p.ApprovalUrl = e.PaymentId, emporium.PaymentRequiresApproval, e.ApprovalUrl
		p.ApprovalDeadline, p.ConfirmRequested = e.Deadline, false
		s.Status = emporium.OrderAwaitingPayment
		s.Started = pb.Step_STEP_NONE
	case *pb.PaymentConfirmRequested:
		p.ConfirmRequested = true
		p.Confirms++
	case *pb.StockCommitted:
		s.StockCommitted = true
		s.Started = pb.Step_STEP_NONE
	case *pb.PaymentCaptured:
		p.Status, p.Captured = emporium.PaymentCaptured, e.Amount
		s.Started = pb.Step_STEP_NONE
	case *pb.CartCheckedOut:
		s.CartCheckedOut = true
		s.Started = pb.Step_STEP_NONE
	case *pb.Confirmed:
		s.Status = emporium.OrderConfirmed
	case *pb.Notified:
		s.Notified = append(s.Notified, e.Kind)
		s.Started = pb.Step_STEP_NONE
	case *pb.TurnedBack:
		s.Outcome, s.FailureReason, s.FailureDetail = e.Outcome, e.Reason, e.Detail
		s.OutOfStockSkus = e.OutOfStockSkus
		if e.PaymentDeclined {
			p.Status = emporium.PaymentDeclined
			if e.PaymentId != "" {
				p.PaymentId = e.PaymentId
			}
		}
		p.ApprovalUrl = ""
		s.Started = pb.Step_STEP_NONE
	case *pb.PaymentVoided:
		p.Status = emporium.PaymentVoided
		s.Started = pb.Step_STEP_NONE
	case *pb.PaymentRefunded:
		p.Refunds++
		p.Refunded = addMoney(p.Refunded, e.Amount)
		p.Status = emporium.PaymentPartiallyRefunded
		if p.Refunded.GetAmount() >= p.Captured.GetAmount() {
			p.Status = emporium.PaymentRefunded
		}
		s.Started = pb.Step_STEP_NONE
	case *pb.StockReturned:
		s.StockReturned = true
		s.Started = pb.Step_STEP_NONE
	case *pb.Ended:
		s.Status = s.Outcome
		if p.Status == emporium.PaymentPending {
			p.Status = emporium.PaymentNone
		}
	case *pb.PaymentEventApplied:
		s.PaymentEvents = append(s.PaymentEvents, e.EventId)
		if over := len(s.PaymentEvents) - eventsKept; over > 0 {
			s.PaymentEvents = append(s.PaymentEvents[:0:0], s.PaymentEvents[over:]...)
		}
	case *pb.Shipped, *pb.Delivered, *pb.Adjusted, *pb.AdjustmentRefunded, *pb.AdjustmentReturned:
		applyFulfilment(s, ev)
	case *pb.Fenced:
		// Only takes its seq.
	}
	if at := eventTime(ev); at != nil {
		s.UpdatedAt = at
	}
}

func applyPlaced(s *pb.State, e *pb.Placed) {
	o := e.Order
	s.BuyerId, s.BuyerEmail, s.RequestHash = o.BuyerId, o.BuyerEmail, o.RequestHash
	s.CreatedAt = e.At
	s.Lines = make([]*pb.Line, len(o.Lines))
	for i, l := range o.Lines {
		s.Lines[i] = proto.CloneOf(l)
		s.Lines[i].FulfillmentStatus = "unfulfilled"
	}
	s.Subtotal, s.Shipping, s.Tax, s.Total = o.Subtotal, o.Shipping, o.Tax, o.Total
	s.ShippingMethod, s.ShippingAddress, s.BillingAddress = o.ShippingMethod, o.ShippingAddress, o.BillingAddress
	s.EstimatedDelivery = o.EstimatedDelivery
	s.Status = emporium.OrderPending
	s.Payment = &pb.Payment{Provider: o.Provider, Method: o.PaymentMethod, ReturnUrl: o.ReturnUrl,
		Status: emporium.PaymentPending}
}

// eventTime returns the time an event carries, if any.
func eventTime(ev proto.Message) *timestamppb.Timestamp {
	if e, ok := ev.(interface{ GetAt() *timestamppb.Timestamp }); ok {
		return e.GetAt()
	}
	return nil
}

func addMoney(a, b *pb.Money) *pb.Money {
	return &pb.Money{Amount: a.GetAmount() + b.GetAmount(), Currency: b.GetCurrency()}
}

func statusOrOutcome(s *pb.State) string {
	if s.Outcome != "" && !Terminal(s) {
		return "being " + s.Outcome
	}
	return s.Status
}
