package stripe

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v82"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
)

// SignatureHeader carries the signature of a Stripe webhook delivery.
const SignatureHeader = "Stripe-Signature"

// event is the part of a Stripe event the provider reads. It is decoded
// leniently: Stripe adds fields in new API versions, and an event of a
// version stripe-go does not know must still be read.
type event struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"`
	Data    struct {
		Object struct {
			ID               string            `json:"id"`
			Object           string            `json:"object"`
			Status           string            `json:"status"`
			Metadata         map[string]string `json:"metadata"`
			LastPaymentError *struct {
				Code        string `json:"code"`
				DeclineCode string `json:"decline_code"`
			} `json:"last_payment_error"`
		} `json:"object"`
	} `json:"data"`
}

// eventStatuses maps the PaymentIntent events the saga cares about to the
// status they report.
var eventStatuses = map[string]payments.Status{
	"payment_intent.amount_capturable_updated": payments.StatusAuthorized,
	"payment_intent.requires_action":           payments.StatusRequiresApproval,
	"payment_intent.succeeded":                 payments.StatusCaptured,
	"payment_intent.payment_failed":            payments.StatusDeclined,
	"payment_intent.canceled":                  payments.StatusVoided,
}

// intentStatuses maps a PaymentIntent's status, for its other events.
var intentStatuses = map[string]payments.Status{
	string(stripego.PaymentIntentStatusRequiresCapture): payments.StatusAuthorized,
	string(stripego.PaymentIntentStatusRequiresAction):  payments.StatusRequiresApproval,
	string(stripego.PaymentIntentStatusSucceeded):       payments.StatusCaptured,
	string(stripego.PaymentIntentStatusCanceled):        payments.StatusVoided,
}

// VerifyWebhook implements payments.WebhookVerifier for Stripe's
// deliveries: Stripe-Signature must sign the raw body with
// Config.WebhookSecret within payments.SignatureTolerance of now (any of
// several v1 signatures, as while Stripe rolls a secret). The event is
// then read leniently. A PaymentIntent event carries its id, the order id
// of its metadata and the status it reports; any other event has an empty
// Status, for the caller to acknowledge and ignore.
func (p *Provider) VerifyWebhook(header http.Header, body []byte, now time.Time) (payments.WebhookEvent, error) {
	const op = "stripe.VerifyWebhook"
	if err := payments.VerifySignature(header.Get(SignatureHeader), body, p.cfg.WebhookSecret, now, payments.SignatureTolerance); err != nil {
		return payments.WebhookEvent{}, err
	}
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" || ev.Type == "" {
		return payments.WebhookEvent{}, &emporium.Error{Code: emporium.EMALFORMED, Op: op, Err: err,
			Message: "The webhook body is not a Stripe event."}
	}
	out := payments.WebhookEvent{Provider: Name, ID: ev.ID, Type: ev.Type, Created: time.Unix(ev.Created, 0).UTC()}
	obj := ev.Data.Object
	if obj.Object != "payment_intent" || !strings.HasPrefix(ev.Type, "payment_intent.") {
		return out, nil
	}
	out.PaymentID, out.OrderID = obj.ID, obj.Metadata[MetadataOrderID]
	status, ok := eventStatuses[ev.Type]
	if !ok {
		status = intentStatuses[obj.Status]
	}
	out.Status = status
	if status == payments.StatusDeclined {
		out.DeclineCode = payments.DeclinePaymentDeclined
		if e := obj.LastPaymentError; e != nil {
			out.DeclineCode = declineCode(stripego.ErrorCode(e.Code), stripego.DeclineCode(e.DeclineCode))
		}
	}
	return out, nil
}

// SignForTest returns a Stripe-Signature of body signed with secret at t,
// as Stripe signs its deliveries, for tests that deliver (or forge) Stripe
// webhooks.
func SignForTest(secret string, body []byte, t time.Time) string {
	return payments.Sign(secret, body, t)
}
