package order

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

var t0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func usd(n int64) *pb.Money { return &pb.Money{Amount: n, Currency: "USD"} }

func placeReq() *pb.PlaceRequest {
	return &pb.PlaceRequest{
		BuyerId: "u1", RequestHash: "h1",
		Lines: []*pb.Line{
			{LineId: "l1", Sku: "A", Quantity: 2, UnitPrice: usd(500), LineTotal: usd(1000)},
			{LineId: "l2", Sku: "B", Quantity: 1, UnitPrice: usd(700), LineTotal: usd(700)},
		},
		Subtotal: usd(1700), Shipping: usd(599), Tax: usd(0), Total: usd(2299),
		Provider: "sandbox", PaymentMethod: "tok_visa",
	}
}

// saga folds decisions and outcomes into a state the way the shell does,
// and records the steps it was asked to run.
type saga struct {
	t     *testing.T
	s     *pb.State
	steps []pb.Step
}

func newSaga(t *testing.T) *saga {
	g := &saga{t: t, s: newState("ord_1")}
	g.request(placeReq())
	return g
}

func (g *saga) fold(events []proto.Message) {
	for _, ev := range events {
		Spec.Fold(g.s, ev)
	}
	if g.s.Started != pb.Step_STEP_NONE && (len(g.steps) == 0 || g.steps[len(g.steps)-1] != g.s.Started || len(events) > 0) {
		g.steps = append(g.steps, g.s.Started)
	}
}

func (g *saga) request(cmd proto.Message) error {
	events, err := decide(g.s, cmd, t0)
	g.fold(events)
	return err
}

// finish records the outcome of the step in flight.
func (g *saga) finish(out outcome) {
	require.NoError(g.t, out.retry)
	require.NotEqual(g.t, pb.Step_STEP_NONE, g.s.Started, "no step in flight")
	g.fold(withAdvance(g.s, out.events, t0))
}

// run answers each step as a world in which everything succeeds would,
// until the saga settles.
func (g *saga) run() {
	for range 20 {
		if g.s.Started == pb.Step_STEP_NONE {
			return
		}
		g.runStep()
	}
	g.t.Fatal("the saga did not settle in 20 steps")
}

// runStep answers the step in flight as a world in which everything
// succeeds would.
func (g *saga) runStep() {
	switch g.s.Started {
	case pb.Step_STEP_RESERVE:
		g.finish(reserveOutcome(skuErrors{"A": nil, "B": nil}, t0))
	case pb.Step_STEP_AUTHORIZE, pb.Step_STEP_CONFIRM_PAYMENT:
		g.finish(authorizationOutcome(g.s, payments.Authorization{PaymentID: "pay_1", Status: payments.StatusAuthorized}, nil, t0))
	case pb.Step_STEP_COMMIT:
		g.finish(commitOutcome(skuErrors{"A": nil, "B": nil}, t0))
	case pb.Step_STEP_CAPTURE:
		g.finish(captureOutcome(payments.Capture{PaymentID: "pay_1", Amount: payments.Money{Amount: 2299, Currency: "USD"}}, nil, t0))
	case pb.Step_STEP_CHECKOUT_CART:
		g.finish(cartOutcome(nil, t0))
	case pb.Step_STEP_NOTIFY:
		g.finish(notifyOutcome(mailDue(g.s), nil, 1, t0))
	case pb.Step_STEP_VOID:
		g.finish(voidOutcome(nil, t0))
	case pb.Step_STEP_REFUND:
		g.finish(refundOutcome(payments.Refund{RefundID: "re_1", Amount: payments.Money{Amount: 2299, Currency: "USD"}}, nil, t0))
	case pb.Step_STEP_RETURN_STOCK:
		g.finish(returnOutcome(skuErrors{"A": nil, "B": nil}, t0))
	case pb.Step_STEP_ADJUST_REFUND:
		a := adjustmentDue(g.s)
		g.finish(adjustmentRefundOutcome(a.Id, payments.Refund{RefundID: "re_" + a.Id, Amount: money(a.Amount)}, nil, t0))
	case pb.Step_STEP_ADJUST_RETURN:
		g.finish(adjustmentReturnOutcome(adjustmentDue(g.s).Id, skuErrors{"A": nil}, t0))
	}
}

func TestHappyPathConfirms(t *testing.T) {
	g := newSaga(t)
	g.run()
	assert.Equal(t, []pb.Step{pb.Step_STEP_RESERVE, pb.Step_STEP_AUTHORIZE, pb.Step_STEP_COMMIT, pb.Step_STEP_CAPTURE,
		pb.Step_STEP_CHECKOUT_CART, pb.Step_STEP_NOTIFY}, g.steps)
	assert.Equal(t, emporium.OrderConfirmed, g.s.Status)
	assert.Equal(t, emporium.PaymentCaptured, g.s.Payment.Status)
	assert.Equal(t, int64(2299), g.s.Payment.Captured.Amount)
	assert.True(t, Settled(g.s, t0))
	assert.Empty(t, g.s.FailureReason)
}

func TestOutOfStockFailsAndReleases(t *testing.T) {
	g := newSaga(t)
	g.finish(reserveOutcome(skuErrors{"A": nil, "B": emporium.Errorf(emporium.EOUTOFSTOCK, "gone")}, t0))
	g.run()
	assert.Equal(t, []pb.Step{pb.Step_STEP_RESERVE, pb.Step_STEP_RETURN_STOCK}, g.steps, "nothing was authorised, so nothing is voided")
	assert.Equal(t, emporium.OrderFailed, g.s.Status)
	assert.Equal(t, emporium.ReasonOutOfStock, g.s.FailureReason)
	assert.Equal(t, []string{"B"}, g.s.OutOfStockSkus)
	assert.Equal(t, emporium.PaymentNone, g.s.Payment.Status)
}

// TestOutOfStockEverywhereReturnsNothing: when every SKU's grain refused
// the reservation, nothing is held, and the order ends without the Return
// calls.
func TestOutOfStockEverywhereReturnsNothing(t *testing.T) {
	g := newSaga(t)
	g.finish(reserveOutcome(skuErrors{"A": emporium.Errorf(emporium.EOUTOFSTOCK, "gone"), "B": emporium.Errorf(emporium.EOUTOFSTOCK, "gone")}, t0))
	g.run()
	assert.Equal(t, []pb.Step{pb.Step_STEP_RESERVE}, g.steps)
	assert.Equal(t, emporium.OrderFailed, g.s.Status)
	assert.ElementsMatch(t, []string{"A", "B"}, g.s.OutOfStockSkus)
	assert.True(t, Terminal(g.s))

	// One SKU refused and the other's answer unknown: it may hold, and is
	// given back.
	g = newSaga(t)
	g.finish(reserveOutcome(skuErrors{"A": emporium.Errorf(emporium.EUNAVAILABLE, "timeout"), "B": emporium.Errorf(emporium.EOUTOFSTOCK, "gone")}, t0))
	g.run()
	assert.Equal(t, []pb.Step{pb.Step_STEP_RESERVE, pb.Step_STEP_RETURN_STOCK}, g.steps)
}

func TestDeclineFailsWithItsReason(t *testing.T) {
	for code, reason := range map[string]string{
		payments.DeclinePaymentDeclined:   emporium.ReasonPaymentDeclined,
		payments.DeclineInsufficientFunds: emporium.ReasonInsufficientFunds,
	} {
		g := newSaga(t)
		g.finish(reserveOutcome(skuErrors{"A": nil, "B": nil}, t0))
		g.finish(authorizationOutcome(g.s, payments.Authorization{PaymentID: "pay_1", Status: payments.StatusDeclined, DeclineCode: code}, nil, t0))
		g.run()
		assert.Equal(t, emporium.OrderFailed, g.s.Status)
		assert.Equal(t, reason, g.s.FailureReason)
		assert.Equal(t, emporium.PaymentDeclined, g.s.Payment.Status)
		assert.NotContains(t, g.steps, pb.Step_STEP_VOID, "a declined payment holds nothing")
		assert.Contains(t, g.steps, pb.Step_STEP_RETURN_STOCK)
	}
}

func TestUnknownOutcomesRetry(t *testing.T) {
	unknown := emporium.Errorf(emporium.EUNAVAILABLE, "timed out")
	s := newSaga(t).s
	assert.Error(t, reserveOutcome(skuErrors{"A": unknown, "B": nil}, t0).retry)
	assert.Error(t, authorizationOutcome(s, payments.Authorization{}, unknown, t0).retry)
	assert.Error(t, captureOutcome(payments.Capture{}, unknown, t0).retry)
	assert.Error(t, commitOutcome(skuErrors{"A": unknown}, t0).retry)
	assert.Error(t, refundOutcome(payments.Refund{}, errors.New("refused"), t0).retry, "a refund is never given up")
	assert.Error(t, notifyOutcome(MailConfirmed, unknown, 1, t0).retry)
	assert.NoError(t, notifyOutcome(MailConfirmed, unknown, maxNotifyAttempts, t0).retry, "a mail is given up on")
}

func TestCommitAfterExpiryFailsAndVoids(t *testing.T) {
	g := newSaga(t)
	g.finish(reserveOutcome(skuErrors{"A": nil, "B": nil}, t0))
	g.finish(authorizationOutcome(g.s, payments.Authorization{PaymentID: "pay_1", Status: payments.StatusAuthorized}, nil, t0))
	g.finish(commitOutcome(skuErrors{"A": nil, "B": emporium.Errorf(emporium.EEXPIRED, "expired")}, t0))
	g.run()
	assert.Equal(t, emporium.ReasonReservationExpired, g.s.FailureReason)
	assert.Equal(t, emporium.PaymentVoided, g.s.Payment.Status)
	assert.Equal(t, []pb.Step{pb.Step_STEP_RESERVE, pb.Step_STEP_AUTHORIZE, pb.Step_STEP_COMMIT, pb.Step_STEP_VOID,
		pb.Step_STEP_RETURN_STOCK}, g.steps, "compensation runs in reverse: the payment, then the stock")
}

func TestApprovalWaitsThenConfirms(t *testing.T) {
	g := newSaga(t)
	g.finish(reserveOutcome(skuErrors{"A": nil, "B": nil}, t0))
	g.finish(authorizationOutcome(g.s, payments.Authorization{PaymentID: "pay_1", Status: payments.StatusRequiresApproval, ApprovalURL: "https://approve"}, nil, t0))
	assert.Equal(t, emporium.OrderAwaitingPayment, g.s.Status)
	assert.Equal(t, pb.Step_STEP_NONE, g.s.Started, "it waits for the buyer")
	assert.True(t, Settled(g.s, t0))
	require.NoError(t, g.request(&pb.ConfirmPaymentRequest{CommandId: "c1", BuyerId: "u1"}))
	assert.Equal(t, pb.Step_STEP_CONFIRM_PAYMENT, g.s.Started)
	g.run()
	assert.Equal(t, emporium.OrderConfirmed, g.s.Status)
}

func TestApprovalExpires(t *testing.T) {
	g := newSaga(t)
	g.finish(reserveOutcome(skuErrors{"A": nil, "B": nil}, t0))
	g.finish(authorizationOutcome(g.s, payments.Authorization{PaymentID: "pay_1", Status: payments.StatusRequiresApproval}, nil, t0))
	late := t0.Add(ApprovalWindow)
	assert.False(t, Settled(g.s, late))
	g.fold(advance(g.s, late))
	g.run()
	assert.Equal(t, emporium.OrderFailed, g.s.Status)
	assert.Equal(t, emporium.ReasonPaymentExpired, g.s.FailureReason)
	assert.Equal(t, emporium.PaymentVoided, g.s.Payment.Status)
}

func TestCancelRefundsAndReturns(t *testing.T) {
	g := newSaga(t)
	err := g.request(&pb.CancelRequest{CommandId: "c0", BuyerId: "u1"})
	assert.True(t, emporium.IsCode(err, emporium.ECONFLICT), "an order being placed is not cancelled yet: %v", err)
	g.run()
	require.Error(t, g.request(&pb.CancelRequest{CommandId: "c1", BuyerId: "u2"}), "another buyer's order")
	require.NoError(t, g.request(&pb.CancelRequest{CommandId: "c1", BuyerId: "u1"}))
	g.run()
	assert.Equal(t, emporium.OrderCancelled, g.s.Status)
	assert.Equal(t, emporium.PaymentRefunded, g.s.Payment.Status)
	assert.True(t, g.s.StockReturned)
	assert.Contains(t, g.s.Notified, MailCancelled)
	events, err := decide(g.s, &pb.CancelRequest{CommandId: "c2", BuyerId: "u1"}, t0)
	assert.NoError(t, err, "cancelling a cancelled order answers it")
	assert.Empty(t, events)
}

func TestPlaceIsIdempotentByHash(t *testing.T) {
	g := newSaga(t)
	events, err := decide(g.s, placeReq(), t0)
	assert.NoError(t, err)
	assert.Empty(t, events, "a replay changes nothing")
	other := placeReq()
	other.RequestHash = "h2"
	_, err = decide(g.s, other, t0)
	assert.True(t, emporium.IsCode(err, emporium.EIDEMPOTENCY))
	stranger := placeReq()
	stranger.BuyerId = "u2"
	_, err = decide(g.s, stranger, t0)
	assert.True(t, emporium.IsCode(err, emporium.ENOTFOUND))
	_, err = decide(g.s, &pb.GetRequest{BuyerId: "u2"}, t0)
	assert.True(t, emporium.IsCode(err, emporium.ENOTFOUND))

	empty := placeReq()
	empty.Lines = nil
	_, err = decide(newState("ord_2"), empty, t0)
	assert.True(t, emporium.IsCode(err, emporium.EINVALID))
}

func TestPaymentEventsApplyOnceAndNeverBackwards(t *testing.T) {
	g := newSaga(t)
	g.finish(reserveOutcome(skuErrors{"A": nil, "B": nil}, t0))
	g.finish(authorizationOutcome(g.s, payments.Authorization{PaymentID: "pay_1", Status: payments.StatusRequiresApproval}, nil, t0))
	approved := &pb.PaymentEventRequest{EventId: "evt_1", Provider: "sandbox", PaymentId: "pay_1", Status: "authorized"}
	require.NoError(t, g.request(approved))
	assert.Equal(t, emporium.PaymentAuthorized, g.s.Payment.Status)
	seq := len(g.steps)
	require.NoError(t, g.request(approved))
	assert.Len(t, g.steps, seq, "a redelivery changes nothing")
	g.run()
	declinedLate := &pb.PaymentEventRequest{EventId: "evt_0", Provider: "sandbox", PaymentId: "pay_1", Status: "declined"}
	require.NoError(t, g.request(declinedLate))
	assert.Equal(t, emporium.OrderConfirmed, g.s.Status, "a late event never moves the order backwards")
}

func TestViewRecoversOnlyUnsettledOrders(t *testing.T) {
	g := newSaga(t)
	_, v := viewOf(g.s, 1, t0)
	require.NotNil(t, v.RecoverAt, "a saga in flight is due for recovery a minute after its last change")
	assert.Equal(t, t0.Add(recoverAfter), *v.RecoverAt)
	g.run()
	_, v = viewOf(g.s, 9, t0)
	assert.Nil(t, v.RecoverAt, "a confirmed order is settled")
	key := ListKey(t0, "ord_1")
	assert.Equal(t, "ord_1", orderIDOf(key))
	assert.Less(t, ListKey(t0, "ord_z"), ListKey(t0.Add(time.Nanosecond), "ord_a"), "keys sort by time first")
}

func TestOrderIDs(t *testing.T) {
	id := OrderID("u1", "key-1")
	assert.True(t, validID(id), id)
	assert.Equal(t, id, OrderID("u1", "key-1"))
	assert.NotEqual(t, id, OrderID("u2", "key-1"))
	assert.False(t, validID("ord_../../x"))
}

func TestApprovalByWebhookAsksTheProvider(t *testing.T) {
	g := newSaga(t)
	g.finish(reserveOutcome(skuErrors{"A": nil, "B": nil}, t0))
	g.finish(authorizationOutcome(g.s, payments.Authorization{PaymentID: "pay_1", Status: payments.StatusRequiresApproval}, nil, t0))
	require.NoError(t, g.request(&pb.PaymentEventRequest{EventId: "evt_a", Provider: "paypal", PaymentId: "pay_1", Status: "approved"}))
	assert.Equal(t, pb.Step_STEP_CONFIRM_PAYMENT, g.s.Started, "the approval makes the saga ask the provider")
	g.run()
	assert.Equal(t, emporium.OrderConfirmed, g.s.Status)
}

// TestSameView: a change that shows readers nothing new (seq, update time,
// a later recovery time) keeps the read model; a new status, payment status
// or the end of recovery does not.
func TestSameView(t *testing.T) {
	g := newSaga(t)
	_, a := viewOf(g.s, 1, t0)
	require.NotNil(t, a.RecoverAt, "an unsettled order is due for recovery")
	later := t0.Add(time.Second)
	b := a
	b.Order.Seq, b.Order.UpdatedAt = 2, later
	recoverAt := later.Add(recoverAfter)
	b.RecoverAt = &recoverAt
	assert.True(t, sameView(a, b))

	c := b
	c.Order.PaymentStatus = emporium.PaymentAuthorized
	assert.False(t, sameView(a, c))
	c = b
	c.Status, c.Order.Status = emporium.OrderConfirmed, emporium.OrderConfirmed
	assert.False(t, sameView(a, c))
	c = b
	c.RecoverAt = nil
	assert.False(t, sameView(a, c), "a settled order leaves the recovery loop's view")
	assert.Equal(t, int64(1), int64(a.Order.Seq), "sameView does not change its arguments")
}
