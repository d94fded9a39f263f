package inventory

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	pb "github.com/emporium-shop/emporium/protos/inventorypb"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// given builds a state by applying events, the way a replay does.
func given(events ...proto.Message) *pb.State { return actorstest.Given(&Spec, "SKU-1", events...) }

// decideAsShell decides cmd as the shell does: what expired first, then
// the command id, then decide.
func decideAsShell(s *pb.State, cmd proto.Message, now time.Time) ([]proto.Message, error) {
	return actorstest.Decide(&Spec, s, cmd, now, func(s *pb.State) ([]proto.Message, error) { return decide(s, cmd, now) })
}

func reservedEv(order string, qty int64, expires time.Time) *pb.Reserved {
	return &pb.Reserved{OrderId: order, Quantity: qty, ExpiresAt: timestamppb.New(expires)}
}

func TestDecide(t *testing.T) {
	stocked := []proto.Message{&pb.StockSet{CommandId: "c1", OnHand: 10}}
	withHold := append(stocked, reservedEv("o1", 4, t0.Add(time.Minute)))
	tests := []struct {
		name    string
		given   []proto.Message
		cmd     proto.Message
		want    []proto.Message
		errCode string
	}{
		{"set stock", nil, &pb.SetStockRequest{CommandId: "c1", OnHand: 5},
			[]proto.Message{&pb.StockSet{CommandId: "c1", OnHand: 5}}, ""},
		{"set stock retried", stocked, &pb.SetStockRequest{CommandId: "c1", OnHand: 10}, nil, ""},
		{"set stock without id", nil, &pb.SetStockRequest{OnHand: 5}, nil, emporium.EINVALID},
		{"set stock negative", nil, &pb.SetStockRequest{CommandId: "c2", OnHand: -1}, nil, emporium.EINVALID},
		{"set stock below reserved", withHold, &pb.SetStockRequest{CommandId: "c2", OnHand: 3}, nil, emporium.EINVALID},
		{"set stock to reserved", withHold, &pb.SetStockRequest{CommandId: "c2", OnHand: 4},
			[]proto.Message{&pb.StockSet{CommandId: "c2", OnHand: 4}}, ""},
		{"restock", stocked, &pb.RestockRequest{CommandId: "c2", Quantity: 3},
			[]proto.Message{&pb.Restocked{CommandId: "c2", Quantity: 3}}, ""},
		{"restock retried", append(stocked, &pb.Restocked{CommandId: "c2", Quantity: 3}),
			&pb.RestockRequest{CommandId: "c2", Quantity: 3}, nil, ""},
		{"restock zero", stocked, &pb.RestockRequest{CommandId: "c2"}, nil, emporium.EINVALID},
		{"restock overflow", stocked, &pb.RestockRequest{CommandId: "c2", Quantity: MaxQuantity}, nil, emporium.EINVALID},
		{"return units", stocked, &pb.ReturnUnitsRequest{CommandId: "r1", OrderId: "o1", Quantity: 2},
			[]proto.Message{&pb.UnitsReturned{CommandId: "r1", OrderId: "o1", Quantity: 2}}, ""},
		{"return units retried", append(stocked, &pb.UnitsReturned{CommandId: "r1", OrderId: "o1", Quantity: 2}),
			&pb.ReturnUnitsRequest{CommandId: "r1", OrderId: "o1", Quantity: 2}, nil, ""},
		{"return units without id", stocked, &pb.ReturnUnitsRequest{OrderId: "o1", Quantity: 2}, nil, emporium.EINVALID},
		{"return units without order", stocked, &pb.ReturnUnitsRequest{CommandId: "r1", Quantity: 2}, nil, emporium.EINVALID},
		{"return no units", stocked, &pb.ReturnUnitsRequest{CommandId: "r1", OrderId: "o1"}, nil, emporium.EINVALID},
		{"reserve", stocked, &pb.ReserveRequest{OrderId: "o1", Quantity: 4, TtlMs: 60_000},
			[]proto.Message{reservedEv("o1", 4, t0.Add(time.Minute))}, ""},
		{"reserve default ttl", stocked, &pb.ReserveRequest{OrderId: "o1", Quantity: 1},
			[]proto.Message{reservedEv("o1", 1, t0.Add(DefaultTTL))}, ""},
		{"reserve all", stocked, &pb.ReserveRequest{OrderId: "o1", Quantity: 10},
			[]proto.Message{reservedEv("o1", 10, t0.Add(DefaultTTL))}, ""},
		{"reserve over available", withHold, &pb.ReserveRequest{OrderId: "o2", Quantity: 7}, nil, emporium.EOUTOFSTOCK},
		{"reserve retried", withHold, &pb.ReserveRequest{OrderId: "o1", Quantity: 4}, nil, ""},
		{"reserve retried with other quantity", withHold, &pb.ReserveRequest{OrderId: "o1", Quantity: 5}, nil, emporium.ECONFLICT},
		{"reserve after commit is answered", append(withHold, &pb.Committed{OrderId: "o1"}),
			&pb.ReserveRequest{OrderId: "o1", Quantity: 4}, nil, ""},
		{"reserve after expiry is not renewed", append(withHold, &pb.Released{OrderId: "o1", Expired: true}),
			&pb.ReserveRequest{OrderId: "o1", Quantity: 4}, nil, emporium.ECONFLICT},
		{"reserve after release is not renewed", append(withHold, &pb.Released{OrderId: "o1"}),
			&pb.ReserveRequest{OrderId: "o1", Quantity: 4}, nil, emporium.ECONFLICT},
		{"reserve ttl that would overflow", stocked, &pb.ReserveRequest{OrderId: "o1", Quantity: 1, TtlMs: 9_223_372_036_855}, nil, emporium.EINVALID},
		{"reserve without order", stocked, &pb.ReserveRequest{Quantity: 1}, nil, emporium.EINVALID},
		{"reserve zero", stocked, &pb.ReserveRequest{OrderId: "o1"}, nil, emporium.EINVALID},
		{"reserve ttl too long", stocked, &pb.ReserveRequest{OrderId: "o1", Quantity: 1, TtlMs: MaxTTL.Milliseconds() + 1}, nil, emporium.EINVALID},
		{"reserve on empty sku", nil, &pb.ReserveRequest{OrderId: "o1", Quantity: 1}, nil, emporium.EOUTOFSTOCK},
		{"release", withHold, &pb.ReleaseRequest{OrderId: "o1"},
			[]proto.Message{&pb.Released{OrderId: "o1"}}, ""},
		{"release unknown leaves a tombstone", withHold, &pb.ReleaseRequest{OrderId: "o9"},
			[]proto.Message{&pb.Released{OrderId: "o9"}}, ""},
		{"release after the tombstone", append(withHold, &pb.Released{OrderId: "o9"}), &pb.ReleaseRequest{OrderId: "o9"}, nil, ""},
		{"reserve after the tombstone is refused", append(withHold, &pb.Released{OrderId: "o9"}),
			&pb.ReserveRequest{OrderId: "o9", Quantity: 1}, nil, emporium.ECONFLICT},
		{"commit after the tombstone", append(withHold, &pb.Released{OrderId: "o9"}), &pb.CommitRequest{OrderId: "o9"}, nil, emporium.EEXPIRED},
		{"release retried", append(withHold, &pb.Released{OrderId: "o1"}), &pb.ReleaseRequest{OrderId: "o1"}, nil, ""},
		{"release committed", append(withHold, &pb.Committed{OrderId: "o1"}), &pb.ReleaseRequest{OrderId: "o1"}, nil, emporium.ECONFLICT},
		{"commit", withHold, &pb.CommitRequest{OrderId: "o1"},
			[]proto.Message{&pb.Committed{OrderId: "o1"}}, ""},
		{"commit retried", append(withHold, &pb.Committed{OrderId: "o1"}), &pb.CommitRequest{OrderId: "o1"}, nil, ""},
		{"commit unknown", withHold, &pb.CommitRequest{OrderId: "o9"}, nil, emporium.ENOTFOUND},
		{"commit expired", append(withHold, &pb.Released{OrderId: "o1", Expired: true}), &pb.CommitRequest{OrderId: "o1"}, nil, emporium.EEXPIRED},
		{"commit released", append(withHold, &pb.Released{OrderId: "o1"}), &pb.CommitRequest{OrderId: "o1"}, nil, emporium.EEXPIRED},
		{"return held releases", withHold, &pb.ReturnRequest{OrderId: "o1"},
			[]proto.Message{&pb.Released{OrderId: "o1"}}, ""},
		{"return committed", append(withHold, &pb.Committed{OrderId: "o1"}), &pb.ReturnRequest{OrderId: "o1"},
			[]proto.Message{&pb.Returned{OrderId: "o1", Quantity: 4}}, ""},
		{"return retried", append(withHold, &pb.Committed{OrderId: "o1"}, &pb.Returned{OrderId: "o1", Quantity: 4}),
			&pb.ReturnRequest{OrderId: "o1"}, nil, ""},
		{"return unknown leaves a tombstone", withHold, &pb.ReturnRequest{OrderId: "o9"},
			[]proto.Message{&pb.Released{OrderId: "o9"}}, ""},
		{"return after the tombstone", append(withHold, &pb.Released{OrderId: "o9"}), &pb.ReturnRequest{OrderId: "o9"}, nil, ""},
		{"return released", append(withHold, &pb.Released{OrderId: "o1"}), &pb.ReturnRequest{OrderId: "o1"}, nil, ""},
		{"return without order", withHold, &pb.ReturnRequest{}, nil, emporium.EINVALID},
		{"availability", withHold, &pb.GetAvailabilityRequest{}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := given(tt.given...)
			before := proto.Clone(s)
			got, err := decideAsShell(s, tt.cmd, t0)
			if tt.errCode != "" {
				require.Error(t, err)
				assert.Equal(t, tt.errCode, emporium.ErrorCode(err), "error: %v", err)
				assert.NotEmpty(t, emporium.ErrorMessage(err))
			} else {
				require.NoError(t, err)
			}
			assert.Empty(t, actorstest.DiffEvents(tt.want, got))
			assert.True(t, proto.Equal(before, s), "decide changed the state")
		})
	}
}

// Units returned after a sale go back on hand and out of sold, never
// below none sold.
func TestUnitsReturnedAfterASale(t *testing.T) {
	s := given(&pb.StockSet{CommandId: "c1", OnHand: 10}, reservedEv("o1", 3, t0.Add(time.Minute)), &pb.Committed{OrderId: "o1"})
	require.Equal(t, int64(7), s.OnHand)
	require.Equal(t, int64(3), s.Sold)
	Spec.Fold(s, &pb.UnitsReturned{CommandId: "r1", OrderId: "o1", Quantity: 2})
	assert.Equal(t, int64(9), s.OnHand)
	assert.Equal(t, int64(1), s.Sold)
	Spec.Fold(s, &pb.UnitsReturned{CommandId: "r2", OrderId: "o9", Quantity: 5})
	assert.Equal(t, int64(0), s.Sold, "never below none sold")
}

func TestApplyKeepsStockBalanced(t *testing.T) {
	s := given(
		&pb.StockSet{CommandId: "c1", OnHand: 10},
		reservedEv("o1", 3, t0.Add(time.Minute)),
		reservedEv("o2", 2, t0.Add(time.Minute)),
		&pb.Committed{OrderId: "o1"},
		&pb.Released{OrderId: "o2", Expired: true},
		&pb.Restocked{CommandId: "c2", Quantity: 5},
		reservedEv("o3", 4, t0.Add(time.Minute)),
	)
	st := stock(s, 7, "o1")
	assert.Equal(t, int64(12), st.OnHand)
	assert.Equal(t, int64(4), st.Reserved)
	assert.Equal(t, int64(8), st.Available)
	assert.Equal(t, int64(3), st.Sold)
	assert.Equal(t, st.OnHand, st.Available+st.Reserved)
	assert.Equal(t, pb.ReservationStatus_RESERVATION_STATUS_COMMITTED, st.Reservation.Status)
	assert.Equal(t, pb.ReservationStatus_RESERVATION_STATUS_EXPIRED, findReservation(s, "o2").Status)
}

func TestExpireDue(t *testing.T) {
	s := given(
		&pb.StockSet{CommandId: "c1", OnHand: 10},
		reservedEv("b", 1, t0.Add(-time.Second)),
		reservedEv("a", 1, t0),
		reservedEv("c", 1, t0.Add(time.Second)),
	)
	got := expireDue(s, t0)
	want := []proto.Message{&pb.Released{OrderId: "a", Expired: true}, &pb.Released{OrderId: "b", Expired: true}}
	assert.Empty(t, actorstest.DiffEvents(want, got))
	next, ok := nextExpiry(s)
	require.True(t, ok)
	assert.Equal(t, t0.Add(-time.Second), next)
}

func TestMemoryIsBounded(t *testing.T) {
	s := given(&pb.StockSet{CommandId: "c0", OnHand: MaxQuantity})
	for i := range closedOrdersKept + 10 {
		id := "o" + string(rune('a'+i%26)) + time.Duration(i).String()
		Spec.Fold(s, reservedEv(id, 1, t0))
		Spec.Fold(s, &pb.Committed{OrderId: id})
		Spec.Fold(s, &pb.Restocked{CommandId: id, Quantity: 1})
	}
	assert.Len(t, s.Closed, closedOrdersKept)
	assert.Len(t, s.RecentCommands, actors.CommandsKept)
	assert.Equal(t, int64(closedOrdersKept+10), s.Sold)
}

// TestRandomCommandsKeepInvariants drives the core with random commands,
// some repeated as Proto.Actor's retries would be, and checks after each that
// nothing went negative, nothing was oversold, and replaying the events gives
// the same state.
func TestRandomCommandsKeepInvariants(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		s := newState("SKU-R")
		var journal []proto.Message
		var committed int64
		now := t0
		var sent []proto.Message
		for step := range 400 {
			now = now.Add(time.Duration(r.IntN(30)) * time.Second)
			for _, ev := range expireDue(s, now) {
				Spec.Fold(s, ev)
				journal = append(journal, ev)
			}
			var cmd proto.Message
			order := fmt.Sprintf("o%d", r.IntN(40))
			switch k := r.IntN(10); {
			case k == 0 && len(sent) > 0:
				cmd = sent[r.IntN(len(sent))] // a retry
			case k == 1:
				cmd = &pb.SetStockRequest{CommandId: fmt.Sprintf("s%d", step), OnHand: int64(r.IntN(30))}
			case k == 2:
				cmd = &pb.RestockRequest{CommandId: fmt.Sprintf("r%d", step), Quantity: int64(1 + r.IntN(5))}
			case k < 6:
				cmd = &pb.ReserveRequest{OrderId: order, Quantity: int64(1 + r.IntN(4)), TtlMs: int64(r.IntN(300_000))}
			case k < 8:
				cmd = &pb.CommitRequest{OrderId: order}
			case k == 8 && r.IntN(2) == 0:
				cmd = &pb.ReturnRequest{OrderId: order}
			default:
				cmd = &pb.ReleaseRequest{OrderId: order}
			}
			sent = append(sent, cmd)
			events, err := decideAsShell(s, cmd, now)
			if err != nil {
				require.Empty(t, events)
				continue
			}
			for _, ev := range events {
				if c, ok := ev.(*pb.Committed); ok {
					committed += s.Held[c.OrderId].Quantity
				}
				if r, ok := ev.(*pb.Returned); ok {
					committed -= r.Quantity
				}
				Spec.Fold(s, ev)
				journal = append(journal, ev)
			}
			st := stock(s, 0, "")
			require.GreaterOrEqual(t, st.Available, int64(0), "seed %d step %d: oversold", seed, step)
			require.GreaterOrEqual(t, st.OnHand, int64(0))
			require.Equal(t, st.OnHand, st.Available+st.Reserved)
			require.Equal(t, committed, st.Sold)
			var held int64
			for _, r := range s.Held {
				held += r.Quantity
			}
			require.Equal(t, held, s.Reserved, "the cached reserved total matches the holds")
		}
		replayed := newState("SKU-R")
		for _, ev := range journal {
			Spec.Fold(replayed, ev)
		}
		require.True(t, proto.Equal(s, replayed), "seed %d: replay differs", seed)
	}
}
