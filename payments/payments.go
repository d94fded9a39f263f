// Package payments is the contract between the checkout saga and a payment
// provider (DESIGN §4): one Provider interface, implemented by sandbox/ (the
// built-in stateful test provider, the default), stripe/ (PaymentIntents)
// and paypal/ (Orders v2), and one contract test suite (paymentstest) that
// every implementation passes.
//
// Every call carries an idempotency key that the saga derives from the
// order id and the step (Key), never a random one, so that a step repeated
// after a crash or a timeout reaches the provider as the same request: the
// provider answers the first result again instead of charging twice. No card
// data crosses this interface: a payment method is a provider token or id
// (the sandbox's test tokens are the Token... constants).
//
// Providers also notify: a WebhookVerifier checks a delivery's signature
// over the raw body (Sign and VerifySignature implement the t=,v1= HMAC
// scheme of Stripe-Signature, which the sandbox shares) and reads it into a
// WebhookEvent, which the order grain applies at most once.
package payments

import (
	"context"
	"strconv"
)

// Provider is one payment service provider. Implementations are safe for
// concurrent use. A method that returns an error whose emporium code is
// EUNAVAILABLE left the outcome unknown (a timeout, a connection reset, a
// 5xx): the caller retries the same request with the same key until it gets
// an answer. Other errors are final answers about the request itself
// (EINVALID: malformed or a key reused with other parameters; ECONFLICT: a
// request with the same key is still in flight; ENOTFOUND: no such
// payment).
type Provider interface {
	// Name is the provider's name as clients choose it: "sandbox",
	// "stripe", "paypal".
	Name() string
	// Authorize places a hold of the amount on the payment method. A decline
	// is an answer, not an error: Authorization.Status says it.
	Authorize(ctx context.Context, req AuthorizeRequest) (Authorization, error)
	// Confirm asks again about an authorization that waited for the buyer's
	// approval (StatusRequiresApproval), after the buyer came back: it
	// answers the authorization as it now is (authorized once approved,
	// still requires_approval when the buyer has not approved yet, declined
	// or voided when it was refused or abandoned).
	Confirm(ctx context.Context, req ConfirmRequest) (Authorization, error)
	// Capture takes the authorized amount (or less).
	Capture(ctx context.Context, req CaptureRequest) (Capture, error)
	// Void cancels an authorization that was not captured. Voiding one that
	// is already voided succeeds; voiding a captured one is ECONFLICT.
	Void(ctx context.Context, req VoidRequest) error
	// Refund gives back part or all of a captured amount.
	Refund(ctx context.Context, req RefundRequest) (Refund, error)
}

// Money is an amount in minor units of a currency (ISO 4217, upper case).
type Money struct {
	Amount   int64
	Currency string
}

// AuthorizeRequest asks for a hold.
type AuthorizeRequest struct {
	// Key is the idempotency key: Key(order, StepAuthorize).
	Key string
	// OrderID is the order the payment is for (metadata at the provider).
	OrderID string
	Amount  Money
	// Method is the provider's token or payment-method id, e.g. tok_visa.
	Method string
	// ReturnURL is where a provider that needs the buyer's approval sends
	// the buyer back; empty when the client does not need it.
	ReturnURL string
}

// ConfirmRequest asks about an authorization after the buyer's approval.
type ConfirmRequest struct {
	// Key is the idempotency key: Key(order, StepConfirm).
	Key       string
	PaymentID string
}

// CaptureRequest takes money held by an authorization.
type CaptureRequest struct {
	// Key is the idempotency key: Key(order, StepCapture).
	Key       string
	PaymentID string
	Amount    Money
}

// VoidRequest cancels an authorization.
type VoidRequest struct {
	// Key is the idempotency key: Key(order, StepVoid).
	Key       string
	PaymentID string
}

// RefundRequest gives money back.
type RefundRequest struct {
	// Key is the idempotency key: RefundKey(order, n) for the order's n-th
	// refund.
	Key       string
	PaymentID string
	Amount    Money
	Reason    string
}

// Status is the state of an authorization.
type Status string

// Statuses of an authorization.
const (
	StatusAuthorized       Status = "authorized"
	StatusRequiresApproval Status = "requires_approval"
	// StatusApproved: the buyer approved the payment at the provider; the
	// saga must now ask the provider (Confirm) to authorise it. Only
	// webhook events report it (PayPal's CHECKOUT.ORDER.APPROVED): Authorize
	// and Confirm answer an approved payment not yet authorised as
	// requires_approval.
	StatusApproved Status = "approved"
	StatusDeclined Status = "declined"
	StatusVoided   Status = "voided"
	StatusCaptured Status = "captured"
)

// Decline codes say why an authorization was declined; the saga ends the
// order failed with the same code.
const (
	DeclinePaymentDeclined   = "payment_declined"
	DeclineInsufficientFunds = "insufficient_funds"
)

// Authorization is a provider's answer to Authorize or Confirm.
type Authorization struct {
	// PaymentID is the provider's id of the payment (a PaymentIntent, a
	// PayPal order); set whenever the provider created one, declined too.
	PaymentID string
	Status    Status
	Amount    Money
	// DeclineCode is one of the Decline... codes when Status is declined.
	DeclineCode string
	// ApprovalURL is where the buyer approves the payment when Status is
	// requires_approval.
	ApprovalURL string
}

// Capture is a provider's answer to Capture.
type Capture struct {
	PaymentID string
	// CaptureID is the provider's id of the capture, when it has one.
	CaptureID string
	Amount    Money
}

// Refund is a provider's answer to Refund.
type Refund struct {
	RefundID string
	Amount   Money
}

// Steps of the saga that call a provider; Key combines them with the order.
const (
	StepAuthorize = "authorize"
	StepConfirm   = "confirm"
	StepCapture   = "capture"
	StepVoid      = "void"
)

// Key returns the idempotency key of an order's step: "authorize:{order}".
func Key(orderID, step string) string { return step + ":" + orderID }

// AdjustmentKey returns the idempotency key of the refund of an order's
// adjustment (lines cancelled or money refunded after the order was
// confirmed): "refund:{order}:{adjustment}". Adjustment ids are not
// numbers, so these never meet RefundKey's.
func AdjustmentKey(orderID, adjustmentID string) string {
	return "refund:" + orderID + ":" + adjustmentID
}

// RefundKey returns the idempotency key of an order's n-th refund:
// "refund:{order}:{n}".
func RefundKey(orderID string, n int) string {
	return "refund:" + orderID + ":" + strconv.Itoa(n)
}
