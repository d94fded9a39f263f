package inventory

import (
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/inventorypb"
)

// The pure core of the InventoryGrain: decide turns a command into events
// (or refuses it) without changing anything, apply folds an event into the
// state without checking anything. The actor shell (grain.go) persists the
// events between the two. Nothing here does I/O or reads the clock.

// Command ids are the shell's:
// actors.Entity refuses a SetStock, Restock, ReturnUnits, SubscribeAlert or
// UnsubscribeAlert without one and answers a
// retried one from state (Spec.Remembered). Reserve, Release and Commit are
// made idempotent by their order id, here.

// Limits of the core.
const (
	// DefaultTTL is how long a reservation holds when the command names no ttl.
	DefaultTTL = 15 * time.Minute
	// MaxTTL is the longest a reservation may hold.
	MaxTTL = 24 * time.Hour
	// MaxQuantity bounds any single quantity so that sums cannot overflow.
	MaxQuantity = 1_000_000_000
	// closedOrdersKept is how many committed, released or expired
	// reservations are kept.
	closedOrdersKept = 1024
)

// newState returns the state of a SKU that has never been written.
func newState(sku string) *pb.State {
	return &pb.State{Sku: sku, Held: map[string]*pb.Reservation{}, Alerts: map[string]*pb.Alert{}}
}

// available is what can still be reserved: on hand minus reserved.
func available(s *pb.State) int64 { return s.OnHand - s.Reserved }

// expireDue returns a Released{expired} event for every held reservation whose
// expiry is at or before now. The shell persists these before every
// decision (Spec.Expire), so an answer always sees the stock expiry has
// given back.
func expireDue(s *pb.State, now time.Time) []proto.Message {
	var due []string
	for id, r := range s.Held {
		if !r.ExpiresAt.AsTime().After(now) {
			due = append(due, id)
		}
	}
	// Map order is random; sorting keeps the events of a replay identical.
	slices.Sort(due)
	events := make([]proto.Message, len(due))
	for i, id := range due {
		events[i] = &pb.Released{OrderId: id, Expired: true}
	}
	return events
}

// nextExpiry returns the earliest expiry of a held reservation, and false when
// nothing is held.
func nextExpiry(s *pb.State) (time.Time, bool) {
	var next time.Time
	for _, r := range s.Held {
		if at := r.ExpiresAt.AsTime(); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next, !next.IsZero()
}

// decide checks cmd against the state and returns the events that carry it
// out. No events and no error means the command has nothing left to do: it
// was applied before (a retry of an order's step) or asks for what already
// holds.
func decide(s *pb.State, cmd proto.Message, now time.Time) ([]proto.Message, error) {
	switch c := cmd.(type) {
	case *pb.SetStockRequest:
		return decideSetStock(s, c)
	case *pb.RestockRequest:
		return decideRestock(s, c)
	case *pb.ReserveRequest:
		return decideReserve(s, c, now)
	case *pb.ReleaseRequest:
		return decideRelease(s, c)
	case *pb.CommitRequest:
		return decideCommit(s, c)
	case *pb.ReturnRequest:
		return decideReturn(s, c)
	case *pb.ReturnUnitsRequest:
		return decideReturnUnits(s, c)
	case *pb.GetAvailabilityRequest:
		return nil, nil
	case *pb.SubscribeAlertRequest, *pb.UnsubscribeAlertRequest:
		return decideAlert(s, cmd, now)
	default:
		return nil, emporium.Errorf(emporium.EINTERNAL, "inventory: unknown command %T", cmd)
	}
}

func decideSetStock(s *pb.State, c *pb.SetStockRequest) ([]proto.Message, error) {
	if c.OnHand < 0 || c.OnHand > MaxQuantity {
		return nil, emporium.Invalidf("on_hand", emporium.FieldOutOfRange, "on_hand must be between 0 and %d", MaxQuantity)
	}
	if r := s.Reserved; c.OnHand < r {
		return nil, emporium.Invalidf("on_hand", emporium.FieldBelowReserved,
			"on_hand %d is below the %d units reserved by open orders", c.OnHand, r)
	}
	return []proto.Message{&pb.StockSet{CommandId: c.CommandId, OnHand: c.OnHand}}, nil
}

func decideRestock(s *pb.State, c *pb.RestockRequest) ([]proto.Message, error) {
	if c.Quantity <= 0 || c.Quantity > MaxQuantity || s.OnHand+c.Quantity > MaxQuantity {
		return nil, emporium.Invalidf("quantity", emporium.FieldOutOfRange,
			"quantity must be positive and keep on_hand at most %d", MaxQuantity)
	}
	return []proto.Message{&pb.Restocked{CommandId: c.CommandId, Quantity: c.Quantity}}, nil
}

func decideReserve(s *pb.State, c *pb.ReserveRequest, now time.Time) ([]proto.Message, error) {
	if err := needOrderID(c.OrderId); err != nil {
		return nil, err
	}
	if c.Quantity <= 0 || c.Quantity > MaxQuantity {
		return nil, emporium.Invalidf("quantity", emporium.FieldOutOfRange, "quantity must be between 1 and %d", MaxQuantity)
	}
	// Compare before converting: a huge ttl_ms would overflow a Duration.
	if c.TtlMs < 0 || c.TtlMs > MaxTTL.Milliseconds() {
		return nil, emporium.Invalidf("ttl_ms", emporium.FieldOutOfRange, "ttl_ms must be between 0 and %d", MaxTTL.Milliseconds())
	}
	ttl := time.Duration(c.TtlMs) * time.Millisecond
	if ttl == 0 {
		ttl = DefaultTTL
	}
	// A retry of a reservation that is held or committed is answered from
	// state. One that was released or expired is not renewed: the order gave
	// the units up (or let them go), and a late duplicate must not take them
	// again; a new hold needs a new order id.
	// The same holds for an order that gave the SKU up before its hold
	// arrived (a tombstone, see decideGiveUp).
	if r := findReservation(s, c.OrderId); r != nil {
		switch {
		case r.Status == pb.ReservationStatus_RESERVATION_STATUS_RELEASED || r.Status == pb.ReservationStatus_RESERVATION_STATUS_EXPIRED:
			return nil, emporium.Errorf(emporium.ECONFLICT,
				"order %s's reservation of %s was %s; it is not renewed", c.OrderId, s.Sku, statusWord(r.Status))
		case r.Quantity != c.Quantity:
			return nil, emporium.Errorf(emporium.ECONFLICT,
				"order %s already reserved %d units of %s, not %d", c.OrderId, r.Quantity, s.Sku, c.Quantity)
		}
		return nil, nil
	}
	if avail := available(s); c.Quantity > avail {
		return nil, emporium.Errorf(emporium.EOUTOFSTOCK,
			"only %d of %s available, %d requested", max(avail, 0), s.Sku, c.Quantity)
	}
	return []proto.Message{&pb.Reserved{
		OrderId:   c.OrderId,
		Quantity:  c.Quantity,
		ExpiresAt: timestamppb.New(now.Add(ttl)),
	}}, nil
}

func decideRelease(s *pb.State, c *pb.ReleaseRequest) ([]proto.Message, error) {
	if err := needOrderID(c.OrderId); err != nil {
		return nil, err
	}
	if _, ok := s.Held[c.OrderId]; ok {
		return []proto.Message{&pb.Released{OrderId: c.OrderId}}, nil
	}
	if r := findReservation(s, c.OrderId); r != nil && r.Status == pb.ReservationStatus_RESERVATION_STATUS_COMMITTED {
		return nil, emporium.Errorf(emporium.ECONFLICT,
			"order %s's reservation of %s is committed and cannot be released", c.OrderId, s.Sku)
	}
	return decideGiveUp(s, c.OrderId), nil
}

// decideGiveUp answers a Release or Return of an order that holds nothing
// of the SKU. When the SKU never heard of the order, the answer is a
// tombstone (Released for an order with no reservation): the order's
// Reserve may still be on its way (its caller gave up waiting, and it sits
// in the mailbox of another activation, which Proto.Actor allows for a
// moment), and once the tombstone is in the journal that late Reserve is
// refused like any renewal of a released hold. Without it the give-up
// would answer "nothing held" and the late Reserve would hold units for
// an order that is over, until they expired. The two are ordered by the
// journal: whichever appends second conflicts, reloads and sees the other.
// Released or expired already: nothing to do.
func decideGiveUp(s *pb.State, orderID string) []proto.Message {
	if findReservation(s, orderID) != nil {
		return nil
	}
	return []proto.Message{&pb.Released{OrderId: orderID}}
}

func decideCommit(s *pb.State, c *pb.CommitRequest) ([]proto.Message, error) {
	if err := needOrderID(c.OrderId); err != nil {
		return nil, err
	}
	if _, ok := s.Held[c.OrderId]; ok {
		return []proto.Message{&pb.Committed{OrderId: c.OrderId}}, nil
	}
	r := findReservation(s, c.OrderId)
	switch {
	case r == nil:
		return nil, emporium.Errorf(emporium.ENOTFOUND, "order %s holds no reservation of %s", c.OrderId, s.Sku)
	case r.Status == pb.ReservationStatus_RESERVATION_STATUS_COMMITTED:
		return nil, nil
	default:
		return nil, emporium.Errorf(emporium.EEXPIRED,
			"order %s's reservation of %s was %s before it was committed", c.OrderId, s.Sku, statusWord(r.Status))
	}
}

func decideReturn(s *pb.State, c *pb.ReturnRequest) ([]proto.Message, error) {
	if err := needOrderID(c.OrderId); err != nil {
		return nil, err
	}
	if _, ok := s.Held[c.OrderId]; ok {
		return []proto.Message{&pb.Released{OrderId: c.OrderId}}, nil
	}
	if r := findReservation(s, c.OrderId); r != nil && r.Status == pb.ReservationStatus_RESERVATION_STATUS_COMMITTED {
		return []proto.Message{&pb.Returned{OrderId: c.OrderId, Quantity: r.Quantity}}, nil
	}
	// Released, expired or returned: nothing of the order's is held or
	// sold, which is what was asked. Unknown: the same, and a tombstone
	// keeps a late Reserve of the order from taking units.
	return decideGiveUp(s, c.OrderId), nil
}

// decideReturnUnits puts units of a sale back on hand. Unlike Return, it
// does not look the order up among the closed reservations (a bounded list
// that an old order has left): the order grain asks only for units it
// committed and did not return, and the command id keeps a retry from
// returning them twice.
func decideReturnUnits(s *pb.State, c *pb.ReturnUnitsRequest) ([]proto.Message, error) {
	if err := needOrderID(c.OrderId); err != nil {
		return nil, err
	}
	if c.Quantity <= 0 || c.Quantity > MaxQuantity || s.OnHand+c.Quantity > MaxQuantity {
		return nil, emporium.Invalidf("quantity", emporium.FieldOutOfRange,
			"quantity must be positive and keep on_hand at most %d", MaxQuantity)
	}
	return []proto.Message{&pb.UnitsReturned{CommandId: c.CommandId, OrderId: c.OrderId, Quantity: c.Quantity}}, nil
}

// apply folds one event into the state. Events are facts: apply never
// refuses one, so replaying a journal always gives the same state.
func apply(s *pb.State, ev proto.Message) {
	if s.Held == nil {
		s.Held = map[string]*pb.Reservation{}
	}
	switch e := ev.(type) {
	case *pb.StockSet:
		s.OnHand = e.OnHand
	case *pb.Restocked:
		s.OnHand += e.Quantity
	case *pb.Reserved:
		s.Reserved += e.Quantity
		s.Held[e.OrderId] = &pb.Reservation{
			OrderId:   e.OrderId,
			Quantity:  e.Quantity,
			ExpiresAt: e.ExpiresAt,
			Status:    pb.ReservationStatus_RESERVATION_STATUS_HELD,
		}
	case *pb.Released:
		status := pb.ReservationStatus_RESERVATION_STATUS_RELEASED
		if e.Expired {
			status = pb.ReservationStatus_RESERVATION_STATUS_EXPIRED
		}
		if findReservation(s, e.OrderId) == nil {
			// A tombstone (decideGiveUp): the order gave the SKU up
			// before it held any of it.
			keepClosed(s, &pb.Reservation{OrderId: e.OrderId, Status: status})
			break
		}
		closeReservation(s, e.OrderId, status)
	case *pb.Committed:
		if r, ok := s.Held[e.OrderId]; ok {
			s.OnHand -= r.Quantity
			s.Sold += r.Quantity
		}
		closeReservation(s, e.OrderId, pb.ReservationStatus_RESERVATION_STATUS_COMMITTED)
	case *pb.Returned:
		for _, r := range s.Closed {
			if r.OrderId == e.OrderId && r.Status == pb.ReservationStatus_RESERVATION_STATUS_COMMITTED {
				r.Status = pb.ReservationStatus_RESERVATION_STATUS_RETURNED
				s.OnHand += e.Quantity
				s.Sold -= e.Quantity
			}
		}
	case *pb.UnitsReturned:
		s.OnHand += e.Quantity
		s.Sold = max(s.Sold-e.Quantity, 0)
	case *pb.AlertSubscribed, *pb.AlertUnsubscribed, *pb.AlertsTriggered, *pb.AlertNotified:
		applyAlert(s, ev)
	case *pb.Fenced:
		// Only takes its seq.
	}
}

// closeReservation moves an order's reservation from held to the bounded
// list of closed ones, with its final status.
func closeReservation(s *pb.State, orderID string, status pb.ReservationStatus) {
	r, ok := s.Held[orderID]
	if !ok {
		return
	}
	delete(s.Held, orderID)
	s.Reserved -= r.Quantity
	keepClosed(s, &pb.Reservation{OrderId: r.OrderId, Quantity: r.Quantity, ExpiresAt: r.ExpiresAt, Status: status})
}

// keepClosed adds r to the bounded list of closed reservations, dropping
// the oldest beyond closedOrdersKept.
func keepClosed(s *pb.State, r *pb.Reservation) {
	s.Closed = append(s.Closed, r)
	if over := len(s.Closed) - closedOrdersKept; over > 0 {
		s.Closed = append(s.Closed[:0:0], s.Closed[over:]...)
	}
}

// findReservation returns the order's reservation, held or closed, or nil.
func findReservation(s *pb.State, orderID string) *pb.Reservation {
	if r, ok := s.Held[orderID]; ok {
		return r
	}
	for i := len(s.Closed) - 1; i >= 0; i-- {
		if s.Closed[i].OrderId == orderID {
			return s.Closed[i]
		}
	}
	return nil
}

// stock renders the state as the grain's answer. When orderID is set, the
// answer carries that order's reservation.
func stock(s *pb.State, seq uint64, orderID string) *pb.Stock {
	out := &pb.Stock{
		Sku:       s.Sku,
		OnHand:    s.OnHand,
		Reserved:  s.Reserved,
		Available: s.OnHand - s.Reserved,
		Sold:      s.Sold,
		Seq:       seq,
	}
	if orderID != "" {
		if res := findReservation(s, orderID); res != nil {
			out.Reservation = proto.CloneOf(res)
		}
	}
	return out
}

func statusWord(st pb.ReservationStatus) string {
	switch st {
	case pb.ReservationStatus_RESERVATION_STATUS_EXPIRED:
		return "expired"
	case pb.ReservationStatus_RESERVATION_STATUS_RELEASED:
		return "released"
	case pb.ReservationStatus_RESERVATION_STATUS_COMMITTED:
		return "committed"
	case pb.ReservationStatus_RESERVATION_STATUS_RETURNED:
		return "returned"
	default:
		return "held"
	}
}

func needOrderID(id string) error {
	if id == "" || len(id) > 128 {
		return emporium.Invalidf("order_id", emporium.FieldRequired, "order_id is required (1-128 characters)")
	}
	return nil
}
