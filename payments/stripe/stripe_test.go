package stripe_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
	"github.com/emporium-shop/emporium/payments/paymentstest"
	"github.com/emporium-shop/emporium/payments/stripe"
)

const testKey = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"

// TestContract runs the provider contract against stripe-mock. stripe-mock
// is stateless (it answers canned objects), so the contract shows only
// that every request is well formed and answered.
func TestContract(t *testing.T) {
	t.Parallel()
	apiURL := needMock(t)
	paymentstest.RunContract(t, paymentstest.Harness{
		Open: func(t *testing.T) paymentstest.Subject {
			p, err := stripe.New(stripe.Config{SecretKey: testKey, APIURL: apiURL})
			require.NoError(t, err)
			return paymentstest.Subject{Provider: p}
		},
	})
}

// recorded is one request a recorder saw.
type recorded struct {
	Method, Path, Key string
	Form              url.Values
}

// recorder is an http.RoundTripper that notes every request it passes on.
type recorder struct {
	mu       sync.Mutex
	requests []recorded
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := recorded{Method: req.Method, Path: req.URL.Path, Key: req.Header.Get("Idempotency-Key")}
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		rec.Form, _ = url.ParseQuery(string(body))
		req.Body = io.NopCloser(strings.NewReader(string(body)))
	}
	r.mu.Lock()
	r.requests = append(r.requests, rec)
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (r *recorder) take() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.requests
	r.requests = nil
	return out
}

// TestRequests checks what the provider sends stripe-mock: PaymentIntents
// with manual capture, confirmed at once, the token made a PaymentMethod,
// the order id in the metadata, and on every write the idempotency key
// derived from the request's, never a random one.
func TestRequests(t *testing.T) {
	t.Parallel()
	apiURL := needMock(t)
	rec := &recorder{}
	p, err := stripe.New(stripe.Config{SecretKey: testKey, APIURL: apiURL, HTTPClient: &http.Client{Transport: rec}})
	require.NoError(t, err)
	ctx := t.Context()

	auth, err := p.Authorize(ctx, payments.AuthorizeRequest{Key: "authorize:o1", OrderID: "o1",
		Amount: payments.Money{Amount: 1999, Currency: "EUR"}, Method: payments.TokenVisa, ReturnURL: "https://shop.example/back"})
	require.NoError(t, err)
	reqs := rec.take()
	require.Len(t, reqs, 2)
	assert.Equal(t, recorded{Method: "POST", Path: "/v1/payment_methods", Key: "payment_method:authorize:o1",
		Form: url.Values{"type": {"card"}, "card[token]": {"tok_visa"}}}, reqs[0])
	create := reqs[1]
	assert.Equal(t, "POST /v1/payment_intents authorize:o1", create.Method+" "+create.Path+" "+create.Key)
	for field, want := range map[string]string{
		"amount": "1999", "currency": "eur", "capture_method": "manual", "confirm": "true",
		"metadata[order_id]": "o1", "return_url": "https://shop.example/back", "payment_method_types[0]": "card",
	} {
		assert.Equal(t, want, create.Form.Get(field), field)
	}
	assert.NotEmpty(t, create.Form.Get("payment_method"))

	_, err = p.Authorize(ctx, payments.AuthorizeRequest{Key: "authorize:o2", OrderID: "o2",
		Amount: payments.Money{Amount: 500, Currency: "USD"}, Method: "pm_card_visa"})
	require.NoError(t, err)
	reqs = rec.take()
	require.Len(t, reqs, 1, "a PaymentMethod id is used as it is")
	assert.Equal(t, "pm_card_visa", reqs[0].Form.Get("payment_method"))

	_, err = p.Capture(ctx, payments.CaptureRequest{Key: "capture:o1", PaymentID: auth.PaymentID, Amount: payments.Money{Amount: 1500, Currency: "EUR"}})
	require.NoError(t, err)
	_, err = p.Refund(ctx, payments.RefundRequest{Key: "refund:o1:1", PaymentID: auth.PaymentID, Amount: payments.Money{Amount: 700, Currency: "EUR"}, Reason: "damaged"})
	require.NoError(t, err)
	require.NoError(t, p.Void(ctx, payments.VoidRequest{Key: "void:o1", PaymentID: auth.PaymentID}))
	_, err = p.Confirm(ctx, payments.ConfirmRequest{Key: "confirm:o1", PaymentID: auth.PaymentID})
	require.NoError(t, err)
	reqs = rec.take()
	require.Len(t, reqs, 4)
	id := url.PathEscape(auth.PaymentID)
	assert.Equal(t, []string{
		"POST /v1/payment_intents/" + id + "/capture capture:o1",
		"POST /v1/refunds refund:o1:1",
		"POST /v1/payment_intents/" + id + "/cancel void:o1",
		"GET /v1/payment_intents/" + id + " ",
	}, []string{
		reqs[0].Method + " " + reqs[0].Path + " " + reqs[0].Key,
		reqs[1].Method + " " + reqs[1].Path + " " + reqs[1].Key,
		reqs[2].Method + " " + reqs[2].Path + " " + reqs[2].Key,
		reqs[3].Method + " " + reqs[3].Path + " " + reqs[3].Key,
	})
	assert.Equal(t, "1500", reqs[0].Form.Get("amount_to_capture"))
	assert.Equal(t, url.Values{"payment_intent": {auth.PaymentID}, "amount": {"700"}, "metadata[reason]": {"damaged"}}, reqs[1].Form)
}

func TestConfigMasksSecrets(t *testing.T) {
	t.Parallel()
	cfg := stripe.Config{SecretKey: testKey, WebhookSecret: "whsec_abcdef123456", APIURL: "http://localhost:12111"}
	p, err := stripe.New(cfg)
	require.NoError(t, err)
	for _, s := range []string{
		cfg.String(), fmt.Sprint(cfg), fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg),
		fmt.Sprint(p), fmt.Sprintf("%v %+v %#v", p, p, p),
	} {
		assert.NotContains(t, s, "4eC39HqLyjWDarjtT1zdp7dc")
		assert.NotContains(t, s, "abcdef123456")
	}
	assert.Contains(t, cfg.String(), "sk_test_****")
	assert.Contains(t, cfg.String(), "http://localhost:12111")

	_, err = stripe.New(stripe.Config{})
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
}
