package stripe_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
	"github.com/emporium-shop/emporium/payments/stripe"
)

// reply is a recorded Stripe answer.
type reply struct {
	status int
	body   string
}

// fakeStripe answers each route ("POST /v1/payment_intents") with a
// recorded answer of Stripe's, to test how the provider maps what
// stripe-mock never answers: declines, 3-D Secure, refusals, failures.
type fakeStripe struct {
	mu     sync.Mutex
	routes map[string]reply
	calls  []string
}

func newFake(t *testing.T, routes map[string]reply) (*fakeStripe, *stripe.Provider) {
	f := &fakeStripe{routes: routes}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	p, err := stripe.New(stripe.Config{SecretKey: testKey, APIURL: srv.URL})
	require.NoError(t, err)
	return f, p
}

func (f *fakeStripe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path
	f.mu.Lock()
	f.calls = append(f.calls, route+" "+r.Header.Get("Idempotency-Key"))
	rep, ok := f.routes[route]
	f.mu.Unlock()
	if !ok {
		rep = reply{http.StatusNotFound, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"Unrecognized request URL"}}`}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_, _ = w.Write([]byte(rep.body))
}

const pmCreated = `{"id":"pm_1","object":"payment_method","type":"card"}`

func authorizeWith(t *testing.T, intent reply) (payments.Authorization, error) {
	_, p := newFake(t, map[string]reply{
		"POST /v1/payment_methods": {200, pmCreated},
		"POST /v1/payment_intents": intent,
	})
	return p.Authorize(t.Context(), payments.AuthorizeRequest{Key: "authorize:o1", OrderID: "o1",
		Amount: payments.Money{Amount: 1000, Currency: "USD"}, Method: payments.TokenVisa})
}

func TestAuthorizeAnswers(t *testing.T) {
	t.Parallel()
	usd := payments.Money{Amount: 1000, Currency: "USD"}
	for name, tc := range map[string]struct {
		intent reply
		want   payments.Authorization
	}{
		"requires capture": {
			reply{200, `{"id":"pi_1","object":"payment_intent","status":"requires_capture","amount":1000,"currency":"usd","unknown_new_field":1}`},
			payments.Authorization{PaymentID: "pi_1", Status: payments.StatusAuthorized, Amount: usd},
		},
		"card declined": {
			reply{402, `{"error":{"type":"card_error","code":"card_declined","decline_code":"generic_decline","message":"Your card was declined.","payment_intent":{"id":"pi_2","object":"payment_intent","status":"requires_payment_method"}}}`},
			payments.Authorization{PaymentID: "pi_2", Status: payments.StatusDeclined, Amount: usd, DeclineCode: payments.DeclinePaymentDeclined},
		},
		"insufficient funds": {
			reply{402, `{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","payment_intent":{"id":"pi_3","object":"payment_intent"}}}`},
			payments.Authorization{PaymentID: "pi_3", Status: payments.StatusDeclined, Amount: usd, DeclineCode: payments.DeclineInsufficientFunds},
		},
		"declined in the answer": {
			reply{200, `{"id":"pi_4","object":"payment_intent","status":"requires_payment_method","amount":1000,"currency":"usd","last_payment_error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds"}}`},
			payments.Authorization{PaymentID: "pi_4", Status: payments.StatusDeclined, Amount: usd, DeclineCode: payments.DeclineInsufficientFunds},
		},
		"3-D Secure": {
			reply{200, `{"id":"pi_5","object":"payment_intent","status":"requires_action","amount":1000,"currency":"usd","next_action":{"type":"redirect_to_url","redirect_to_url":{"url":"https://hooks.stripe.com/3d_secure_2/pi_5","return_url":"https://shop.example/back"}}}`},
			payments.Authorization{PaymentID: "pi_5", Status: payments.StatusRequiresApproval, Amount: usd, ApprovalURL: "https://hooks.stripe.com/3d_secure_2/pi_5"},
		},
	} {
		auth, err := authorizeWith(t, tc.intent)
		require.NoError(t, err, name)
		assert.Equal(t, tc.want, auth, name)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		intent reply
		code   string
	}{
		"server error":    {reply{500, `{"error":{"type":"api_error","message":"Something went wrong"}}`}, emporium.EUNAVAILABLE},
		"rate limited":    {reply{429, `{"error":{"type":"invalid_request_error","code":"rate_limit"}}`}, emporium.EUNAVAILABLE},
		"key reused":      {reply{400, `{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}`}, emporium.EIDEMPOTENCY},
		"key in use":      {reply{409, `{"error":{"type":"invalid_request_error","code":"idempotency_key_in_use"}}`}, emporium.ECONFLICT},
		"bad credentials": {reply{401, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_****7dc"}}`}, emporium.EINTERNAL},
		"bad request":     {reply{400, `{"error":{"type":"invalid_request_error","code":"parameter_invalid_integer","param":"amount"}}`}, emporium.EINVALID},
		"still processing": {reply{200, `{"id":"pi_6","object":"payment_intent","status":"processing","amount":1000,"currency":"usd"}`},
			emporium.EUNAVAILABLE},
	} {
		_, err := authorizeWith(t, tc.intent)
		require.Error(t, err, name)
		assert.Equal(t, tc.code, emporium.ErrorCode(err), "%s: %v", name, err)
		assert.NotContains(t, emporium.ErrorMessage(err), "sk_test", name)
	}

	_, p := newFake(t, map[string]reply{"POST /v1/payment_methods": {400,
		`{"error":{"type":"invalid_request_error","code":"resource_missing","param":"card[token]","message":"No such token: 'tok_nope'"}}`}})
	_, err := p.Authorize(t.Context(), payments.AuthorizeRequest{Key: "authorize:o1", OrderID: "o1",
		Amount: payments.Money{Amount: 1000, Currency: "USD"}, Method: "tok_nope"})
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	fields := emporium.ErrorFields(err)
	require.Len(t, fields, 1)
	assert.Equal(t, "payment.token", fields[0].Field)
}

// TestNoAnswer checks that a Stripe that does not answer, or not in time,
// leaves the outcome unknown: EUNAVAILABLE, within the caller's deadline.
func TestNoAnswer(t *testing.T) {
	t.Parallel()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	p, err := stripe.New(stripe.Config{SecretKey: testKey, APIURL: gone.URL})
	require.NoError(t, err)
	_, err = p.Capture(t.Context(), payments.CaptureRequest{Key: "capture:o1", PaymentID: "pi_1", Amount: payments.Money{Amount: 1, Currency: "USD"}})
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err), "%v", err)

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	p, err = stripe.New(stripe.Config{SecretKey: testKey, APIURL: slow.URL})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = p.Capture(ctx, payments.CaptureRequest{Key: "capture:o1", PaymentID: "pi_1", Amount: payments.Money{Amount: 1, Currency: "USD"}})
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err), "%v", err)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestCaptureAnswers(t *testing.T) {
	t.Parallel()
	capture := func(rep reply) (payments.Capture, error) {
		_, p := newFake(t, map[string]reply{"POST /v1/payment_intents/pi_1/capture": rep})
		return p.Capture(t.Context(), payments.CaptureRequest{Key: "capture:o1", PaymentID: "pi_1", Amount: payments.Money{Amount: 800, Currency: "USD"}})
	}
	c, err := capture(reply{200, `{"id":"pi_1","object":"payment_intent","status":"succeeded","amount":1000,"amount_received":800,"currency":"usd","latest_charge":"ch_1"}`})
	require.NoError(t, err)
	assert.Equal(t, payments.Capture{PaymentID: "pi_1", CaptureID: "ch_1", Amount: payments.Money{Amount: 800, Currency: "USD"}}, c)

	for name, tc := range map[string]struct {
		rep  reply
		code string
	}{
		"captured already": {reply{400, `{"error":{"type":"invalid_request_error","code":"payment_intent_unexpected_state"}}`}, emporium.ECONFLICT},
		"too much":         {reply{400, `{"error":{"type":"invalid_request_error","code":"amount_too_large","param":"amount_to_capture"}}`}, emporium.EINVALID},
		"no such payment":  {reply{404, `{"error":{"type":"invalid_request_error","code":"resource_missing","param":"intent"}}`}, emporium.ENOTFOUND},
	} {
		_, err := capture(tc.rep)
		assert.Equal(t, tc.code, emporium.ErrorCode(err), "%s: %v", name, err)
	}
}

func TestVoidAnswers(t *testing.T) {
	t.Parallel()
	unexpected := reply{400, `{"error":{"type":"invalid_request_error","code":"payment_intent_unexpected_state"}}`}
	void := func(cancel, retrieve reply) error {
		_, p := newFake(t, map[string]reply{
			"POST /v1/payment_intents/pi_1/cancel": cancel,
			"GET /v1/payment_intents/pi_1":         retrieve,
		})
		return p.Void(t.Context(), payments.VoidRequest{Key: "void:o1", PaymentID: "pi_1"})
	}
	canceled := reply{200, `{"id":"pi_1","object":"payment_intent","status":"canceled"}`}
	assert.NoError(t, void(canceled, reply{500, `{}`}))
	assert.NoError(t, void(unexpected, canceled), "a void of a voided payment succeeds")
	err := void(unexpected, reply{200, `{"id":"pi_1","object":"payment_intent","status":"succeeded"}`})
	assert.Equal(t, emporium.ECONFLICT, emporium.ErrorCode(err), "a captured payment is not voided: %v", err)
}

func TestConfirmAnswers(t *testing.T) {
	t.Parallel()
	f, p := newFake(t, map[string]reply{
		"GET /v1/payment_intents/pi_1":          {200, `{"id":"pi_1","object":"payment_intent","status":"requires_confirmation","amount":1000,"currency":"eur"}`},
		"POST /v1/payment_intents/pi_1/confirm": {200, `{"id":"pi_1","object":"payment_intent","status":"requires_capture","amount":1000,"currency":"eur"}`},
	})
	auth, err := p.Confirm(t.Context(), payments.ConfirmRequest{Key: "confirm:o1", PaymentID: "pi_1"})
	require.NoError(t, err)
	assert.Equal(t, payments.Authorization{PaymentID: "pi_1", Status: payments.StatusAuthorized, Amount: payments.Money{Amount: 1000, Currency: "EUR"}}, auth)
	assert.Equal(t, []string{"GET /v1/payment_intents/pi_1 ", "POST /v1/payment_intents/pi_1/confirm confirm:o1"}, f.calls)

	_, p = newFake(t, map[string]reply{
		"GET /v1/payment_intents/pi_1": {200, `{"id":"pi_1","object":"payment_intent","status":"requires_action","amount":1000,"currency":"eur","next_action":{"type":"redirect_to_url","redirect_to_url":{"url":"https://hooks.stripe.com/x"}}}`},
	})
	auth, err = p.Confirm(t.Context(), payments.ConfirmRequest{Key: "confirm:o1", PaymentID: "pi_1"})
	require.NoError(t, err)
	assert.Equal(t, payments.StatusRequiresApproval, auth.Status, "the buyer has not approved yet")
	assert.Equal(t, "https://hooks.stripe.com/x", auth.ApprovalURL)
}
