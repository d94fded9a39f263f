package paypal_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
	"github.com/emporium-shop/emporium/payments/paypal"
)

// webhookNow is when the tests' deliveries arrive.
var webhookNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func webhookProvider(t *testing.T, apiURL, webhookID string) *paypal.Provider {
	p, err := paypal.New(paypal.Config{ClientID: "client-1", Secret: "secret-1", APIURL: apiURL, WebhookID: webhookID})
	require.NoError(t, err)
	return p
}

var _ payments.WebhookVerifier = (*paypal.Provider)(nil)

// TestVerifyWebhook follows payments through PayPal and checks the event
// each delivery gives: the PayPal order's id, as Authorization.PaymentID,
// and the order id Authorize set as custom_id, whatever the resource. The
// same delivery three times gives the same event, verified at PayPal each
// time with the body as it was delivered.
func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	fake, srv := newFakePayPal(t)
	p := webhookProvider(t, srv.URL, "WH-1")
	ctx := t.Context()
	usd := func(n int64) payments.Money { return payments.Money{Amount: n, Currency: "USD"} }
	authorize := func(order string) payments.Authorization {
		t.Helper()
		auth, err := p.Authorize(ctx, payments.AuthorizeRequest{Key: "authorize:" + order, OrderID: order, Amount: usd(1000)})
		require.NoError(t, err)
		return auth
	}
	confirm := func(order string, auth payments.Authorization) {
		t.Helper()
		fake.Approve(auth.PaymentID)
		auth, err := p.Confirm(ctx, payments.ConfirmRequest{Key: "confirm:" + order, PaymentID: auth.PaymentID})
		require.NoError(t, err)
		require.Equal(t, payments.StatusAuthorized, auth.Status)
	}
	n := 0
	deliver := func(typ, order string, auth payments.Authorization, status payments.Status) {
		t.Helper()
		n++
		evID := "WH-EVT-" + typ
		body := fake.Event(evID, typ, auth.PaymentID, webhookNow.Add(-time.Second))
		header := fake.Headers(body, webhookNow)
		want := payments.WebhookEvent{Provider: "paypal", ID: evID, Type: typ, OrderID: order, PaymentID: auth.PaymentID,
			Status: status, Created: webhookNow.Add(-time.Second)}
		if status == payments.StatusDeclined {
			want.DeclineCode = payments.DeclinePaymentDeclined
		}
		before := len(fake.Verifications())
		for i := range 3 {
			ev, err := p.VerifyWebhook(header, body, webhookNow.Add(time.Duration(i)*time.Minute))
			require.NoError(t, err, typ)
			assert.Equal(t, want, ev, "%s, delivery %d", typ, i+1)
		}
		vs := fake.Verifications()
		require.Len(t, vs, before+3, typ)
		for _, v := range vs[before:] {
			assert.Equal(t, body, []byte(v.WebhookEvent), typ)
		}
	}

	auth := authorize("o1")
	fake.Approve(auth.PaymentID)
	deliver("CHECKOUT.ORDER.APPROVED", "o1", auth, payments.StatusApproved)
	confirm("o1", auth)
	deliver("PAYMENT.AUTHORIZATION.CREATED", "o1", auth, payments.StatusAuthorized)
	_, err := p.Capture(ctx, payments.CaptureRequest{Key: "capture:o1", PaymentID: auth.PaymentID, Amount: usd(1000)})
	require.NoError(t, err)
	deliver("PAYMENT.CAPTURE.COMPLETED", "o1", auth, payments.StatusCaptured)

	auth = authorize("o2")
	confirm("o2", auth)
	require.NoError(t, p.Void(ctx, payments.VoidRequest{Key: "void:o2", PaymentID: auth.PaymentID}))
	deliver("PAYMENT.AUTHORIZATION.VOIDED", "o2", auth, payments.StatusVoided)

	deliver("CHECKOUT.ORDER.VOIDED", "o3", authorize("o3"), payments.StatusDeclined)

	auth = authorize("o4")
	confirm("o4", auth)
	deliver("PAYMENT.CAPTURE.DENIED", "o4", auth, payments.StatusDeclined)

	for _, v := range fake.Verifications() {
		assert.Equal(t, "WH-1", v.WebhookID)
		assert.Equal(t, "SHA256withRSA", v.AuthAlgo)
		assert.Equal(t, webhookNow.Format(time.RFC3339), v.TransmissionTime)
		assert.Equal(t, "Bearer A21AA-1", v.Authorization, "the provider's access token")
	}
	assert.Equal(t, 1, fake.TokenFetches())
}

// TestWebhookBodyUnchanged checks that PayPal verifies the bytes that
// were delivered, whitespace, key order and characters json.Marshal would
// escape included, and that fields PayPal adds and events of other types
// are read leniently.
func TestWebhookBodyUnchanged(t *testing.T) {
	t.Parallel()
	fake, srv := newFakePayPal(t)
	p := webhookProvider(t, srv.URL, "WH-1")
	body := []byte("{\n  \"resource\" : {\"status\":\"APPROVED\", \"id\":\"5O190127TN364715T\",\n" +
		"    \"purchase_units\":[{\"reference_id\":\"default\",\"custom_id\":\"o-\u00e9<&>\",\"amount\":{\"currency_code\":\"EUR\",\"value\":\"1.00\"}}],\n" +
		"    \"payer\":{\"name\":{\"given_name\":\"Zo\\u00eb & <Co>\"}}, \"brand_new\": [1, 2.50, null]},\n" +
		"  \"event_type\":\"CHECKOUT.ORDER.APPROVED\",   \"id\":\"WH-7Y7254563A4550640-11V2185806837105M\",\n" +
		"  \"create_time\":\"2030-01-02T03:04:04.123Z\", \"event_version\":\"1.0\", \"resource_version\":\"2.0\"\n}")
	ev, err := p.VerifyWebhook(fake.Headers(body, webhookNow), body, webhookNow)
	require.NoError(t, err)
	assert.Equal(t, payments.WebhookEvent{Provider: "paypal", ID: "WH-7Y7254563A4550640-11V2185806837105M", Type: "CHECKOUT.ORDER.APPROVED",
		OrderID: "o-\u00e9<&>", PaymentID: "5O190127TN364715T", Status: payments.StatusApproved,
		Created: time.Date(2030, 1, 2, 3, 4, 4, 123e6, time.UTC)}, ev)
	vs := fake.Verifications()
	require.Len(t, vs, 1)
	assert.Equal(t, body, []byte(vs[0].WebhookEvent), "webhook_event is the delivered body, byte for byte")
	assert.True(t, bytes.Contains(vs[0].Body, append([]byte(`"webhook_event":`), body...)), "%s", vs[0].Body)

	other := []byte(`{"id":"WH-2","event_type":"CUSTOMER.DISPUTE.CREATED","create_time":"2030-01-02T03:04:00Z",` +
		`"resource":{"dispute_id":"PP-D-1","status":{"odd":true},"custom_id":7}}`)
	ev, err = p.VerifyWebhook(fake.Headers(other, webhookNow), other, webhookNow)
	require.NoError(t, err)
	assert.Equal(t, payments.WebhookEvent{Provider: "paypal", ID: "WH-2", Type: "CUSTOMER.DISPUTE.CREATED",
		Created: time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)}, ev, "an event of another type says no status")

	for _, junk := range []string{`{"not":"an event"}`, `[1,2]`, `{"id":"WH-3","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":[]}`} {
		_, err = p.VerifyWebhook(fake.Headers([]byte(junk), webhookNow), []byte(junk), webhookNow)
		assert.Equal(t, emporium.EMALFORMED, emporium.ErrorCode(err), "a signed body that is not an event: %s", junk)
	}
}

// TestWebhookRefusals checks that a delivery without its headers, too old,
// not JSON, or for a provider without a webhook id is refused without
// asking PayPal, and one PayPal does not verify is refused after asking;
// all with the same message.
func TestWebhookRefusals(t *testing.T) {
	t.Parallel()
	fake, srv := newFakePayPal(t)
	p := webhookProvider(t, srv.URL, "WH-1")
	auth, err := p.Authorize(t.Context(), payments.AuthorizeRequest{Key: "authorize:o1", OrderID: "o1",
		Amount: payments.Money{Amount: 100, Currency: "USD"}})
	require.NoError(t, err)
	body := fake.Event("WH-EVT-1", "CHECKOUT.ORDER.APPROVED", auth.PaymentID, webhookNow)
	header := fake.Headers(body, webhookNow)
	seen := len(fake.Seen())
	var message string
	refused := func(name string, p *paypal.Provider, header http.Header, body []byte, now time.Time) {
		t.Helper()
		_, err := p.VerifyWebhook(header, body, now)
		require.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(err), "%s: %v", name, err)
		if message == "" {
			message = emporium.ErrorMessage(err)
		}
		assert.Equal(t, message, emporium.ErrorMessage(err), "%s: the message tells nothing of why", name)
	}
	without := func(name string) http.Header {
		h := header.Clone()
		h.Del(name)
		return h
	}
	with := func(name, value string) http.Header {
		h := header.Clone()
		h.Set(name, value)
		return h
	}

	refused("no webhook id", webhookProvider(t, srv.URL, ""), header, body, webhookNow)
	for _, name := range []string{paypal.HeaderAuthAlgo, paypal.HeaderCertURL, paypal.HeaderTransmissionID,
		paypal.HeaderTransmissionSig, paypal.HeaderTransmissionTime} {
		refused("without "+name, p, without(name), body, webhookNow)
	}
	refused("unsigned", p, http.Header{}, body, webhookNow)
	refused("stale", p, header, body, webhookNow.Add(payments.SignatureTolerance+time.Second))
	refused("from the future", p, header, body, webhookNow.Add(-payments.SignatureTolerance-time.Second))
	refused("unreadable time", p, with(paypal.HeaderTransmissionTime, "yesterday"), body, webhookNow)
	refused("not JSON", p, fake.Headers([]byte("id=1"), webhookNow), []byte("id=1"), webhookNow)
	assert.Len(t, fake.Seen(), seen, "no call to PayPal")
	assert.Empty(t, fake.Verifications())

	altered := bytes.Replace(body, []byte(`"o1"`), []byte(`"o2"`), 1)
	require.NotEqual(t, body, altered)
	refused("altered", p, header, altered, webhookNow)
	refused("forged", p, with(paypal.HeaderTransmissionSig, "bm90IGEgc2lnbmF0dXJl"), body, webhookNow)
	refused("another webhook", webhookProvider(t, srv.URL, "WH-2"), header, body, webhookNow)
	refused("another algorithm", p, with(paypal.HeaderAuthAlgo, "SHA1withRSA"), body, webhookNow)
	refused("a certificate not PayPal's", p, with(paypal.HeaderCertURL, "https://evil.example/cert.pem"), body, webhookNow)
	assert.Len(t, fake.Verifications(), 5, "asked PayPal, which answered FAILURE or refused")

	_, err = p.VerifyWebhook(header, body, webhookNow)
	require.NoError(t, err, "the delivery as PayPal made it")
}

// TestWebhookUnavailable checks that PayPal out of reach, or failing, is
// EUNAVAILABLE, for PayPal to deliver again, and that the redelivery goes
// through.
func TestWebhookUnavailable(t *testing.T) {
	t.Parallel()
	fake, srv := newFakePayPal(t)
	p := webhookProvider(t, srv.URL, "WH-1")
	auth, err := p.Authorize(t.Context(), payments.AuthorizeRequest{Key: "authorize:o1", OrderID: "o1",
		Amount: payments.Money{Amount: 100, Currency: "USD"}})
	require.NoError(t, err)
	body := fake.Event("WH-EVT-1", "CHECKOUT.ORDER.APPROVED", auth.PaymentID, webhookNow)
	header := fake.Headers(body, webhookNow)

	for _, status := range []int{500, 503, 429} {
		fake.FailNext(status)
		_, err = p.VerifyWebhook(header, body, webhookNow)
		assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err), "%d: %v", status, err)
	}
	ev, err := p.VerifyWebhook(header, body, webhookNow)
	require.NoError(t, err, "the redelivery")
	assert.Equal(t, payments.StatusApproved, ev.Status)

	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	_, err = webhookProvider(t, gone.URL, "WH-1").VerifyWebhook(header, body, webhookNow)
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err), "%v", err)

	wrong, err := paypal.New(paypal.Config{ClientID: "client-1", Secret: "wrong", APIURL: srv.URL, WebhookID: "WH-1"})
	require.NoError(t, err)
	_, err = wrong.VerifyWebhook(header, body, webhookNow)
	assert.Equal(t, emporium.EINTERNAL, emporium.ErrorCode(err), "bad credentials are ours to fix: %v", err)
}
