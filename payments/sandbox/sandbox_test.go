package sandbox_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
	"github.com/emporium-shop/emporium/payments/paymentstest"
	"github.com/emporium-shop/emporium/payments/sandbox"
	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
)

// TestContract runs the provider contract on the sandbox over a real
// store, with every capability, a restart that reopens the store included.
func TestContract(t *testing.T) {
	t.Parallel()
	paymentstest.RunContract(t, paymentstest.Harness{
		Open: func(t *testing.T) paymentstest.Subject {
			cfg := persistencetest.Config(t)
			return subject(t, cfg, openStore(t, cfg))
		},
		Capabilities: paymentstest.Capabilities{Stateful: true, Idempotency: true, Declines: true, Timeout: true, Approval: true},
	})
}

// subject is the contract's view of a sandbox over store, which is opened
// with cfg: a restart closes the store and opens cfg again.
func subject(t *testing.T, cfg persistence.Config, store persistence.Store) paymentstest.Subject {
	sb := sandbox.New(store, sandbox.Config{TimeoutDelay: 20 * time.Millisecond})
	return paymentstest.Subject{
		Provider: sb,
		Ledger:   func(ctx context.Context) ([]paymentstest.Charge, error) { return charges(ctx, sb) },
		Restart: func(t *testing.T) paymentstest.Subject {
			require.NoError(t, store.Close(t.Context()))
			return subject(t, cfg, openStore(t, cfg))
		},
	}
}

// openStore opens the store of cfg, closing it when the test ends.
func openStore(t *testing.T, cfg persistence.Config) persistence.Store {
	return persistencetest.OpenConfig(t, cfg)
}

// charges converts the sandbox's ledger for the contract suite.
func charges(ctx context.Context, sb *sandbox.Sandbox) ([]paymentstest.Charge, error) {
	ledger, err := sb.Ledger(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]paymentstest.Charge, len(ledger))
	for i, p := range ledger {
		out[i] = paymentstest.Charge{PaymentID: p.ID, OrderID: p.OrderID, Status: p.Status,
			Authorized: p.Authorized, Captured: p.Captured, Refunded: p.Refunded}
	}
	return out, nil
}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// faultyStore is a store that loses writes on demand, as a process dying
// between two writes (or a store going away) would.
type faultyStore struct {
	persistence.Store
	// loseAnswers drops the write that stores a key's answer, as if the
	// process died right after the effect.
	loseAnswers atomic.Bool
	// failPayments fails that many next writes of payments with
	// EUNAVAILABLE, as if the store went away before the effect.
	failPayments atomic.Int32
}

func (f *faultyStore) Documents(collection string) persistence.Documents {
	return &faultyDocs{Documents: f.Store.Documents(collection), store: f, collection: collection}
}

type faultyDocs struct {
	persistence.Documents
	store      *faultyStore
	collection string
}

func (d *faultyDocs) Put(ctx context.Context, id string, expectedVersion int64, doc any) (int64, error) {
	unavailable := emporium.Errorf(emporium.EUNAVAILABLE, "the store went away")
	switch {
	case d.collection == sandbox.RequestsCollection && expectedVersion > 0 && d.store.loseAnswers.Load():
		return 0, unavailable
	case d.collection == sandbox.PaymentsCollection && d.store.failPayments.Add(-1) >= 0:
		return 0, unavailable
	}
	return d.Documents.Put(ctx, id, expectedVersion, doc)
}

func visa(orderID string, amount int64) payments.AuthorizeRequest {
	return payments.AuthorizeRequest{Key: payments.Key(orderID, payments.StepAuthorize), OrderID: orderID,
		Amount: payments.Money{Amount: amount, Currency: "EUR"}, Method: payments.TokenVisa}
}

// TestTakeoverAfterLease loses the answer of calls whose effect is done,
// as a process dying between the two writes: a duplicate within the lease
// is ECONFLICT, and a retry after it takes the call over and answers the
// effect done, without a second one.
func TestTakeoverAfterLease(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := persistencetest.Open(t)
	faulty := &faultyStore{Store: store}
	clk := newClock()
	dying := sandbox.New(faulty, sandbox.Config{Now: clk.Now, Lease: 10 * time.Second})
	sb := sandbox.New(store, sandbox.Config{Now: clk.Now, Lease: 10 * time.Second})

	faulty.loseAnswers.Store(true)
	req := visa("o1", 700)
	first, err := dying.Authorize(ctx, req)
	require.NoError(t, err)
	_, err = sb.Authorize(ctx, req)
	assert.Equal(t, emporium.ECONFLICT, emporium.ErrorCode(err), "a duplicate within the lease: %v", err)

	clk.Add(11 * time.Second)
	again, err := sb.Authorize(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, first, again)
	record, err := sb.Request(ctx, req.Key)
	require.NoError(t, err)
	assert.True(t, record.Done)
	assert.Equal(t, 2, record.Executions)

	capture := payments.CaptureRequest{Key: payments.Key("o1", payments.StepCapture), PaymentID: first.PaymentID,
		Amount: payments.Money{Amount: 700, Currency: "EUR"}}
	captured, err := dying.Capture(ctx, capture)
	require.NoError(t, err)
	clk.Add(11 * time.Second)
	capturedAgain, err := sb.Capture(ctx, capture)
	require.NoError(t, err)
	assert.Equal(t, captured, capturedAgain)

	ledger, err := sb.Ledger(ctx)
	require.NoError(t, err)
	require.Len(t, ledger, 1)
	p := ledger[0]
	assert.Equal(t, int64(700), p.Captured)
	require.Len(t, p.Operations, 2, "one authorization and one capture: %+v", p.Operations)
	assert.Equal(t, sandbox.OpAuthorize, p.Operations[0].Kind)
	assert.Equal(t, sandbox.OpCapture, p.Operations[1].Kind)
	assert.Equal(t, captured.CaptureID, p.Operations[1].ID)
}

// TestFailureBeforeEffectGivesTheKeyBack fails the write of the effect:
// the call is EUNAVAILABLE and gives its key back, so the retry need not
// wait for the lease.
func TestFailureBeforeEffectGivesTheKeyBack(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	faulty := &faultyStore{Store: persistencetest.Open(t)}
	sb := sandbox.New(faulty, sandbox.Config{Now: newClock().Now})
	faulty.failPayments.Store(1)
	req := visa("o1", 900)
	_, err := sb.Authorize(ctx, req)
	require.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err), "%v", err)
	auth, err := sb.Authorize(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, payments.StatusAuthorized, auth.Status)
	record, err := sb.Request(ctx, req.Key)
	require.NoError(t, err)
	assert.Equal(t, 2, record.Executions)
}

// TestTimeoutTokenWaits checks the lost answer of payments.TokenTimeout:
// it comes after the configured delay, never later than the caller's
// deadline, and the authorization is recorded all the same.
func TestTimeoutTokenWaits(t *testing.T) {
	t.Parallel()
	store := persistencetest.Open(t)
	req := payments.AuthorizeRequest{Key: "authorize:o1", OrderID: "o1", Amount: payments.Money{Amount: 100, Currency: "USD"}, Method: payments.TokenTimeout}

	sb := sandbox.New(store, sandbox.Config{})
	start := time.Now()
	_, err := sb.Authorize(t.Context(), req)
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err))
	assert.GreaterOrEqual(t, time.Since(start), sandbox.DefaultTimeoutDelay, "the default delay")

	slow := sandbox.New(store, sandbox.Config{TimeoutDelay: time.Hour})
	req.Key, req.OrderID = "authorize:o2", "o2"
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = slow.Authorize(ctx, req)
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err))
	assert.Less(t, time.Since(start), 5*time.Second, "the caller's deadline bounds the delay")
	auth, err := slow.Authorize(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, payments.StatusAuthorized, auth.Status)
}

func TestApprovalURL(t *testing.T) {
	t.Parallel()
	store := persistencetest.Open(t)
	req := payments.AuthorizeRequest{Key: "authorize:o1", OrderID: "o1", Amount: payments.Money{Amount: 100, Currency: "USD"}, Method: payments.TokenRequiresApproval}
	auth, err := sandbox.New(store, sandbox.Config{}).Authorize(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, "/v1/orders/o1/payment/confirm", auth.ApprovalURL)

	custom := sandbox.New(store, sandbox.Config{ApprovalURL: func(id string) string { return "https://shop.example/pay/" + id }})
	req.Key, req.OrderID = "authorize:o2", "o2"
	auth, err = custom.Authorize(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, "https://shop.example/pay/o2", auth.ApprovalURL)
	assert.Equal(t, payments.StatusRequiresApproval, auth.Status)
}

// TestInvalidRequests checks the requests refused before they use their
// key: a fixed one may then be sent with the same key.
func TestInvalidRequests(t *testing.T) {
	t.Parallel()
	sb := sandbox.New(persistencetest.Open(t), sandbox.Config{})
	ctx := t.Context()
	for name, tc := range map[string]struct {
		req   payments.AuthorizeRequest
		field string
	}{
		"no order":       {payments.AuthorizeRequest{Key: "k", Amount: payments.Money{Amount: 1, Currency: "USD"}, Method: payments.TokenVisa}, "order_id"},
		"zero amount":    {payments.AuthorizeRequest{Key: "k", OrderID: "o", Amount: payments.Money{Currency: "USD"}, Method: payments.TokenVisa}, "amount"},
		"lower currency": {payments.AuthorizeRequest{Key: "k", OrderID: "o", Amount: payments.Money{Amount: 1, Currency: "usd"}, Method: payments.TokenVisa}, "amount.currency"},
		"unknown token":  {payments.AuthorizeRequest{Key: "k", OrderID: "o", Amount: payments.Money{Amount: 1, Currency: "USD"}, Method: "pm_card_visa"}, "payment.token"},
	} {
		_, err := sb.Authorize(ctx, tc.req)
		require.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), name)
		fields := emporium.ErrorFields(err)
		require.Len(t, fields, 1, name)
		assert.Equal(t, tc.field, fields[0].Field, name)
	}
	_, err := sb.Authorize(ctx, payments.AuthorizeRequest{Key: "k", OrderID: "o", Amount: payments.Money{Amount: 1, Currency: "USD"}, Method: payments.TokenVisa})
	require.NoError(t, err, "the refused requests did not use the key")

	_, err = sb.Capture(ctx, payments.CaptureRequest{Key: "k", PaymentID: "pay_x", Amount: payments.Money{Amount: 1, Currency: "USD"}})
	assert.Equal(t, emporium.EIDEMPOTENCY, emporium.ErrorCode(err), "a key used for another operation")
}

// TestLedger checks the audit: amounts, statuses and the operations with
// their keys.
func TestLedger(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	sb := sandbox.New(persistencetest.Open(t), sandbox.Config{Now: clk.Now})
	ledger, err := sb.Ledger(ctx)
	require.NoError(t, err)
	assert.Empty(t, ledger)

	eur := func(n int64) payments.Money { return payments.Money{Amount: n, Currency: "EUR"} }
	auth, err := sb.Authorize(ctx, visa("o1", 1000))
	require.NoError(t, err)
	_, err = sb.Capture(ctx, payments.CaptureRequest{Key: "capture:o1", PaymentID: auth.PaymentID, Amount: eur(800)})
	require.NoError(t, err)
	clk.Add(time.Minute)
	refund, err := sb.Refund(ctx, payments.RefundRequest{Key: "refund:o1:1", PaymentID: auth.PaymentID, Amount: eur(300), Reason: "damaged"})
	require.NoError(t, err)
	declined, err := sb.Authorize(ctx, payments.AuthorizeRequest{Key: "authorize:o2", OrderID: "o2", Amount: eur(50), Method: payments.TokenInsufficientFunds})
	require.NoError(t, err)

	ledger, err = sb.Ledger(ctx)
	require.NoError(t, err)
	require.Len(t, ledger, 2)
	byOrder := map[string]sandbox.Payment{}
	for _, p := range ledger {
		byOrder[p.OrderID] = p
	}
	p := byOrder["o1"]
	assert.Equal(t, auth.PaymentID, p.ID)
	assert.Equal(t, payments.StatusCaptured, p.Status)
	assert.Equal(t, []int64{1000, 1000, 800, 300}, []int64{p.Amount, p.Authorized, p.Captured, p.Refunded})
	assert.Equal(t, payments.TokenVisa, p.Method)
	assert.Equal(t, clk.Now(), p.UpdatedAt)
	require.Len(t, p.Operations, 3)
	assert.Equal(t, sandbox.Operation{Kind: sandbox.OpRefund, Key: "refund:o1:1", ID: refund.RefundID, Amount: 300,
		Reason: "damaged", Status: payments.StatusCaptured, At: clk.Now()}, p.Operations[2])

	d := byOrder["o2"]
	assert.Equal(t, declined.PaymentID, d.ID)
	assert.Equal(t, payments.StatusDeclined, d.Status)
	assert.Equal(t, payments.DeclineInsufficientFunds, d.DeclineCode)
	assert.Zero(t, d.Authorized)

	one, err := sb.Payment(ctx, auth.PaymentID)
	require.NoError(t, err)
	assert.Equal(t, p, one)
	_, err = sb.Payment(ctx, "pay_none")
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err))
	_, err = sb.Request(ctx, "never")
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err))
}

// TestSharedLedger runs two sandboxes over one store, as two nodes of a
// cluster: what one did, the other answers.
func TestSharedLedger(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := persistencetest.Open(t)
	a, b := sandbox.New(store, sandbox.Config{}), sandbox.New(store, sandbox.Config{})
	auth, err := a.Authorize(ctx, visa("o1", 500))
	require.NoError(t, err)
	again, err := b.Authorize(ctx, visa("o1", 500))
	require.NoError(t, err)
	assert.Equal(t, auth, again)
	_, err = b.Capture(ctx, payments.CaptureRequest{Key: "capture:o1", PaymentID: auth.PaymentID, Amount: payments.Money{Amount: 500, Currency: "EUR"}})
	require.NoError(t, err)
	err = a.Void(ctx, payments.VoidRequest{Key: "void:o1", PaymentID: auth.PaymentID})
	assert.Equal(t, emporium.ECONFLICT, emporium.ErrorCode(err))
}
