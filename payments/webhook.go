package payments

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	emporium "github.com/emporium-shop/emporium"
)

// WebhookEvent is one provider notification about a payment, after its
// signature was verified and its body parsed. Delivering the same event
// twice gives the same WebhookEvent (the same ID): deduplicating is the
// order grain's job, which applies an event once and never moves an order
// backwards.
type WebhookEvent struct {
	// Provider names the provider that sent the event: "stripe",
	// "sandbox", ...
	Provider string
	// ID is the provider's id of the event, stable across redeliveries.
	ID string
	// Type is the provider's own event type, e.g.
	// "payment_intent.succeeded".
	Type string
	// OrderID is the order the payment is for, from the payment's
	// metadata; empty when the provider did not say.
	OrderID string
	// PaymentID is the provider's id of the payment, as
	// Authorization.PaymentID.
	PaymentID string
	// Status is the payment's state the event reports; empty for an event
	// that says nothing about one (the caller acknowledges and ignores it).
	Status Status
	// DeclineCode is one of the Decline... codes when Status is declined.
	DeclineCode string
	// Created is when the provider created the event.
	Created time.Time
}

// WebhookVerifier checks and reads a provider's webhook deliveries. A
// delivery that is unsigned, forged, altered or older than the tolerance is
// EUNAUTHENTICATED, with a message that tells nothing of why; a signed
// body that cannot be read is EMALFORMED. The body is verified as the raw
// bytes received, then parsed leniently: fields the provider adds are
// ignored.
type WebhookVerifier interface {
	VerifyWebhook(header http.Header, body []byte, now time.Time) (WebhookEvent, error)
}

// SignatureTolerance is how far the timestamp of a signed webhook may be
// from now: 300 s, Stripe's default, long enough for a retried delivery
// and short enough that a captured delivery cannot be replayed later.
const SignatureTolerance = 300 * time.Second

// Sign returns the value of a signature header for body, signed with
// secret at t, in the scheme of Stripe-Signature:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<unix seconds>.<body>">".
// Providers use it to sign the deliveries they make and tests to sign
// the deliveries they forge.
func Sign(secret string, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(signature(secret, ts, body))
}

// signature is the HMAC-SHA256 of "<timestamp>.<body>" with secret.
func signature(secret, ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// VerifySignature checks a signature header made as Sign makes it: its
// timestamp is within tolerance of now, and one of its v1 signatures (a
// provider rolling its secret sends several) is that of body with secret.
// Anything else, an empty secret included, is EUNAUTHENTICATED. The
// reason is kept as the error's cause for logs, never in its message, so
// that a forger learns nothing from the answer.
func VerifySignature(header string, body []byte, secret string, now time.Time, tolerance time.Duration) error {
	refuse := func(reason string) error {
		return &emporium.Error{
			Code:    emporium.EUNAUTHENTICATED,
			Message: "The webhook signature is missing or not valid.",
			Op:      "payments.VerifySignature",
			Err:     errors.New(reason),
		}
	}
	if secret == "" {
		// An HMAC with an empty key is one anybody can make.
		return refuse("no webhook secret is configured")
	}
	if header == "" {
		return refuse("the delivery is not signed")
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if sig, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, sig)
			}
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return refuse("the signature has no timestamp")
	}
	if len(sigs) == 0 {
		return refuse("the signature has no v1 signature")
	}
	if age := now.Sub(time.Unix(unix, 0)); age > tolerance || age < -tolerance {
		return refuse("the signature's timestamp is outside the tolerance")
	}
	want := signature(secret, ts, body)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return refuse("no v1 signature matches the body")
}
