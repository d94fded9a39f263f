package stripe_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v82/webhook"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
	"github.com/emporium-shop/emporium/payments/stripe"
)

const whsec = "whsec_test_secret"

// eventBody returns a Stripe event of type about PaymentIntent pi_1 in
// status, for order o1, with fields of newer API versions the provider
// does not know.
func eventBody(typ, status, lastError string) []byte {
	return []byte(`{"id":"evt_1","object":"event","api_version":"2099-01-01.future","created":1893553445,"type":"` + typ + `",` +
		`"data":{"object":{"id":"pi_1","object":"payment_intent","status":"` + status + `","amount":1000,"currency":"usd",` +
		`"metadata":{"order_id":"o1"},"last_payment_error":` + lastError + `,"brand_new":{"x":[1,2]}}},"livemode":false}`)
}

func signedHeader(secret string, body []byte, at time.Time) http.Header {
	h := http.Header{}
	h.Set(stripe.SignatureHeader, stripe.SignForTest(secret, body, at))
	return h
}

func provider(t *testing.T) *stripe.Provider {
	p, err := stripe.New(stripe.Config{SecretKey: testKey, WebhookSecret: whsec})
	require.NoError(t, err)
	return p
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	p := provider(t)
	now := time.Unix(1893553500, 0)
	body := eventBody("payment_intent.succeeded", "succeeded", "null")
	want := payments.WebhookEvent{Provider: "stripe", ID: "evt_1", Type: "payment_intent.succeeded", OrderID: "o1",
		PaymentID: "pi_1", Status: payments.StatusCaptured, Created: time.Unix(1893553445, 0).UTC()}

	header := signedHeader(whsec, body, now)
	for range 3 {
		ev, err := p.VerifyWebhook(header, body, now)
		require.NoError(t, err)
		assert.Equal(t, want, ev, "the same delivery is the same event")
	}

	// Stripe's own signing, and several v1 signatures while a secret rolls.
	stripeSigned := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: whsec, Timestamp: now})
	_, err := p.VerifyWebhook(http.Header{stripe.SignatureHeader: {stripeSigned.Header}}, body, now)
	require.NoError(t, err, "a delivery signed as Stripe signs")
	require.NoError(t, webhook.ValidatePayloadWithTolerance(body, header.Get(stripe.SignatureHeader), whsec, 100*365*24*time.Hour),
		"SignForTest signs as Stripe does")
	old := stripe.SignForTest("whsec_old", body, now)
	_, oldSig, _ := strings.Cut(old, ",v1=")
	rolled := header.Get(stripe.SignatureHeader)
	rolled = strings.Replace(rolled, ",v1=", ",v1="+oldSig+",v1=", 1)
	_, err = p.VerifyWebhook(http.Header{stripe.SignatureHeader: {rolled}}, body, now)
	require.NoError(t, err, "one matching v1 signature among several")

	altered := []byte(strings.Replace(string(body), `"o1"`, `"o2"`, 1))
	for name, tc := range map[string]struct {
		header http.Header
		body   []byte
		at     time.Time
	}{
		"unsigned":  {http.Header{}, body, now},
		"forged":    {signedHeader("whsec_guess", body, now), body, now},
		"altered":   {header, altered, now},
		"stale":     {header, body, now.Add(payments.SignatureTolerance + time.Second)},
		"no secret": {header, body, now},
	} {
		verifier := p
		if name == "no secret" {
			verifier, err = stripe.New(stripe.Config{SecretKey: testKey})
			require.NoError(t, err)
		}
		_, err := verifier.VerifyWebhook(tc.header, tc.body, tc.at)
		assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(err), name)
		assert.NotContains(t, emporium.ErrorMessage(err), whsec, name)
	}
}

func TestWebhookEventStatuses(t *testing.T) {
	t.Parallel()
	p := provider(t)
	now := time.Unix(1893553500, 0)
	for _, tc := range []struct {
		typ, status, lastError string
		want                   payments.Status
		decline                string
	}{
		{"payment_intent.amount_capturable_updated", "requires_capture", "null", payments.StatusAuthorized, ""},
		{"payment_intent.succeeded", "succeeded", "null", payments.StatusCaptured, ""},
		{"payment_intent.canceled", "canceled", "null", payments.StatusVoided, ""},
		{"payment_intent.requires_action", "requires_action", "null", payments.StatusRequiresApproval, ""},
		{"payment_intent.payment_failed", "requires_payment_method", `{"code":"card_declined","decline_code":"insufficient_funds"}`, payments.StatusDeclined, payments.DeclineInsufficientFunds},
		{"payment_intent.payment_failed", "requires_payment_method", `{"code":"expired_card"}`, payments.StatusDeclined, payments.DeclinePaymentDeclined},
		{"payment_intent.created", "requires_capture", "null", payments.StatusAuthorized, ""},
		{"payment_intent.processing", "processing", "null", "", ""},
	} {
		body := eventBody(tc.typ, tc.status, tc.lastError)
		ev, err := p.VerifyWebhook(signedHeader(whsec, body, now), body, now)
		require.NoError(t, err, tc.typ)
		assert.Equal(t, tc.want, ev.Status, tc.typ)
		assert.Equal(t, tc.decline, ev.DeclineCode, tc.typ)
		assert.Equal(t, "o1", ev.OrderID, tc.typ)
		assert.Equal(t, "pi_1", ev.PaymentID, tc.typ)
	}

	charge := []byte(`{"id":"evt_2","type":"charge.refunded","created":1893553445,"data":{"object":{"id":"ch_1","object":"charge"}}}`)
	ev, err := p.VerifyWebhook(signedHeader(whsec, charge, now), charge, now)
	require.NoError(t, err)
	assert.Equal(t, payments.WebhookEvent{Provider: "stripe", ID: "evt_2", Type: "charge.refunded", Created: time.Unix(1893553445, 0).UTC()}, ev,
		"an event about something else says no status")

	junk := []byte(`{"not":"an event"}`)
	_, err = p.VerifyWebhook(signedHeader(whsec, junk, now), junk, now)
	assert.Equal(t, emporium.EMALFORMED, emporium.ErrorCode(err))
}
