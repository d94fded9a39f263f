package paypal_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
	"github.com/emporium-shop/emporium/payments/paymentstest"
	"github.com/emporium-shop/emporium/payments/paypal"
)

func newProvider(t *testing.T, apiURL string, now func() time.Time) *paypal.Provider {
	p, err := paypal.New(paypal.Config{ClientID: "client-1", Secret: "secret-1", APIURL: apiURL, Now: now})
	require.NoError(t, err)
	return p
}

// TestContract runs the provider contract against the fake PayPal: every
// authorization waits for the buyer, who approves it at the fake.
// PayPal-Request-Id replays the first answer but does not refuse a key
// reused with other parameters, and there are no test tokens for declines
// or timeouts: those capabilities are off.
func TestContract(t *testing.T) {
	t.Parallel()
	paymentstest.RunContract(t, paymentstest.Harness{
		Open: func(t *testing.T) paymentstest.Subject {
			fake, srv := newFakePayPal(t)
			return subject(t, fake, srv.URL)
		},
		Capabilities: paymentstest.Capabilities{Stateful: true, Approval: true},
	})
}

func subject(t *testing.T, fake *fakePayPal, apiURL string) paymentstest.Subject {
	return paymentstest.Subject{
		Provider: newProvider(t, apiURL, nil),
		Ledger:   func(context.Context) ([]paymentstest.Charge, error) { return fake.Ledger(), nil },
		Restart:  func(t *testing.T) paymentstest.Subject { return subject(t, fake, apiURL) },
		Approve:  func(_ *testing.T, auth payments.Authorization) { fake.Approve(auth.PaymentID) },
	}
}

// TestRequests checks what PayPal receives: the order with intent
// AUTHORIZE, the amount as a decimal string, the order id as custom_id,
// every write with the request's key as PayPal-Request-Id, and one access
// token for all of it.
func TestRequests(t *testing.T) {
	t.Parallel()
	fake, srv := newFakePayPal(t)
	p := newProvider(t, srv.URL, nil)
	ctx := t.Context()
	auth, err := p.Authorize(ctx, payments.AuthorizeRequest{Key: "authorize:o1", OrderID: "o1",
		Amount: payments.Money{Amount: 1999, Currency: "USD"}, Method: "paypal"})
	require.NoError(t, err)
	assert.Equal(t, payments.StatusRequiresApproval, auth.Status)
	assert.Equal(t, payments.Money{Amount: 1999, Currency: "USD"}, auth.Amount)
	assert.Equal(t, "https://www.sandbox.paypal.com/checkoutnow?token="+auth.PaymentID, auth.ApprovalURL)
	fake.Approve(auth.PaymentID)
	auth, err = p.Confirm(ctx, payments.ConfirmRequest{Key: "confirm:o1", PaymentID: auth.PaymentID})
	require.NoError(t, err)
	assert.Equal(t, payments.StatusAuthorized, auth.Status)
	c, err := p.Capture(ctx, payments.CaptureRequest{Key: "capture:o1", PaymentID: auth.PaymentID, Amount: payments.Money{Amount: 1500, Currency: "USD"}})
	require.NoError(t, err)
	assert.Equal(t, payments.Money{Amount: 1500, Currency: "USD"}, c.Amount)
	r, err := p.Refund(ctx, payments.RefundRequest{Key: "refund:o1:1", PaymentID: auth.PaymentID, Amount: payments.Money{Amount: 500, Currency: "USD"}})
	require.NoError(t, err)
	assert.Equal(t, payments.Money{Amount: 500, Currency: "USD"}, r.Amount)

	id := auth.PaymentID
	authID := "AUTH0002X"
	assert.Equal(t, []string{
		"POST /v2/checkout/orders authorize:o1",
		"POST /v2/checkout/orders/" + id + "/authorize confirm:o1",
		"GET /v2/checkout/orders/" + id + " ",
		"POST /v2/payments/authorizations/" + authID + "/capture capture:o1",
		"GET /v2/checkout/orders/" + id + " ",
		"POST /v2/payments/captures/" + c.CaptureID + "/refund refund:o1:1",
	}, fake.Seen())
	assert.Equal(t, 1, fake.TokenFetches(), "one access token serves every call")
}

// TestAmounts checks the decimal strings of a currency with cents and of
// one without.
func TestAmounts(t *testing.T) {
	t.Parallel()
	fake, srv := newFakePayPal(t)
	p := newProvider(t, srv.URL, nil)
	for _, m := range []payments.Money{{Amount: 5, Currency: "EUR"}, {Amount: 123456, Currency: "USD"}, {Amount: 1999, Currency: "JPY"}} {
		orderID := fmt.Sprintf("o-%s-%d", m.Currency, m.Amount)
		auth, err := p.Authorize(t.Context(), payments.AuthorizeRequest{Key: "authorize:" + orderID, OrderID: orderID, Amount: m})
		require.NoError(t, err)
		assert.Equal(t, m, auth.Amount)
		fake.Approve(auth.PaymentID)
		auth, err = p.Confirm(t.Context(), payments.ConfirmRequest{Key: "confirm:" + orderID, PaymentID: auth.PaymentID})
		require.NoError(t, err)
		assert.Equal(t, m, auth.Amount)
	}
}

func TestDecline(t *testing.T) {
	t.Parallel()
	fake, srv := newFakePayPal(t)
	p := newProvider(t, srv.URL, nil)
	auth, err := p.Authorize(t.Context(), payments.AuthorizeRequest{Key: "authorize:o1", OrderID: "o1", Amount: payments.Money{Amount: 100, Currency: "USD"}})
	require.NoError(t, err)
	fake.Decline(auth.PaymentID)
	declined, err := p.Confirm(t.Context(), payments.ConfirmRequest{Key: "confirm:o1", PaymentID: auth.PaymentID})
	require.NoError(t, err, "a decline is an answer")
	assert.Equal(t, payments.Authorization{PaymentID: auth.PaymentID, Status: payments.StatusDeclined,
		Amount: payments.Money{Amount: 100, Currency: "USD"}, DeclineCode: payments.DeclinePaymentDeclined}, declined)
	require.NoError(t, p.Void(t.Context(), payments.VoidRequest{Key: "void:o1", PaymentID: auth.PaymentID}),
		"an order never authorized holds nothing to void")
}

// TestAccessToken checks that an access token is renewed when PayPal no
// longer takes it, and shortly before it expires.
func TestAccessToken(t *testing.T) {
	t.Parallel()
	fake, srv := newFakePayPal(t)
	var mu sync.Mutex
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	p := newProvider(t, srv.URL, clock)
	authorize := func(order string) {
		t.Helper()
		_, err := p.Authorize(t.Context(), payments.AuthorizeRequest{Key: "authorize:" + order, OrderID: order, Amount: payments.Money{Amount: 100, Currency: "USD"}})
		require.NoError(t, err)
	}
	authorize("o1")
	authorize("o2")
	assert.Equal(t, 1, fake.TokenFetches())
	fake.ExpireTokens()
	authorize("o3")
	assert.Equal(t, 2, fake.TokenFetches(), "a refused token is renewed and the call retried")
	mu.Lock()
	now = now.Add(9 * time.Hour) // PayPal's tokens last 32400 s
	mu.Unlock()
	authorize("o4")
	assert.Equal(t, 3, fake.TokenFetches(), "a token about to expire is renewed")
}

func TestErrors(t *testing.T) {
	t.Parallel()
	fake, srv := newFakePayPal(t)
	p := newProvider(t, srv.URL, nil)
	req := payments.AuthorizeRequest{Key: "authorize:o1", OrderID: "o1", Amount: payments.Money{Amount: 100, Currency: "USD"}}
	fake.FailNext(500)
	_, err := p.Authorize(t.Context(), req)
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err), "%v", err)
	fake.FailNext(429)
	_, err = p.Authorize(t.Context(), req)
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err), "%v", err)
	_, err = p.Authorize(t.Context(), req)
	require.NoError(t, err, "the retry with the same key goes through")

	wrong, err := paypal.New(paypal.Config{ClientID: "client-1", Secret: "wrong", APIURL: srv.URL})
	require.NoError(t, err)
	_, err = wrong.Authorize(t.Context(), req)
	assert.Equal(t, emporium.EINTERNAL, emporium.ErrorCode(err), "bad credentials are no one's retry: %v", err)
	assert.NotContains(t, emporium.ErrorMessage(err), "wrong")

	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	_, err = newProvider(t, gone.URL, nil).Authorize(t.Context(), req)
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err), "%v", err)

	_, err = p.Confirm(t.Context(), payments.ConfirmRequest{Key: "confirm:x", PaymentID: "NOSUCHORDER"})
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err), "%v", err)
}

func TestConfig(t *testing.T) {
	t.Parallel()
	cfg := paypal.Config{ClientID: "client-1", Secret: "very-secret-value"}
	p, err := paypal.New(cfg)
	require.NoError(t, err)
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v %#v", cfg, cfg), fmt.Sprint(p), fmt.Sprintf("%+v %#v", p, p)} {
		assert.NotContains(t, s, "very-secret-value")
	}
	assert.Contains(t, p.String(), paypal.SandboxURL, "the sandbox unless told otherwise")
	_, err = paypal.New(paypal.Config{})
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	assert.Len(t, emporium.ErrorFields(err), 2)
}
