package sandbox

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
)

// SignatureHeader carries the signature of a sandbox webhook delivery, in
// the scheme of Stripe-Signature (payments.Sign) with Config.WebhookSecret.
const SignatureHeader = "Sandbox-Signature"

// EventTypePrefix starts the type of every sandbox event: "payment." and
// the payment's status, e.g. "payment.captured".
const EventTypePrefix = "payment."

// eventBody is the JSON body of a sandbox webhook delivery.
type eventBody struct {
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Created int64     `json:"created"`
	Data    eventData `json:"data"`
}

// eventData is the payment an event reports.
type eventData struct {
	PaymentID   string `json:"payment_id"`
	OrderID     string `json:"order_id"`
	Status      string `json:"status"`
	DeclineCode string `json:"decline_code,omitempty"`
}

// Sign returns the Sandbox-Signature of body signed with secret at t, for
// tests that deliver (or forge) sandbox webhooks.
func Sign(secret string, body []byte, t time.Time) string { return payments.Sign(secret, body, t) }

// VerifyWebhook implements payments.WebhookVerifier for the sandbox's
// deliveries: the Sandbox-Signature header must sign the raw body with
// Config.WebhookSecret within payments.SignatureTolerance of now; the body
// is then read leniently (unknown fields are ignored).
func (s *Sandbox) VerifyWebhook(header http.Header, body []byte, now time.Time) (payments.WebhookEvent, error) {
	const op = "sandbox.VerifyWebhook"
	if err := payments.VerifySignature(header.Get(SignatureHeader), body, s.cfg.WebhookSecret, now, payments.SignatureTolerance); err != nil {
		return payments.WebhookEvent{}, withOp(op, err)
	}
	var ev eventBody
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" || ev.Data.PaymentID == "" {
		return payments.WebhookEvent{}, &emporium.Error{Code: emporium.EMALFORMED, Op: op, Err: err,
			Message: "The webhook body is not a sandbox payment event."}
	}
	return payments.WebhookEvent{
		Provider:    Name,
		ID:          ev.ID,
		Type:        ev.Type,
		OrderID:     ev.Data.OrderID,
		PaymentID:   ev.Data.PaymentID,
		Status:      payments.Status(ev.Data.Status),
		DeclineCode: ev.Data.DeclineCode,
		Created:     time.Unix(ev.Created, 0).UTC(),
	}, nil
}

// Delivery returns the webhook delivery that reports payment id as it now
// is, signed with Config.WebhookSecret at the sandbox's clock: the headers
// and the body to POST to /v1/webhooks/sandbox. The event's id and body
// depend only on the payment's state, so delivering the same state again
// is a redelivery of the same event. ENOTFOUND when there is no such
// payment.
func (s *Sandbox) Delivery(ctx context.Context, id string) (http.Header, []byte, error) {
	p, err := s.Payment(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	ev := eventBody{
		ID:      derivedID("evt_", p.ID+"/"+string(p.Status)+"/"+strconv.Itoa(len(p.Operations))),
		Type:    EventTypePrefix + string(p.Status),
		Created: p.UpdatedAt.Unix(),
		Data:    eventData{PaymentID: p.ID, OrderID: p.OrderID, Status: string(p.Status), DeclineCode: p.DeclineCode},
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, nil, emporium.Wrap("sandbox.Delivery", err)
	}
	header := http.Header{}
	header.Set("Content-Type", "application/json")
	header.Set(SignatureHeader, Sign(s.cfg.WebhookSecret, body, s.now()))
	return header, body, nil
}
