package paypal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
)

// Headers of a PayPal webhook delivery, which PayPal's verification of the
// delivery takes.
const (
	HeaderAuthAlgo         = "PAYPAL-AUTH-ALGO"
	HeaderCertURL          = "PAYPAL-CERT-URL"
	HeaderTransmissionID   = "PAYPAL-TRANSMISSION-ID"
	HeaderTransmissionSig  = "PAYPAL-TRANSMISSION-SIG"
	HeaderTransmissionTime = "PAYPAL-TRANSMISSION-TIME"
)

// WebhookTimeout bounds the verification of one delivery at PayPal, the
// access token's fetch included: VerifyWebhook has no context, and PayPal
// redelivers what was not acknowledged.
const WebhookTimeout = 10 * time.Second

var _ payments.WebhookVerifier = (*Provider)(nil)

// verifyPath is PayPal's API that verifies a webhook delivery.
const verifyPath = "/v1/notifications/verify-webhook-signature"

// verifyRequest is the body of a verification, but for webhook_event: the
// delivered body, which encode appends byte for byte.
type verifyRequest struct {
	AuthAlgo         string          `json:"auth_algo"`
	CertURL          string          `json:"cert_url"`
	TransmissionID   string          `json:"transmission_id"`
	TransmissionSig  string          `json:"transmission_sig"`
	TransmissionTime string          `json:"transmission_time"`
	WebhookID        string          `json:"webhook_id"`
	WebhookEvent     json.RawMessage `json:"-"`
}

// encode writes the request with the event as webhook_event unchanged:
// json.Marshal would compact it and escape its <, > and &, and PayPal
// checks its signature over the bytes it delivered.
func (r verifyRequest) encode() (rawJSON, error) {
	if !json.Valid(r.WebhookEvent) {
		return nil, errors.New("the body is not JSON")
	}
	head, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(head)+len(r.WebhookEvent)+20)
	out = append(out, head[:len(head)-1]...) // without its closing brace
	out = append(out, `,"webhook_event":`...)
	out = append(out, r.WebhookEvent...)
	return append(out, '}'), nil
}

// verifyAnswer is PayPal's answer to a verification.
type verifyAnswer struct {
	VerificationStatus string `json:"verification_status"`
}

// webhookEvent is the part of a PayPal event the provider reads; resource
// is read only for the event types the provider maps, so that an event of
// another type is acknowledged whatever its resource looks like.
type webhookEvent struct {
	ID         string          `json:"id"`
	EventType  string          `json:"event_type"`
	CreateTime string          `json:"create_time"`
	Resource   json.RawMessage `json:"resource"`
}

// orderResource is the resource of a CHECKOUT.ORDER event: a PayPal order.
type orderResource struct {
	ID            string `json:"id"`
	PurchaseUnits []struct {
		CustomID string `json:"custom_id"`
	} `json:"purchase_units"`
}

// paymentResource is the resource of a PAYMENT.AUTHORIZATION or
// PAYMENT.CAPTURE event: an authorization or a capture of a PayPal order.
type paymentResource struct {
	CustomID          string `json:"custom_id"`
	SupplementaryData struct {
		RelatedIDs struct {
			OrderID string `json:"order_id"`
		} `json:"related_ids"`
	} `json:"supplementary_data"`
}

// eventStatuses maps the event types the saga cares about to the status
// they report.
var eventStatuses = map[string]payments.Status{
	"CHECKOUT.ORDER.APPROVED":       payments.StatusApproved,
	"CHECKOUT.ORDER.VOIDED":         payments.StatusDeclined,
	"PAYMENT.AUTHORIZATION.CREATED": payments.StatusAuthorized,
	"PAYMENT.AUTHORIZATION.VOIDED":  payments.StatusVoided,
	"PAYMENT.CAPTURE.COMPLETED":     payments.StatusCaptured,
	"PAYMENT.CAPTURE.DENIED":        payments.StatusDeclined,
}

// VerifyWebhook implements payments.WebhookVerifier for PayPal's
// deliveries, as PayPal recommends: PayPal's own verify-webhook-signature
// API checks the delivery's PAYPAL-* headers against the raw body, sent
// unchanged, and Config.WebhookID, with the provider's access token. A
// delivery is refused (EUNAUTHENTICATED) without asking PayPal when no
// webhook id is configured, a header is missing, the body is not JSON or
// its transmission time is more than payments.SignatureTolerance from now;
// and when PayPal answers anything but SUCCESS. PayPal out of reach is
// EUNAVAILABLE, for the delivery to come again. The whole verification is
// bounded by WebhookTimeout.
//
// The verified event is read leniently. PaymentID is the PayPal order's id,
// as Authorization.PaymentID: the resource's id for CHECKOUT.ORDER.APPROVED
// (approved) and CHECKOUT.ORDER.VOIDED (declined); its
// supplementary_data.related_ids.order_id for PAYMENT.AUTHORIZATION.CREATED
// (authorized), PAYMENT.AUTHORIZATION.VOIDED (voided),
// PAYMENT.CAPTURE.COMPLETED (captured) and PAYMENT.CAPTURE.DENIED
// (declined). OrderID is the custom_id Authorize set: the order's first
// purchase unit's, or the authorization's or capture's. Any other event
// has an empty Status, for the caller to acknowledge and ignore.
func (p *Provider) VerifyWebhook(header http.Header, body []byte, now time.Time) (payments.WebhookEvent, error) {
	const op = "paypal.VerifyWebhook"
	refuse := func(err error) error {
		return &emporium.Error{Code: emporium.EUNAUTHENTICATED, Op: op, Err: err,
			Message: "The webhook signature is missing or not valid."}
	}
	if p.cfg.WebhookID == "" {
		return payments.WebhookEvent{}, refuse(errors.New("no PayPal webhook id is configured"))
	}
	req := verifyRequest{
		AuthAlgo:         header.Get(HeaderAuthAlgo),
		CertURL:          header.Get(HeaderCertURL),
		TransmissionID:   header.Get(HeaderTransmissionID),
		TransmissionSig:  header.Get(HeaderTransmissionSig),
		TransmissionTime: header.Get(HeaderTransmissionTime),
		WebhookID:        p.cfg.WebhookID,
		WebhookEvent:     body,
	}
	for _, h := range [...]struct{ name, value string }{{HeaderAuthAlgo, req.AuthAlgo}, {HeaderCertURL, req.CertURL},
		{HeaderTransmissionID, req.TransmissionID}, {HeaderTransmissionSig, req.TransmissionSig}, {HeaderTransmissionTime, req.TransmissionTime}} {
		if h.value == "" {
			return payments.WebhookEvent{}, refuse(fmt.Errorf("the delivery has no %s header", h.name))
		}
	}
	sent, err := time.Parse(time.RFC3339, req.TransmissionTime)
	if err != nil {
		return payments.WebhookEvent{}, refuse(fmt.Errorf("the transmission time: %w", err))
	}
	if age := now.Sub(sent); age > payments.SignatureTolerance || age < -payments.SignatureTolerance {
		return payments.WebhookEvent{}, refuse(errors.New("the transmission time is outside the tolerance"))
	}
	payload, err := req.encode()
	if err != nil {
		return payments.WebhookEvent{}, refuse(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), WebhookTimeout)
	defer cancel()
	var answer verifyAnswer
	if err := p.call(ctx, op, http.MethodPost, verifyPath, "", payload, &answer); err != nil {
		switch emporium.ErrorCode(err) {
		case emporium.EUNAVAILABLE:
			return payments.WebhookEvent{}, &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Err: err,
				Message: "PayPal could not verify the webhook delivery now; deliver it again later."}
		case emporium.EINTERNAL:
			return payments.WebhookEvent{}, err // our credentials or our request
		}
		// PayPal refused to verify it (a malformed header, say).
		return payments.WebhookEvent{}, refuse(err)
	}
	if answer.VerificationStatus != "SUCCESS" {
		return payments.WebhookEvent{}, refuse(fmt.Errorf("PayPal's verification status is %q", answer.VerificationStatus))
	}
	return readEvent(op, body)
}

// readEvent reads a verified PayPal event.
func readEvent(op string, body []byte) (payments.WebhookEvent, error) {
	malformed := func(err error) error {
		return &emporium.Error{Code: emporium.EMALFORMED, Op: op, Err: err,
			Message: "The webhook body is not a PayPal event."}
	}
	var ev webhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return payments.WebhookEvent{}, malformed(err)
	}
	if ev.ID == "" || ev.EventType == "" {
		return payments.WebhookEvent{}, malformed(errors.New("the event has no id or no event_type"))
	}
	out := payments.WebhookEvent{Provider: Name, ID: ev.ID, Type: ev.EventType}
	if created, err := time.Parse(time.RFC3339, ev.CreateTime); err == nil {
		out.Created = created.UTC()
	}
	status, ok := eventStatuses[ev.EventType]
	if !ok {
		return out, nil
	}
	switch ev.EventType {
	case "CHECKOUT.ORDER.APPROVED", "CHECKOUT.ORDER.VOIDED":
		var o orderResource
		if err := json.Unmarshal(ev.Resource, &o); err != nil {
			return payments.WebhookEvent{}, malformed(err)
		}
		out.PaymentID = o.ID
		if len(o.PurchaseUnits) > 0 {
			out.OrderID = o.PurchaseUnits[0].CustomID
		}
	default:
		var r paymentResource
		if err := json.Unmarshal(ev.Resource, &r); err != nil {
			return payments.WebhookEvent{}, malformed(err)
		}
		out.PaymentID, out.OrderID = r.SupplementaryData.RelatedIDs.OrderID, r.CustomID
	}
	out.Status = status
	if status == payments.StatusDeclined {
		out.DeclineCode = payments.DeclinePaymentDeclined
	}
	return out, nil
}
