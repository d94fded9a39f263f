// Package stripe is the Stripe payment provider: one PaymentIntent per
// payment, created with capture_method=manual and confirmed at once, so
// that Authorize holds the money and Capture takes it later (DESIGN §4).
//
// Every request that changes something carries the idempotency key of the
// saga's step (payments.Key), never stripe-go's random default, so that a
// step repeated after a crash or a timeout reaches Stripe as the same
// request and cannot charge twice. Each Provider has a client of its own;
// the package-level stripe.Key of stripe-go is never used.
//
// Tests run the provider contract against stripe-mock, which is stateless:
// it proves that the requests are well formed, while the mapping of
// Stripe's answers (declines, 3-D Secure, errors) is tested against
// recorded answers.
package stripe

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v82"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
)

// Name is the provider's name, as clients choose it.
const Name = "stripe"

// DefaultTimeout bounds one HTTP request to Stripe when Config.HTTPClient
// is nil; the caller's context may end it sooner.
const DefaultTimeout = 20 * time.Second

// MetadataOrderID is the PaymentIntent metadata key that holds the order
// id, which webhook events carry back.
const MetadataOrderID = "order_id"

// Config configures a Provider.
type Config struct {
	// SecretKey is the API secret key (sk_test_... or sk_live_...). It is
	// never logged: String masks it.
	SecretKey string
	// APIURL overrides the base URL of the API, e.g. stripe-mock's; empty
	// means Stripe's.
	APIURL string
	// WebhookSecret is the signing secret of the webhook endpoint
	// (whsec_...); empty refuses every delivery.
	WebhookSecret string
	// HTTPClient sends the requests; nil means a client with
	// DefaultTimeout.
	HTTPClient *http.Client
	// MaxNetworkRetries is how often stripe-go itself retries a request
	// that failed on the network or with a 5xx, with the same key. Zero
	// means none: the saga retries, with the same key, on its own
	// schedule.
	MaxNetworkRetries int
}

// String describes cfg with its secrets masked, so that a logged
// configuration never carries them.
func (c Config) String() string {
	return fmt.Sprintf("stripe.Config{SecretKey: %s, APIURL: %q, WebhookSecret: %s, MaxNetworkRetries: %d}",
		mask(c.SecretKey), c.APIURL, mask(c.WebhookSecret), c.MaxNetworkRetries)
}

// GoString is String, so that %#v masks the secrets too.
func (c Config) GoString() string { return c.String() }

// mask keeps a secret's kind (the prefix up to its last underscore, e.g.
// "sk_test_") and hides the rest.
func mask(secret string) string {
	if secret == "" {
		return "(unset)"
	}
	if i := strings.LastIndexByte(secret, '_'); i >= 0 && i < 10 {
		return secret[:i+1] + "****"
	}
	return "****"
}

// Provider is the Stripe provider. It implements payments.Provider and
// payments.WebhookVerifier and is safe for concurrent use.
type Provider struct {
	client *stripego.Client
	cfg    Config
}

// The interfaces a Provider implements.
var (
	_ payments.Provider        = (*Provider)(nil)
	_ payments.WebhookVerifier = (*Provider)(nil)
)

// New returns a Stripe provider with a client of its own; a configuration
// without a secret key is EINVALID.
func New(cfg Config) (*Provider, error) {
	if cfg.SecretKey == "" {
		return nil, emporium.Invalid("STRIPE_SECRET_KEY", emporium.FieldRequired, "the Stripe provider needs a secret key")
	}
	httpClient := cfg.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{Timeout: DefaultTimeout}
	}
	backendCfg := &stripego.BackendConfig{
		HTTPClient:        httpClient,
		MaxNetworkRetries: stripego.Int64(int64(max(cfg.MaxNetworkRetries, 0))),
		// Errors are returned to the caller, which logs what it must.
		LeveledLogger: &stripego.LeveledLogger{Level: stripego.LevelNull},
	}
	if cfg.APIURL != "" {
		backendCfg.URL = stripego.String(cfg.APIURL)
	}
	client := stripego.NewClient(cfg.SecretKey, stripego.WithBackends(stripego.NewBackendsWithConfig(backendCfg)))
	return &Provider{client: client, cfg: cfg}, nil
}

// String describes the provider without its secrets.
func (p *Provider) String() string { return "stripe.Provider{" + p.cfg.String() + "}" }

// GoString is String, so that %#v masks the secrets too.
func (p *Provider) GoString() string { return p.String() }

// Name implements payments.Provider.
func (p *Provider) Name() string { return Name }

// Authorize implements payments.Provider: it creates and confirms a
// PaymentIntent with manual capture, under req.Key. A token (tok_...) is
// first made a PaymentMethod, under a key derived from req.Key; any other
// method is taken as a PaymentMethod id (pm_...). A card error is a
// decline, not an error.
func (p *Provider) Authorize(ctx context.Context, req payments.AuthorizeRequest) (payments.Authorization, error) {
	const op = "stripe.Authorize"
	fields := payments.CheckKey(nil, req.Key, maxKey)
	if req.OrderID == "" {
		fields = append(fields, emporium.Field("order_id", emporium.FieldRequired, "an order id is required"))
	}
	fields = payments.CheckMoney(fields, req.Amount)
	if req.Method == "" {
		fields = append(fields, emporium.Field("payment.token", emporium.FieldRequired, "a payment method is required"))
	}
	if len(fields) > 0 {
		return payments.Authorization{}, withOp(op, emporium.InvalidFields(fields...))
	}
	method, err := p.paymentMethod(ctx, req)
	if err != nil {
		return payments.Authorization{}, err
	}
	params := &stripego.PaymentIntentCreateParams{
		Amount:             stripego.Int64(req.Amount.Amount),
		Currency:           stripego.String(strings.ToLower(req.Amount.Currency)),
		CaptureMethod:      stripego.String(string(stripego.PaymentIntentCaptureMethodManual)),
		Confirm:            stripego.Bool(true),
		PaymentMethod:      stripego.String(method),
		PaymentMethodTypes: []*string{stripego.String("card")},
		Description:        stripego.String("Order " + req.OrderID),
		Metadata:           map[string]string{MetadataOrderID: req.OrderID},
	}
	if req.ReturnURL != "" {
		params.ReturnURL = stripego.String(req.ReturnURL)
	}
	params.IdempotencyKey = stripego.String(req.Key)
	intent, err := p.client.V1PaymentIntents.Create(ctx, params)
	if err != nil {
		if auth, ok := declined(err, req.Amount); ok {
			return auth, nil
		}
		return payments.Authorization{}, mapError(op, err)
	}
	return authorization(op, intent, req.Amount)
}

// paymentMethod returns the PaymentMethod id to authorize with: req.Method
// itself, or for a token the PaymentMethod made from it, under the key
// "payment_method:" + req.Key (a key is bound to one endpoint at Stripe).
func (p *Provider) paymentMethod(ctx context.Context, req payments.AuthorizeRequest) (string, error) {
	const op = "stripe.Authorize"
	if !strings.HasPrefix(req.Method, "tok_") {
		return req.Method, nil
	}
	params := &stripego.PaymentMethodCreateParams{
		Type: stripego.String(string(stripego.PaymentMethodTypeCard)),
		Card: &stripego.PaymentMethodCreateCardParams{Token: stripego.String(req.Method)},
	}
	params.IdempotencyKey = stripego.String("payment_method:" + req.Key)
	pm, err := p.client.V1PaymentMethods.Create(ctx, params)
	if err != nil {
		if tokenRefused(err) {
			return "", &emporium.Error{Code: emporium.EINVALID, Op: op, Err: err,
				Message: "Stripe does not know the payment token.",
				Fields:  []emporium.FieldError{emporium.Field("payment.token", emporium.FieldInvalid, "the token is unknown or used")}}
		}
		return "", mapError(op, err)
	}
	return pm.ID, nil
}

// Confirm implements payments.Provider: it reads the PaymentIntent after
// the buyer came back from authenticating, confirms it (under req.Key)
// if it still waits for a confirmation, and answers it as it now is.
func (p *Provider) Confirm(ctx context.Context, req payments.ConfirmRequest) (payments.Authorization, error) {
	const op = "stripe.Confirm"
	if fields := payments.CheckPaymentID(payments.CheckKey(nil, req.Key, maxKey), req.PaymentID); len(fields) > 0 {
		return payments.Authorization{}, withOp(op, emporium.InvalidFields(fields...))
	}
	intent, err := p.client.V1PaymentIntents.Retrieve(ctx, req.PaymentID, &stripego.PaymentIntentRetrieveParams{})
	if err != nil {
		return payments.Authorization{}, mapError(op, err)
	}
	if intent.Status == stripego.PaymentIntentStatusRequiresConfirmation {
		params := &stripego.PaymentIntentConfirmParams{}
		params.IdempotencyKey = stripego.String(req.Key)
		amount := money(intent.Amount, intent.Currency)
		intent, err = p.client.V1PaymentIntents.Confirm(ctx, req.PaymentID, params)
		if err != nil {
			if auth, ok := declined(err, amount); ok {
				return auth, nil
			}
			return payments.Authorization{}, mapError(op, err)
		}
	}
	return authorization(op, intent, money(intent.Amount, intent.Currency))
}

// Capture implements payments.Provider: it captures the PaymentIntent for
// req.Amount, under req.Key.
func (p *Provider) Capture(ctx context.Context, req payments.CaptureRequest) (payments.Capture, error) {
	const op = "stripe.Capture"
	if fields := payments.CheckMoney(payments.CheckPaymentID(payments.CheckKey(nil, req.Key, maxKey), req.PaymentID), req.Amount); len(fields) > 0 {
		return payments.Capture{}, withOp(op, emporium.InvalidFields(fields...))
	}
	params := &stripego.PaymentIntentCaptureParams{AmountToCapture: stripego.Int64(req.Amount.Amount)}
	params.IdempotencyKey = stripego.String(req.Key)
	intent, err := p.client.V1PaymentIntents.Capture(ctx, req.PaymentID, params)
	if err != nil {
		return payments.Capture{}, mapError(op, err)
	}
	c := payments.Capture{PaymentID: intent.ID, Amount: req.Amount}
	if intent.AmountReceived > 0 {
		c.Amount = money(intent.AmountReceived, intent.Currency)
	}
	if intent.LatestCharge != nil {
		c.CaptureID = intent.LatestCharge.ID
	}
	return c, nil
}

// Void implements payments.Provider: it cancels the PaymentIntent, under
// req.Key. Stripe refuses to cancel an intent that is canceled or
// captured already; the intent is then read to answer which: nil for
// canceled, ECONFLICT for captured.
func (p *Provider) Void(ctx context.Context, req payments.VoidRequest) error {
	const op = "stripe.Void"
	if fields := payments.CheckPaymentID(payments.CheckKey(nil, req.Key, maxKey), req.PaymentID); len(fields) > 0 {
		return withOp(op, emporium.InvalidFields(fields...))
	}
	params := &stripego.PaymentIntentCancelParams{}
	params.IdempotencyKey = stripego.String(req.Key)
	_, err := p.client.V1PaymentIntents.Cancel(ctx, req.PaymentID, params)
	if err == nil {
		return nil
	}
	mapped := mapError(op, err)
	if !emporium.IsCode(mapped, emporium.ECONFLICT) {
		return mapped
	}
	intent, rerr := p.client.V1PaymentIntents.Retrieve(ctx, req.PaymentID, &stripego.PaymentIntentRetrieveParams{})
	if rerr != nil {
		return mapError(op, rerr)
	}
	switch intent.Status {
	case stripego.PaymentIntentStatusCanceled:
		return nil
	case stripego.PaymentIntentStatusSucceeded:
		return &emporium.Error{Code: emporium.ECONFLICT, Op: op, Err: err,
			Message: "The payment is captured; refund it instead of voiding it."}
	}
	return mapped
}

// refundReasons are the reasons Stripe takes as a refund's reason; any
// other goes in the refund's metadata.
var refundReasons = map[string]bool{"duplicate": true, "fraudulent": true, "requested_by_customer": true}

// Refund implements payments.Provider: it refunds req.Amount of the
// PaymentIntent, under req.Key.
func (p *Provider) Refund(ctx context.Context, req payments.RefundRequest) (payments.Refund, error) {
	const op = "stripe.Refund"
	if fields := payments.CheckMoney(payments.CheckPaymentID(payments.CheckKey(nil, req.Key, maxKey), req.PaymentID), req.Amount); len(fields) > 0 {
		return payments.Refund{}, withOp(op, emporium.InvalidFields(fields...))
	}
	params := &stripego.RefundCreateParams{
		PaymentIntent: stripego.String(req.PaymentID),
		Amount:        stripego.Int64(req.Amount.Amount),
	}
	if refundReasons[req.Reason] {
		params.Reason = stripego.String(req.Reason)
	} else if req.Reason != "" {
		params.Metadata = map[string]string{"reason": req.Reason}
	}
	params.IdempotencyKey = stripego.String(req.Key)
	refund, err := p.client.V1Refunds.Create(ctx, params)
	if err != nil {
		return payments.Refund{}, mapError(op, err)
	}
	return payments.Refund{RefundID: refund.ID, Amount: money(refund.Amount, refund.Currency)}, nil
}

// authorization maps a PaymentIntent to an Authorization for amount (the
// amount asked, which a declined intent's answer may lack).
func authorization(op string, intent *stripego.PaymentIntent, amount payments.Money) (payments.Authorization, error) {
	auth := payments.Authorization{PaymentID: intent.ID, Amount: amount}
	if intent.Amount > 0 && intent.Currency != "" {
		auth.Amount = money(intent.Amount, intent.Currency)
	}
	switch intent.Status {
	case stripego.PaymentIntentStatusRequiresCapture:
		auth.Status = payments.StatusAuthorized
	case stripego.PaymentIntentStatusRequiresAction, stripego.PaymentIntentStatusRequiresConfirmation:
		auth.Status = payments.StatusRequiresApproval
		if intent.NextAction != nil && intent.NextAction.RedirectToURL != nil {
			auth.ApprovalURL = intent.NextAction.RedirectToURL.URL
		}
	case stripego.PaymentIntentStatusRequiresPaymentMethod:
		// After a confirmation, this is a payment method that failed.
		auth.Status = payments.StatusDeclined
		auth.DeclineCode = payments.DeclinePaymentDeclined
		if e := intent.LastPaymentError; e != nil {
			auth.DeclineCode = declineCode(e.Code, e.DeclineCode)
		}
	case stripego.PaymentIntentStatusCanceled:
		auth.Status = payments.StatusVoided
	case stripego.PaymentIntentStatusSucceeded:
		auth.Status = payments.StatusCaptured
	default:
		// processing: cards never stay there, and a replay of the key
		// would answer the same; the caller asks again later.
		return payments.Authorization{}, &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op,
			Message: fmt.Sprintf("Stripe has not settled payment %s yet (%s); ask again later.", intent.ID, intent.Status)}
	}
	return auth, nil
}

// declined returns the Authorization of a card error, which is Stripe's
// answer to a declined card; ok is false for any other error.
func declined(err error, amount payments.Money) (payments.Authorization, bool) {
	se, ok := asStripeError(err)
	if !ok || se.Type != stripego.ErrorTypeCard {
		return payments.Authorization{}, false
	}
	auth := payments.Authorization{Status: payments.StatusDeclined, Amount: amount,
		DeclineCode: declineCode(se.Code, se.DeclineCode)}
	if se.PaymentIntent != nil {
		auth.PaymentID = se.PaymentIntent.ID
	}
	return auth, true
}

// declineCode maps Stripe's error and decline codes to ours: insufficient
// funds is told apart, every other decline is payment_declined.
func declineCode(code stripego.ErrorCode, decline stripego.DeclineCode) string {
	if decline == stripego.DeclineCodeInsufficientFunds || string(code) == string(stripego.DeclineCodeInsufficientFunds) {
		return payments.DeclineInsufficientFunds
	}
	return payments.DeclinePaymentDeclined
}

// money converts a Stripe amount and currency.
func money(amount int64, currency stripego.Currency) payments.Money {
	return payments.Money{Amount: amount, Currency: strings.ToUpper(string(currency))}
}

// maxKey is the longest idempotency key the provider takes (Stripe's limit on an Idempotency-Key).
const maxKey = 255

// withOp names operation op on err, keeping its code, message and fields.
func withOp(op string, err *emporium.Error) error {
	err.Op = op
	return err
}
