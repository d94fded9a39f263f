package sandbox_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
	"github.com/emporium-shop/emporium/payments/sandbox"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
)

const secret = "whsec_sandbox"

func signed(body []byte, at time.Time) http.Header {
	h := http.Header{}
	h.Set(sandbox.SignatureHeader, sandbox.Sign(secret, body, at))
	return h
}

// TestWebhookDelivery makes a delivery of a payment's state and verifies
// it, as the gateway's webhook route would, three times over: the same
// event each time.
func TestWebhookDelivery(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	sb := sandbox.New(persistencetest.Open(t), sandbox.Config{Now: clk.Now, WebhookSecret: secret})
	auth, err := sb.Authorize(ctx, visa("o1", 1200))
	require.NoError(t, err)
	_, err = sb.Capture(ctx, payments.CaptureRequest{Key: "capture:o1", PaymentID: auth.PaymentID, Amount: payments.Money{Amount: 1200, Currency: "EUR"}})
	require.NoError(t, err)

	header, body, err := sb.Delivery(ctx, auth.PaymentID)
	require.NoError(t, err)
	want := payments.WebhookEvent{Provider: "sandbox", Type: "payment.captured", OrderID: "o1", PaymentID: auth.PaymentID,
		Status: payments.StatusCaptured, Created: clk.Now()}
	var first payments.WebhookEvent
	for i := range 3 {
		ev, err := sb.VerifyWebhook(header, body, clk.Now().Add(time.Duration(i)*time.Minute))
		require.NoError(t, err)
		if i == 0 {
			first = ev
			require.NotEmpty(t, ev.ID)
			want.ID = ev.ID
			assert.Equal(t, want, ev)
		}
		assert.Equal(t, first, ev, "the same delivery is the same event")
	}
	_, again, err := sb.Delivery(ctx, auth.PaymentID)
	require.NoError(t, err)
	assert.Equal(t, body, again, "a redelivery of the same state is the same event")

	_, _, err = sb.Delivery(ctx, "pay_none")
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err))
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	sb := sandbox.New(persistencetest.Open(t), sandbox.Config{WebhookSecret: secret})
	body := []byte(`{"id":"evt_1","type":"payment.declined","created":1893553445,"extra":{"a":1},` +
		`"data":{"payment_id":"pay_1","order_id":"o1","status":"declined","decline_code":"insufficient_funds","new_field":true}}`)

	ev, err := sb.VerifyWebhook(signed(body, now), body, now)
	require.NoError(t, err, "unknown fields are fine")
	assert.Equal(t, payments.WebhookEvent{Provider: "sandbox", ID: "evt_1", Type: "payment.declined", OrderID: "o1",
		PaymentID: "pay_1", Status: payments.StatusDeclined, DeclineCode: payments.DeclineInsufficientFunds,
		Created: time.Unix(1893553445, 0).UTC()}, ev)

	forged := http.Header{}
	forged.Set(sandbox.SignatureHeader, sandbox.Sign("whsec_guess", body, now))
	altered := []byte(string(body[:len(body)-2]) + `,"x":1}}`)
	for name, tc := range map[string]struct {
		header http.Header
		body   []byte
		at     time.Time
	}{
		"unsigned": {http.Header{}, body, now},
		"forged":   {forged, body, now},
		"altered":  {signed(body, now), altered, now},
		"stale":    {signed(body, now), body, now.Add(payments.SignatureTolerance + time.Second)},
	} {
		_, err := sb.VerifyWebhook(tc.header, tc.body, tc.at)
		assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(err), name)
	}

	_, err = sandbox.New(persistencetest.Open(t), sandbox.Config{}).VerifyWebhook(signed(body, now), body, now)
	assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(err), "without a secret nothing is verified")

	notAnEvent := []byte(`[1,2]`)
	_, err = sb.VerifyWebhook(signed(notAnEvent, now), notAnEvent, now)
	assert.Equal(t, emporium.EMALFORMED, emporium.ErrorCode(err))
}
