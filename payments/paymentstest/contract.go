// Package paymentstest holds the contract suite every payments.Provider
// passes (RunContract), so that the checkout saga can rely on one
// behaviour whatever the provider: the sandbox, Stripe (against
// stripe-mock), PayPal (against a recorded fake).
//
// A stateless backend such as stripe-mock answers every well-formed
// request with a canned object, so it can show only that requests are
// well formed; the Capabilities of a Harness say what else a backend can
// show, and the cases that need more are skipped, saying why.
package paymentstest

import (
	"context"
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
)

// Capabilities say what a backend can show beyond well-formed requests.
type Capabilities struct {
	// Stateful: the backend remembers payments, so answers carry the
	// statuses and amounts of the requests, a replayed key answers the
	// first result, and state conflicts (a capture of a voided payment, a
	// void of a captured one, an over-refund) are refused.
	Stateful bool
	// Idempotency: the backend refuses a key reused with other parameters
	// (EIDEMPOTENCY) and turns concurrent duplicates of one key into one
	// payment. Needs Stateful.
	Idempotency bool
	// Declines: payments.TokenDeclined and TokenInsufficientFunds decline
	// with their codes, and an unknown token is EINVALID on the field
	// payment.token.
	Declines bool
	// Timeout: payments.TokenTimeout authorizes but the first call fails
	// with EUNAVAILABLE; the retry with the same key answers the
	// authorization.
	Timeout bool
	// Approval: payments.TokenRequiresApproval waits for the buyer
	// (requires_approval with an approval URL) until Confirm. A provider
	// whose every authorization waits (PayPal) sets it too, with
	// Subject.Approve.
	Approval bool
}

// Charge is one payment as a backend's ledger reports it.
type Charge struct {
	PaymentID  string
	OrderID    string
	Status     payments.Status
	Authorized int64
	Captured   int64
	Refunded   int64
}

// Subject is one provider under test.
type Subject struct {
	// Provider is the provider under test.
	Provider payments.Provider
	// Ledger lists every payment the backend holds; nil when the backend
	// cannot tell. The suite checks it after the calls it makes: one
	// payment per order whatever the retries, captured and refunded once.
	Ledger func(ctx context.Context) ([]Charge, error)
	// Restart stops the provider and starts a new one over the same
	// backend state, as a node restarting does; nil when the backend has
	// no state to keep.
	Restart func(t *testing.T) Subject
	// Approve, for a provider whose every authorization waits for the
	// buyer (PayPal), approves one as the buyer would at the provider; the
	// suite then confirms it. nil when authorizations need no approval.
	Approve func(t *testing.T, auth payments.Authorization)
}

// Harness tells RunContract how to get a provider and what its backend can
// show.
type Harness struct {
	// Open returns a provider for one test; tests may run in parallel, and
	// each uses order ids of its own.
	Open func(t *testing.T) Subject
	// Capabilities say which cases the backend can show.
	Capabilities
	// Currency of the amounts; empty means "USD".
	Currency string
}

// callTimeout bounds each provider call of the suite.
const callTimeout = 20 * time.Second

// RunContract runs the contract suite on the provider h opens.
func RunContract(t *testing.T, h Harness) {
	if h.Currency == "" {
		h.Currency = "USD"
	}
	c := &contract{h: h}
	cases := []struct {
		name string
		need func(Harness) string
		run  func(t *testing.T, s Subject)
	}{
		{"AuthorizeCaptureRefund", nil, c.authorizeCaptureRefund},
		{"RequestsNeedAKey", nil, c.requestsNeedAKey},
		{"ConfirmThenVoid", nil, c.confirmThenVoid},
		{"PartialCapture", stateful, c.partialCapture},
		{"ReplayAnswersTheFirstResult", stateful, c.replay},
		{"KeyReusedWithOtherParameters", idempotent, c.keyReuse},
		{"ConcurrentDuplicatesMakeOnePayment", idempotent, c.concurrentDuplicates},
		{"VoidAfterCaptureIsRefused", stateful, c.voidAfterCapture},
		{"VoidTwiceThenCaptureIsRefused", stateful, c.voidTwice},
		{"SecondCaptureIsRefused", stateful, c.secondCapture},
		{"OverCaptureAndOverRefundAreRefused", stateful, c.overRefund},
		{"UnknownPayment", stateful, c.unknownPayment},
		{"Declines", declines, c.declines},
		{"TimeoutSettlesOnRetry", timeout, c.timeout},
		{"ApprovalThenConfirm", approval, c.approval},
		{"RestartKeepsTheLedger", nil, c.restart},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.need != nil {
				if why := tc.need(h); why != "" {
					t.Skip(why)
				}
			}
			tc.run(t, h.Open(t))
		})
	}
}

// The capability checks of the cases: each returns why the backend cannot
// show the case, or "".
func stateful(h Harness) string {
	if !h.Stateful {
		return "the backend is stateless: it cannot show amounts, replays or state conflicts"
	}
	return ""
}

func idempotent(h Harness) string {
	if !h.Stateful || !h.Idempotency {
		return "the backend does not enforce idempotency keys"
	}
	return ""
}

func declines(h Harness) string {
	if !h.Declines {
		return "the backend does not decline test tokens"
	}
	return ""
}

func timeout(h Harness) string {
	if !h.Timeout {
		return "the backend has no timeout token"
	}
	return ""
}

func approval(h Harness) string {
	if !h.Approval {
		return "the backend has no approval token"
	}
	return ""
}

// contract holds the suite's cases.
type contract struct{ h Harness }

// order returns an order id of the test's own: tests may share a
// backend, and a backend may keep what earlier runs left.
func order(*testing.T) string { return "ord_" + rand.Text()[:16] }

// ctx returns the context of one call.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), callTimeout)
	t.Cleanup(cancel)
	return c
}

func (c *contract) money(amount int64) payments.Money {
	return payments.Money{Amount: amount, Currency: c.h.Currency}
}

// authorize authorizes amount for the order with method under the
// order's authorize key.
func (c *contract) authorize(t *testing.T, p payments.Provider, orderID string, amount int64, method string) (payments.Authorization, error) {
	return p.Authorize(ctx(t), payments.AuthorizeRequest{
		Key: payments.Key(orderID, payments.StepAuthorize), OrderID: orderID,
		Amount: c.money(amount), Method: method, ReturnURL: "https://shop.example/return",
	})
}

// authorized authorizes amount with payments.TokenVisa, as the buyer
// approving it when the provider asks (Subject.Approve), and fails the
// test unless it ends authorized. It answers the final authorization.
func (c *contract) authorized(t *testing.T, s Subject, orderID string, amount int64) payments.Authorization {
	t.Helper()
	auth, err := c.authorize(t, s.Provider, orderID, amount, payments.TokenVisa)
	require.NoError(t, err)
	return c.settle(t, s, orderID, auth)
}

// settle takes an authorization through the buyer's approval when it
// waits for one and the subject can give it, and fails the test unless it
// ends authorized.
func (c *contract) settle(t *testing.T, s Subject, orderID string, auth payments.Authorization) payments.Authorization {
	t.Helper()
	require.NotEmpty(t, auth.PaymentID)
	if auth.Status == payments.StatusRequiresApproval && s.Approve != nil {
		s.Approve(t, auth)
		var err error
		auth, err = s.Provider.Confirm(ctx(t), payments.ConfirmRequest{Key: payments.Key(orderID, payments.StepConfirm), PaymentID: auth.PaymentID})
		require.NoError(t, err)
	}
	if c.h.Stateful {
		require.Equal(t, payments.StatusAuthorized, auth.Status)
	}
	return auth
}

func (c *contract) capture(t *testing.T, p payments.Provider, key, id string, amount int64) (payments.Capture, error) {
	return p.Capture(ctx(t), payments.CaptureRequest{Key: key, PaymentID: id, Amount: c.money(amount)})
}

func (c *contract) refund(t *testing.T, p payments.Provider, key, id string, amount int64) (payments.Refund, error) {
	return p.Refund(ctx(t), payments.RefundRequest{Key: key, PaymentID: id, Amount: c.money(amount), Reason: "requested_by_customer"})
}

func (c *contract) void(t *testing.T, p payments.Provider, key, id string) error {
	return p.Void(ctx(t), payments.VoidRequest{Key: key, PaymentID: id})
}

// charges returns the ledger's payments of the order; nil when the
// subject has no ledger.
func charges(t *testing.T, s Subject, orderID string) []Charge {
	t.Helper()
	if s.Ledger == nil {
		return nil
	}
	all, err := s.Ledger(ctx(t))
	require.NoError(t, err)
	var mine []Charge
	for _, ch := range all {
		if ch.OrderID == orderID {
			mine = append(mine, ch)
		}
	}
	require.Len(t, mine, 1, "the ledger must hold exactly one payment for order %s", orderID)
	return mine
}

// requireCode fails the test unless err carries code; what says what was
// asked.
func requireCode(t *testing.T, code string, err error, what ...string) {
	t.Helper()
	require.Errorf(t, err, "%s: want %s", strings.Join(what, ""), code)
	require.Equalf(t, code, emporium.ErrorCode(err), "%s: %v", strings.Join(what, ""), err)
}

func (c *contract) authorizeCaptureRefund(t *testing.T, s Subject) {
	p, orderID := s.Provider, order(t)
	auth := c.authorized(t, s, orderID, 5000)
	if c.h.Stateful {
		assert.Equal(t, c.money(5000), auth.Amount)
		assert.Empty(t, auth.DeclineCode)
	}
	capture, err := c.capture(t, p, payments.Key(orderID, payments.StepCapture), auth.PaymentID, 5000)
	require.NoError(t, err)
	r1, err := c.refund(t, p, payments.RefundKey(orderID, 1), auth.PaymentID, 2000)
	require.NoError(t, err)
	require.NotEmpty(t, r1.RefundID)
	r2, err := c.refund(t, p, payments.RefundKey(orderID, 2), auth.PaymentID, 3000)
	require.NoError(t, err)
	require.NotEmpty(t, r2.RefundID)
	if !c.h.Stateful {
		return
	}
	assert.Equal(t, auth.PaymentID, capture.PaymentID)
	assert.Equal(t, c.money(5000), capture.Amount)
	assert.Equal(t, c.money(2000), r1.Amount)
	assert.Equal(t, c.money(3000), r2.Amount)
	assert.NotEqual(t, r1.RefundID, r2.RefundID, "two refunds are two refunds")
	if ch := charges(t, s, orderID); ch != nil {
		assert.Equal(t, Charge{PaymentID: auth.PaymentID, OrderID: orderID, Status: payments.StatusCaptured,
			Authorized: 5000, Captured: 5000, Refunded: 5000}, ch[0])
	}
}

func (c *contract) requestsNeedAKey(t *testing.T, s Subject) {
	p, orderID := s.Provider, order(t)
	_, err := p.Authorize(ctx(t), payments.AuthorizeRequest{OrderID: orderID, Amount: c.money(100), Method: payments.TokenVisa})
	requireCode(t, emporium.EINVALID, err, "an authorization without a key")
	_, err = p.Capture(ctx(t), payments.CaptureRequest{PaymentID: "pay_1", Amount: c.money(100)})
	requireCode(t, emporium.EINVALID, err, "a capture without a key")
	requireCode(t, emporium.EINVALID, p.Void(ctx(t), payments.VoidRequest{PaymentID: "pay_1"}), "a void without a key")
	_, err = p.Refund(ctx(t), payments.RefundRequest{PaymentID: "pay_1", Amount: c.money(100)})
	requireCode(t, emporium.EINVALID, err, "a refund without a key")
	_, err = p.Confirm(ctx(t), payments.ConfirmRequest{PaymentID: "pay_1"})
	requireCode(t, emporium.EINVALID, err, "a confirmation without a key")
}

func (c *contract) confirmThenVoid(t *testing.T, s Subject) {
	p, orderID := s.Provider, order(t)
	auth := c.authorized(t, s, orderID, 2500)
	confirmed, err := p.Confirm(ctx(t), payments.ConfirmRequest{Key: payments.Key(orderID, payments.StepConfirm), PaymentID: auth.PaymentID})
	require.NoError(t, err, "confirming an authorization answers it")
	require.NoError(t, c.void(t, p, payments.Key(orderID, payments.StepVoid), auth.PaymentID))
	if !c.h.Stateful {
		return
	}
	assert.Equal(t, auth, confirmed, "an authorization that waited for nothing is answered as it is")
	if ch := charges(t, s, orderID); ch != nil {
		assert.Equal(t, payments.StatusVoided, ch[0].Status)
		assert.Zero(t, ch[0].Authorized, "a void releases the hold")
	}
}

func (c *contract) partialCapture(t *testing.T, s Subject) {
	p, orderID := s.Provider, order(t)
	auth := c.authorized(t, s, orderID, 5000)
	capture, err := c.capture(t, p, payments.Key(orderID, payments.StepCapture), auth.PaymentID, 3000)
	require.NoError(t, err)
	assert.Equal(t, c.money(3000), capture.Amount)
	_, err = c.refund(t, p, payments.RefundKey(orderID, 1), auth.PaymentID, 3001)
	requireCode(t, emporium.EINVALID, err, "a refund above the captured amount")
	_, err = c.refund(t, p, payments.RefundKey(orderID, 2), auth.PaymentID, 3000)
	require.NoError(t, err)
	if ch := charges(t, s, orderID); ch != nil {
		assert.Equal(t, int64(3000), ch[0].Captured)
		assert.Equal(t, int64(3000), ch[0].Refunded)
	}
}

func (c *contract) replay(t *testing.T, s Subject) {
	p, orderID := s.Provider, order(t)
	answered, err := c.authorize(t, p, orderID, 5000, payments.TokenVisa)
	require.NoError(t, err)
	again, err := c.authorize(t, p, orderID, 5000, payments.TokenVisa)
	require.NoError(t, err)
	assert.Equal(t, answered, again, "a replayed authorization answers the first result")
	first := c.settle(t, s, orderID, answered)

	captureKey := payments.Key(orderID, payments.StepCapture)
	c1, err := c.capture(t, p, captureKey, first.PaymentID, 5000)
	require.NoError(t, err)
	c2, err := c.capture(t, p, captureKey, first.PaymentID, 5000)
	require.NoError(t, err)
	assert.Equal(t, c1, c2, "a replayed capture answers the first result")

	refundKey := payments.RefundKey(orderID, 1)
	r1, err := c.refund(t, p, refundKey, first.PaymentID, 1500)
	require.NoError(t, err)
	r2, err := c.refund(t, p, refundKey, first.PaymentID, 1500)
	require.NoError(t, err)
	assert.Equal(t, r1, r2, "a replayed refund answers the first result")

	// A refused request is an answer too: its replay is refused alike.
	voidKey := payments.Key(orderID, payments.StepVoid)
	requireCode(t, emporium.ECONFLICT, c.void(t, p, voidKey, first.PaymentID))
	requireCode(t, emporium.ECONFLICT, c.void(t, p, voidKey, first.PaymentID))

	if ch := charges(t, s, orderID); ch != nil {
		assert.Equal(t, int64(5000), ch[0].Captured)
		assert.Equal(t, int64(1500), ch[0].Refunded, "the replayed refund gave money back once")
	}
}

func (c *contract) keyReuse(t *testing.T, s Subject) {
	p, orderID := s.Provider, order(t)
	auth := c.authorized(t, s, orderID, 5000)
	_, err := c.authorize(t, p, orderID, 6000, payments.TokenVisa)
	requireCode(t, emporium.EIDEMPOTENCY, err, "the authorize key with another amount")
	if c.h.Declines {
		_, err = c.authorize(t, p, orderID, 5000, payments.TokenDeclined)
		requireCode(t, emporium.EIDEMPOTENCY, err, "the authorize key with another token")
	}
	captureKey := payments.Key(orderID, payments.StepCapture)
	_, err = c.capture(t, p, captureKey, auth.PaymentID, 3000)
	require.NoError(t, err)
	_, err = c.capture(t, p, captureKey, auth.PaymentID, 4000)
	requireCode(t, emporium.EIDEMPOTENCY, err, "the capture key with another amount")
	if ch := charges(t, s, orderID); ch != nil {
		assert.Equal(t, int64(5000), ch[0].Authorized)
		assert.Equal(t, int64(3000), ch[0].Captured)
	}
}

func (c *contract) concurrentDuplicates(t *testing.T, s Subject) {
	p, orderID := s.Provider, order(t)
	const callers = 20
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		ids    = map[string]int{}
		errs   []error
		start  = make(chan struct{})
		amount = int64(4200)
	)
	for range callers {
		wg.Go(func() {
			<-start
			auth, err := c.authorize(t, p, orderID, amount, payments.TokenVisa)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			ids[auth.PaymentID]++
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		assert.Equal(t, emporium.ECONFLICT, emporium.ErrorCode(err), "a concurrent duplicate is ECONFLICT: %v", err)
	}
	require.Len(t, ids, 1, "every answer names the one payment")
	t.Logf("%d of %d concurrent duplicates answered the payment, %d were refused as in flight", callers-len(errs), callers, len(errs))
	// Once the first call is answered, every retry answers it.
	auth, err := c.authorize(t, p, orderID, amount, payments.TokenVisa)
	require.NoError(t, err)
	assert.Contains(t, ids, auth.PaymentID)
	if ch := charges(t, s, orderID); ch != nil {
		assert.Equal(t, amount, ch[0].Authorized)
	}
}

func (c *contract) voidAfterCapture(t *testing.T, s Subject) {
	p, orderID := s.Provider, order(t)
	auth := c.authorized(t, s, orderID, 5000)
	_, err := c.capture(t, p, payments.Key(orderID, payments.StepCapture), auth.PaymentID, 5000)
	require.NoError(t, err)
	requireCode(t, emporium.ECONFLICT, c.void(t, p, payments.Key(orderID, payments.StepVoid), auth.PaymentID),
		"a captured payment is refunded, not voided")
	if ch := charges(t, s, orderID); ch != nil {
		assert.Equal(t, payments.StatusCaptured, ch[0].Status)
		assert.Equal(t, int64(5000), ch[0].Captured)
	}
}

func (c *contract) voidTwice(t *testing.T, s Subject) {
	p, orderID := s.Provider, order(t)
	auth := c.authorized(t, s, orderID, 5000)
	require.NoError(t, c.void(t, p, payments.Key(orderID, payments.StepVoid), auth.PaymentID))
	require.NoError(t, c.void(t, p, payments.Key(orderID, payments.StepVoid)+":again", auth.PaymentID),
		"voiding a voided payment succeeds")
	_, err := c.capture(t, p, payments.Key(orderID, payments.StepCapture), auth.PaymentID, 5000)
	requireCode(t, emporium.ECONFLICT, err, "a voided payment cannot be captured")
	if ch := charges(t, s, orderID); ch != nil {
		assert.Equal(t, payments.StatusVoided, ch[0].Status)
		assert.Zero(t, ch[0].Captured)
	}
}

func (c *contract) secondCapture(t *testing.T, s Subject) {
	p, orderID := s.Provider, order(t)
	auth := c.authorized(t, s, orderID, 5000)
	_, err := c.capture(t, p, payments.Key(orderID, payments.StepCapture), auth.PaymentID, 2000)
	require.NoError(t, err)
	_, err = c.capture(t, p, payments.Key(orderID, payments.StepCapture)+":again", auth.PaymentID, 2000)
	requireCode(t, emporium.ECONFLICT, err, "a payment is captured once")
	if ch := charges(t, s, orderID); ch != nil {
		assert.Equal(t, int64(2000), ch[0].Captured)
	}
}

func (c *contract) overRefund(t *testing.T, s Subject) {
	p, orderID := s.Provider, order(t)
	auth := c.authorized(t, s, orderID, 5000)
	_, err := c.capture(t, p, payments.Key(orderID, payments.StepCapture)+":over", auth.PaymentID, 5001)
	requireCode(t, emporium.EINVALID, err, "a capture above the authorized amount")
	_, err = c.capture(t, p, payments.Key(orderID, payments.StepCapture), auth.PaymentID, 5000)
	require.NoError(t, err)
	_, err = c.refund(t, p, payments.RefundKey(orderID, 1), auth.PaymentID, 6000)
	requireCode(t, emporium.EINVALID, err, "a refund above the captured amount")
	_, err = c.refund(t, p, payments.RefundKey(orderID, 2), auth.PaymentID, 4000)
	require.NoError(t, err)
	_, err = c.refund(t, p, payments.RefundKey(orderID, 3), auth.PaymentID, 1001)
	requireCode(t, emporium.EINVALID, err, "refunds above the captured amount in sum")
	_, err = c.refund(t, p, payments.RefundKey(orderID, 4), auth.PaymentID, 1000)
	require.NoError(t, err)
	if ch := charges(t, s, orderID); ch != nil {
		assert.Equal(t, int64(5000), ch[0].Refunded)
	}
}

func (c *contract) unknownPayment(t *testing.T, s Subject) {
	p, orderID := s.Provider, order(t)
	_, err := c.capture(t, p, payments.Key(orderID, payments.StepCapture), "pay_"+orderID, 100)
	requireCode(t, emporium.ENOTFOUND, err, "a capture of no payment")
}

func (c *contract) declines(t *testing.T, s Subject) {
	p := s.Provider
	for _, tc := range []struct{ token, code string }{
		{payments.TokenDeclined, payments.DeclinePaymentDeclined},
		{payments.TokenInsufficientFunds, payments.DeclineInsufficientFunds},
	} {
		orderID := order(t)
		auth, err := c.authorize(t, p, orderID, 5000, tc.token)
		require.NoError(t, err, "a decline is an answer, not an error")
		assert.Equal(t, payments.StatusDeclined, auth.Status, tc.token)
		assert.Equal(t, tc.code, auth.DeclineCode, tc.token)
		if c.h.Stateful && auth.PaymentID != "" {
			_, err = c.capture(t, p, payments.Key(orderID, payments.StepCapture), auth.PaymentID, 5000)
			requireCode(t, emporium.ECONFLICT, err, "a declined payment cannot be captured")
		}
		if s.Ledger != nil {
			ch := charges(t, s, orderID)
			assert.Zero(t, ch[0].Authorized)
			assert.Zero(t, ch[0].Captured)
		}
	}
	_, err := c.authorize(t, p, order(t), 5000, "tok_noSuchToken")
	requireCode(t, emporium.EINVALID, err, "an unknown token")
	fields := emporium.ErrorFields(err)
	require.Len(t, fields, 1)
	assert.Equal(t, "payment.token", fields[0].Field)
}

func (c *contract) timeout(t *testing.T, s Subject) {
	p, orderID := s.Provider, order(t)
	_, err := c.authorize(t, p, orderID, 5000, payments.TokenTimeout)
	requireCode(t, emporium.EUNAVAILABLE, err, "the first answer of the timeout token is lost")
	auth, err := c.authorize(t, p, orderID, 5000, payments.TokenTimeout)
	require.NoError(t, err, "the retry with the same key answers")
	assert.Equal(t, payments.StatusAuthorized, auth.Status)
	require.NotEmpty(t, auth.PaymentID)
	again, err := c.authorize(t, p, orderID, 5000, payments.TokenTimeout)
	require.NoError(t, err)
	assert.Equal(t, auth, again)
	_, err = c.capture(t, p, payments.Key(orderID, payments.StepCapture), auth.PaymentID, 5000)
	require.NoError(t, err)
	if ch := charges(t, s, orderID); ch != nil {
		assert.Equal(t, int64(5000), ch[0].Authorized, "the lost answer authorized once")
		assert.Equal(t, int64(5000), ch[0].Captured)
	}
}

func (c *contract) approval(t *testing.T, s Subject) {
	p, orderID := s.Provider, order(t)
	auth, err := c.authorize(t, p, orderID, 5000, payments.TokenRequiresApproval)
	require.NoError(t, err)
	assert.Equal(t, payments.StatusRequiresApproval, auth.Status)
	assert.NotEmpty(t, auth.ApprovalURL)
	require.NotEmpty(t, auth.PaymentID)
	if c.h.Stateful {
		_, err = c.capture(t, p, payments.Key(orderID, payments.StepCapture)+":early", auth.PaymentID, 5000)
		requireCode(t, emporium.ECONFLICT, err, "a payment waiting for approval cannot be captured")
	}
	confirmKey := payments.Key(orderID, payments.StepConfirm)
	if s.Approve != nil {
		waiting, err := p.Confirm(ctx(t), payments.ConfirmRequest{Key: confirmKey + ":early", PaymentID: auth.PaymentID})
		require.NoError(t, err)
		assert.Equal(t, payments.StatusRequiresApproval, waiting.Status, "the buyer has not approved yet")
		s.Approve(t, auth)
	}
	confirmed, err := p.Confirm(ctx(t), payments.ConfirmRequest{Key: confirmKey, PaymentID: auth.PaymentID})
	require.NoError(t, err)
	assert.Equal(t, payments.StatusAuthorized, confirmed.Status)
	assert.Equal(t, auth.PaymentID, confirmed.PaymentID)
	again, err := p.Confirm(ctx(t), payments.ConfirmRequest{Key: confirmKey, PaymentID: auth.PaymentID})
	require.NoError(t, err)
	assert.Equal(t, confirmed, again)
	_, err = c.capture(t, p, payments.Key(orderID, payments.StepCapture), auth.PaymentID, 5000)
	require.NoError(t, err)
	if ch := charges(t, s, orderID); ch != nil {
		assert.Equal(t, int64(5000), ch[0].Captured)
	}
}

func (c *contract) restart(t *testing.T, s Subject) {
	if s.Restart == nil {
		t.Skip("the backend keeps no state across a restart")
	}
	p, orderID := s.Provider, order(t)
	answered, err := c.authorize(t, p, orderID, 5000, payments.TokenVisa)
	require.NoError(t, err)
	auth := c.settle(t, s, orderID, answered)
	captureKey := payments.Key(orderID, payments.StepCapture)
	capture, err := c.capture(t, p, captureKey, auth.PaymentID, 5000)
	require.NoError(t, err)

	s = s.Restart(t)
	p = s.Provider
	again, err := c.authorize(t, p, orderID, 5000, payments.TokenVisa)
	require.NoError(t, err)
	assert.Equal(t, answered, again, "the restarted provider answers the key as before")
	captureAgain, err := c.capture(t, p, captureKey, auth.PaymentID, 5000)
	require.NoError(t, err)
	assert.Equal(t, capture, captureAgain)
	_, err = c.capture(t, p, captureKey+":again", auth.PaymentID, 5000)
	requireCode(t, emporium.ECONFLICT, err, "the restarted provider remembers the capture")
	if ch := charges(t, s, orderID); ch != nil {
		assert.Equal(t, int64(5000), ch[0].Captured)
	}
}
