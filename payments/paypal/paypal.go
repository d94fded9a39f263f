// Package paypal is the PayPal payment provider, on the Orders v2 API: an
// authorization is a PayPal order created with intent AUTHORIZE, which the
// buyer approves at PayPal (the order waits in awaiting_payment with the
// approve link); Confirm then authorizes the approved order, and capture,
// void and refund act on the order's authorization and capture (Payments
// v2). The payment id is the PayPal order's id.
//
// The provider also reads PayPal's webhook deliveries (VerifyWebhook),
// which PayPal's own API verifies for it.
//
// Every request that changes something carries the saga step's key as
// PayPal-Request-Id, so that a repeated step gets PayPal's first answer
// instead of a second effect. The provider authenticates with OAuth 2.0
// client credentials and keeps the access token until shortly before it
// expires.
package paypal

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
)

// Name is the provider's name, as clients choose it.
const Name = "paypal"

// Base URLs of PayPal's API.
const (
	SandboxURL = "https://api-m.sandbox.paypal.com"
	LiveURL    = "https://api-m.paypal.com"
)

// DefaultTimeout bounds one HTTP request to PayPal when Config.HTTPClient
// is nil; the caller's context may end it sooner.
const DefaultTimeout = 20 * time.Second

// tokenMargin is how long before its expiry an access token is renewed,
// so that none expires in flight.
const tokenMargin = time.Minute

// Config configures a Provider; the fields are those of the environment
// variables PAYPAL_CLIENT_ID, PAYPAL_SECRET, PAYPAL_API_URL and
// PAYPAL_WEBHOOK_ID.
type Config struct {
	// ClientID is the REST app's client id.
	ClientID string
	// Secret is the REST app's secret. It is never logged: String masks
	// it.
	Secret string
	// APIURL is the API's base URL; empty means SandboxURL, so that a
	// configuration must name LiveURL to move real money.
	APIURL string
	// WebhookID is the id PayPal gave the webhook subscription that
	// delivers to us (WH-...), which PayPal's verification of a delivery
	// needs; empty refuses every delivery.
	WebhookID string
	// HTTPClient sends the requests; nil means a client with
	// DefaultTimeout.
	HTTPClient *http.Client
	// Now is the clock that ages access tokens; nil means time.Now.
	Now func() time.Time
}

// String describes cfg with its secret masked.
func (c Config) String() string {
	secret := "(unset)"
	if c.Secret != "" {
		secret = "****"
	}
	return fmt.Sprintf("paypal.Config{ClientID: %q, Secret: %s, APIURL: %q, WebhookID: %q}", c.ClientID, secret, c.APIURL, c.WebhookID)
}

// GoString is String, so that %#v masks the secret too.
func (c Config) GoString() string { return c.String() }

// Provider is the PayPal provider. It implements payments.Provider and is
// safe for concurrent use.
type Provider struct {
	cfg  Config
	http *http.Client

	// tokenLock guards token and expires; it is a channel so that a call
	// waiting for another's token fetch can give up when its context ends.
	tokenLock chan struct{}
	token     string
	expires   time.Time
}

var _ payments.Provider = (*Provider)(nil)

// New returns a PayPal provider; a configuration without client id or
// secret is EINVALID.
func New(cfg Config) (*Provider, error) {
	var fields []emporium.FieldError
	if cfg.ClientID == "" {
		fields = append(fields, emporium.Field("PAYPAL_CLIENT_ID", emporium.FieldRequired, "the PayPal provider needs a client id"))
	}
	if cfg.Secret == "" {
		fields = append(fields, emporium.Field("PAYPAL_SECRET", emporium.FieldRequired, "the PayPal provider needs a secret"))
	}
	if len(fields) > 0 {
		return nil, emporium.InvalidFields(fields...)
	}
	if cfg.APIURL == "" {
		cfg.APIURL = SandboxURL
	}
	cfg.APIURL = strings.TrimRight(cfg.APIURL, "/")
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: DefaultTimeout}
	}
	return &Provider{cfg: cfg, http: client, tokenLock: make(chan struct{}, 1)}, nil
}

// String describes the provider without its secret.
func (p *Provider) String() string { return "paypal.Provider{" + p.cfg.String() + "}" }

// GoString is String, so that %#v masks the secret too.
func (p *Provider) GoString() string { return p.String() }

// Name implements payments.Provider.
func (p *Provider) Name() string { return Name }

// Authorize implements payments.Provider: it creates a PayPal order with
// intent AUTHORIZE for the amount, the order id as its custom_id, under
// req.Key. The buyer chooses how to pay at PayPal, so req.Method is not
// sent; the answer is requires_approval with the approve link, and
// Confirm authorizes once the buyer approved.
func (p *Provider) Authorize(ctx context.Context, req payments.AuthorizeRequest) (payments.Authorization, error) {
	const op = "paypal.Authorize"
	fields := payments.CheckKey(nil, req.Key, maxKey)
	if req.OrderID == "" {
		fields = append(fields, emporium.Field("order_id", emporium.FieldRequired, "an order id is required"))
	}
	fields = payments.CheckMoney(fields, req.Amount)
	if len(fields) > 0 {
		return payments.Authorization{}, withOp(op, emporium.InvalidFields(fields...))
	}
	value := formatAmount(req.Amount)
	body := createOrder{
		Intent: "AUTHORIZE",
		PurchaseUnits: []purchaseUnitRequest{{
			ReferenceID: "default",
			CustomID:    req.OrderID,
			Amount:      amount{CurrencyCode: req.Amount.Currency, Value: value},
		}},
	}
	if req.ReturnURL != "" {
		body.PaymentSource = &paymentSource{PayPal: &paypalSource{ExperienceContext: experienceContext{
			ReturnURL: req.ReturnURL, CancelURL: req.ReturnURL, UserAction: "CONTINUE",
		}}}
	}
	var created order
	if err := p.call(ctx, op, http.MethodPost, "/v2/checkout/orders", req.Key, body, &created); err != nil {
		return payments.Authorization{}, err
	}
	return authorization(op, &created, req.Amount)
}

// Confirm implements payments.Provider: it authorizes the approved PayPal
// order, under req.Key. An order the buyer has not approved yet is
// answered requires_approval; one authorized before is answered as it
// is; a funding source PayPal refuses is a decline.
func (p *Provider) Confirm(ctx context.Context, req payments.ConfirmRequest) (payments.Authorization, error) {
	const op = "paypal.Confirm"
	if fields := payments.CheckPaymentID(payments.CheckKey(nil, req.Key, maxKey), req.PaymentID); len(fields) > 0 {
		return payments.Authorization{}, withOp(op, emporium.InvalidFields(fields...))
	}
	var authorized order
	err := p.call(ctx, op, http.MethodPost, "/v2/checkout/orders/"+pathID(req.PaymentID)+"/authorize", req.Key, struct{}{}, &authorized)
	switch {
	case err == nil:
		return authorization(op, &authorized, payments.Money{})
	case hasIssue(err, "INSTRUMENT_DECLINED", "TRANSACTION_REFUSED"):
		o, gerr := p.order(ctx, op, req.PaymentID)
		if gerr != nil {
			return payments.Authorization{}, gerr
		}
		auth, _ := authorization(op, o, payments.Money{})
		auth.Status, auth.DeclineCode, auth.ApprovalURL = payments.StatusDeclined, payments.DeclinePaymentDeclined, ""
		return auth, nil
	case hasIssue(err, "ORDER_NOT_APPROVED", "ORDER_ALREADY_AUTHORIZED", "PAYER_ACTION_REQUIRED"):
		// Not approved yet, or authorized by an earlier call: the order
		// says which.
		o, gerr := p.order(ctx, op, req.PaymentID)
		if gerr != nil {
			return payments.Authorization{}, gerr
		}
		return authorization(op, o, payments.Money{})
	}
	return payments.Authorization{}, err
}

// Capture implements payments.Provider: it captures the order's
// authorization for req.Amount, as the final capture, under req.Key.
func (p *Provider) Capture(ctx context.Context, req payments.CaptureRequest) (payments.Capture, error) {
	const op = "paypal.Capture"
	if fields := payments.CheckMoney(payments.CheckPaymentID(payments.CheckKey(nil, req.Key, maxKey), req.PaymentID), req.Amount); len(fields) > 0 {
		return payments.Capture{}, withOp(op, emporium.InvalidFields(fields...))
	}
	value := formatAmount(req.Amount)
	o, err := p.order(ctx, op, req.PaymentID)
	if err != nil {
		return payments.Capture{}, err
	}
	auth := o.authorization()
	if auth == nil {
		return payments.Capture{}, emporium.Errorf(emporium.ECONFLICT, "PayPal order %s is not authorized.", req.PaymentID)
	}
	body := captureRequest{Amount: &amount{CurrencyCode: req.Amount.Currency, Value: value}, FinalCapture: true}
	var captured capture
	if err := p.call(ctx, op, http.MethodPost, "/v2/payments/authorizations/"+pathID(auth.ID)+"/capture", req.Key, body, &captured); err != nil {
		return payments.Capture{}, err
	}
	c := payments.Capture{PaymentID: req.PaymentID, CaptureID: captured.ID, Amount: req.Amount}
	if m, err := captured.Amount.money(); err == nil && captured.Amount != nil {
		c.Amount = m
	}
	return c, nil
}

// Void implements payments.Provider: it voids the order's authorization,
// under req.Key. An order never authorized holds nothing (PayPal lets it
// expire), and one voided already stays so: both succeed. A captured one
// is ECONFLICT.
func (p *Provider) Void(ctx context.Context, req payments.VoidRequest) error {
	const op = "paypal.Void"
	if fields := payments.CheckPaymentID(payments.CheckKey(nil, req.Key, maxKey), req.PaymentID); len(fields) > 0 {
		return withOp(op, emporium.InvalidFields(fields...))
	}
	o, err := p.order(ctx, op, req.PaymentID)
	if err != nil {
		return err
	}
	auth := o.authorization()
	if auth == nil {
		return nil
	}
	err = p.call(ctx, op, http.MethodPost, "/v2/payments/authorizations/"+pathID(auth.ID)+"/void", req.Key, struct{}{}, nil)
	if hasIssue(err, "PREVIOUSLY_VOIDED") {
		return nil
	}
	return err
}

// Refund implements payments.Provider: it refunds req.Amount of the
// order's capture, under req.Key, with the reason as the note to the
// payer.
func (p *Provider) Refund(ctx context.Context, req payments.RefundRequest) (payments.Refund, error) {
	const op = "paypal.Refund"
	if fields := payments.CheckMoney(payments.CheckPaymentID(payments.CheckKey(nil, req.Key, maxKey), req.PaymentID), req.Amount); len(fields) > 0 {
		return payments.Refund{}, withOp(op, emporium.InvalidFields(fields...))
	}
	value := formatAmount(req.Amount)
	o, err := p.order(ctx, op, req.PaymentID)
	if err != nil {
		return payments.Refund{}, err
	}
	c := o.capture()
	if c == nil {
		return payments.Refund{}, emporium.Errorf(emporium.ECONFLICT, "PayPal order %s is not captured.", req.PaymentID)
	}
	body := refundRequest{Amount: amount{CurrencyCode: req.Amount.Currency, Value: value}, NoteToPayer: req.Reason}
	var refunded refund
	if err := p.call(ctx, op, http.MethodPost, "/v2/payments/captures/"+pathID(c.ID)+"/refund", req.Key, body, &refunded); err != nil {
		return payments.Refund{}, err
	}
	r := payments.Refund{RefundID: refunded.ID, Amount: req.Amount}
	if m, err := refunded.Amount.money(); err == nil && refunded.Amount != nil {
		r.Amount = m
	}
	return r, nil
}

// order reads a PayPal order.
func (p *Provider) order(ctx context.Context, op, id string) (*order, error) {
	var o order
	if err := p.call(ctx, op, http.MethodGet, "/v2/checkout/orders/"+pathID(id), "", nil, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// authorization maps a PayPal order to an Authorization; asked is the
// amount of the request, for an answer that lacks it.
func authorization(op string, o *order, asked payments.Money) (payments.Authorization, error) {
	auth := payments.Authorization{PaymentID: o.ID, Amount: asked}
	if m, err := o.amount(); err == nil {
		auth.Amount = m
	}
	switch o.Status {
	case "CREATED", "SAVED", "PAYER_ACTION_REQUIRED", "APPROVED":
		// APPROVED waits for Confirm, which authorizes it.
		auth.Status = payments.StatusRequiresApproval
		auth.ApprovalURL = o.link("payer-action", "approve")
		return auth, nil
	case "VOIDED":
		auth.Status = payments.StatusVoided
		return auth, nil
	case "COMPLETED":
	default:
		return payments.Authorization{}, &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op,
			Message: fmt.Sprintf("PayPal has not settled order %s yet (%s); ask again later.", o.ID, o.Status)}
	}
	a := o.authorization()
	if a == nil {
		return payments.Authorization{}, &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op,
			Message: fmt.Sprintf("PayPal order %s is completed without an authorization; ask again later.", o.ID)}
	}
	if m, err := a.Amount.money(); err == nil && a.Amount != nil {
		auth.Amount = m
	}
	switch a.Status {
	case "CREATED", "PARTIALLY_CAPTURED":
		auth.Status = payments.StatusAuthorized
	case "CAPTURED":
		auth.Status = payments.StatusCaptured
	case "VOIDED", "EXPIRED":
		auth.Status = payments.StatusVoided
	case "DENIED":
		auth.Status, auth.DeclineCode = payments.StatusDeclined, payments.DeclinePaymentDeclined
	default:
		// PENDING: PayPal is reviewing it.
		return payments.Authorization{}, &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op,
			Message: fmt.Sprintf("PayPal is reviewing the authorization of order %s; ask again later.", o.ID)}
	}
	return auth, nil
}

// maxKey is the longest idempotency key the provider takes (PayPal-Request-Id's limit on the Orders API).
const maxKey = 108

// withOp names operation op on err.
func withOp(op string, err *emporium.Error) error {
	err.Op = op
	return err
}
