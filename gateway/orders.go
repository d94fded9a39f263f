package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/ratelimit"
)

// This file serves emporium.Orders and emporium.PaymentWebhooks over HTTP
// (DESIGN §4 Checkout saga, §8): shipping methods, the checkout preview,
// placing an order, the buyer's orders, and the payment providers'
// notifications. Prices, totals, statuses and ids are the order service's;
// a client only proposes the total it expects (expected_total), which the
// service checks.

// Bounds of the order routes.
const (
	// DefaultOrderWait is how long POST /v1/orders waits for the checkout
	// saga's outcome when the request does not say (?wait=): long enough
	// for an order that needs no approval to be confirmed or failed in the
	// answer, short enough to keep a connection for.
	DefaultOrderWait = 2 * time.Second
	// MaxOrderWait is the longest wait a request may ask for.
	MaxOrderWait = 10 * time.Second
	// MaxWebhookBytes limits the body of a payment provider's notification.
	// Providers' events are a few KiB.
	MaxWebhookBytes = 64 << 10

	// MaxOrderIDLength bounds the ids a checkout body names (an address, a
	// shipping method).
	MaxOrderIDLength = 128
	// MaxProviderLength bounds a payment provider's name.
	MaxProviderLength = 64
	// MaxPaymentTokenLength bounds a payment token or payment-method id:
	// providers' are tens of characters.
	MaxPaymentTokenLength = 512
	// MaxReturnURLLength bounds payment.return_url.
	MaxReturnURLLength = 2048
)

// mountOrders registers the order and webhook routes. The buyer's routes
// need a bearer token, so they exist only when the gateway authenticates.
func (s *Server) mountOrders() {
	if s.orders != nil {
		s.Handle("GET /v1/shipping-methods", s.listShippingMethods)
		if s.accounts != nil {
			s.Handle("POST /v1/checkout/preview", s.Authenticated(s.previewCheckout))
			s.Handle("POST /v1/orders", s.Authenticated(s.placeOrder))
			s.Handle("GET /v1/orders", s.Authenticated(s.listOrders))
			s.Handle("GET /v1/orders/{id}", s.Authenticated(s.getOrder))
			s.Handle("POST /v1/orders/{id}/cancel", s.Authenticated(s.cancelOrder))
			s.Handle("POST /v1/orders/{id}/payment/confirm", s.Authenticated(s.confirmPayment))
			s.Handle("GET /v1/vendor/orders", s.Authenticated(s.listVendorOrders))
			s.Handle("GET /v1/vendor/orders/{id}", s.Authenticated(s.getVendorOrder))
			s.mountFulfilment()
		}
	}
	if s.webhooks != nil {
		s.Handle("POST /v1/webhooks/{provider}", s.deliverWebhook)
	}
}

// Shipping methods.

// countryCode is the form of ?country=: ISO 3166-1 alpha-2, either case.
var countryCode = regexp.MustCompile(`^[A-Za-z]{2}$`)

func (s *Server) listShippingMethods(w http.ResponseWriter, r *http.Request) error {
	country := r.URL.Query().Get("country")
	if country != "" && !countryCode.MatchString(country) {
		return badQuery([]emporium.FieldError{{Field: "country", Code: emporium.FieldInvalid, Message: "must be an ISO 3166-1 alpha-2 country code (two letters)"}})
	}
	methods, err := s.orders.ShippingMethods(r.Context(), strings.ToUpper(country))
	if err != nil {
		return err
	}
	if methods == nil {
		methods = []emporium.ShippingMethod{}
	}
	return Respond(w, http.StatusOK, struct {
		Items []emporium.ShippingMethod `json:"items"`
	}{methods})
}

// Request bodies.

// orderOwned are members of an order, a preview or their lines that only
// the server writes: a client that sends one is refused (read_only), so
// that nobody believes a total, a price or a status was taken from them.
type orderOwned struct {
	ID                readOnly `json:"id"`
	UserID            readOnly `json:"user_id"`
	Status            readOnly `json:"status"`
	PaymentStatus     readOnly `json:"payment_status"`
	Lines             readOnly `json:"lines"`
	Shipments         readOnly `json:"shipments"`
	Subtotal          readOnly `json:"subtotal"`
	Shipping          readOnly `json:"shipping"`
	Tax               readOnly `json:"tax"`
	Total             readOnly `json:"total"`
	Price             readOnly `json:"price"`
	UnitPrice         readOnly `json:"unit_price"`
	LineTotal         readOnly `json:"line_total"`
	ShippingAddress   readOnly `json:"shipping_address"`
	BillingAddress    readOnly `json:"billing_address"`
	EstimatedDelivery readOnly `json:"estimated_delivery"`
	FailureReason     readOnly `json:"failure_reason"`
	OutOfStockSKUs    readOnly `json:"out_of_stock_skus"`
	Seq               readOnly `json:"seq"`
	CreatedAt         readOnly `json:"created_at"`
	UpdatedAt         readOnly `json:"updated_at"`
}

// checkoutRequest is the body of POST /v1/checkout/preview.
type checkoutRequest struct {
	emporium.CheckoutInput
	orderOwned
}

func (b checkoutRequest) Validate() error {
	var v validation
	v.id("shipping_address_id", b.ShippingAddressID, true)
	v.id("shipping_method", b.ShippingMethod, true)
	return v.err()
}

// placeOrderRequest is the body of POST /v1/orders.
type placeOrderRequest struct {
	emporium.PlaceOrderInput
	// ExpectedTotal shadows the embedded member (encoding/json takes the
	// shallower field), so that a missing amount is told from a zero one;
	// input copies it back.
	ExpectedTotal *moneyRequest `json:"expected_total"`
	orderOwned
}

// moneyRequest is a Money as a client sends it, both members required.
type moneyRequest struct {
	Amount   *int64 `json:"amount"`
	Currency string `json:"currency"`
}

// input is the order the request asks for.
func (b placeOrderRequest) input() emporium.PlaceOrderInput {
	in := b.PlaceOrderInput
	if t := b.ExpectedTotal; t != nil && t.Amount != nil {
		in.ExpectedTotal = &emporium.Money{Amount: *t.Amount, Currency: t.Currency}
	}
	return in
}

func (b placeOrderRequest) Validate() error {
	var v validation
	v.id("shipping_address_id", b.ShippingAddressID, true)
	v.id("billing_address_id", b.BillingAddressID, false)
	v.id("shipping_method", b.ShippingMethod, true)
	v.text("payment.provider", b.Payment.Provider, true, MaxProviderLength)
	v.text("payment.token", b.Payment.Token, false, MaxPaymentTokenLength)
	if v.text("payment.return_url", b.Payment.ReturnURL, false, MaxReturnURLLength) && b.Payment.ReturnURL != "" && !absoluteWebURL(b.Payment.ReturnURL) {
		v.add("payment.return_url", emporium.FieldInvalid, "must be an absolute http or https URL")
	}
	if t := b.ExpectedTotal; t != nil {
		if t.Amount == nil {
			v.add("expected_total.amount", emporium.FieldRequired, "is required")
		} else {
			v.integer("expected_total.amount", *t.Amount, -MaxJSONInteger, MaxJSONInteger)
		}
		if !currencyCode.MatchString(t.Currency) {
			v.add("expected_total.currency", emporium.FieldInvalid, "must be an ISO 4217 currency code (three capital letters)")
		}
	}
	return v.err()
}

// currencyCode is the form of a Money's currency.
var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// absoluteWebURL reports whether raw is an absolute http or https URL with
// a host and no credentials.
func absoluteWebURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// validation collects the members of a body at fault, for a Validate.
type validation struct{ fields []emporium.FieldError }

func (v *validation) add(name, code, msg string) {
	v.fields = append(v.fields, emporium.FieldError{Field: name, Code: code, Message: msg})
}

// text checks a string member's presence (when required) and length in
// characters (runes, as the contract counts them: "é" is one), and reports
// whether it passed.
func (v *validation) text(name, value string, required bool, maxLen int) bool {
	switch {
	case value == "" && required:
		v.add(name, emporium.FieldRequired, "is required")
	case utf8.RuneCountInString(value) > maxLen:
		v.add(name, emporium.FieldTooLong, fmt.Sprintf("must be at most %d characters", maxLen))
	default:
		return true
	}
	return false
}

// integer checks that an integer member is within [lo, hi].
func (v *validation) integer(name string, value, lo, hi int64) {
	if value < lo || value > hi {
		v.add(name, emporium.FieldOutOfRange, fmt.Sprintf("must be between %d and %d", lo, hi))
	}
}

// present checks that a required member is there; its rules are the
// service's.
func (v *validation) present(name, value string) {
	if value == "" {
		v.add(name, emporium.FieldRequired, "is required")
	}
}

// id checks a member that names an object.
func (v *validation) id(name, value string, required bool) {
	v.text(name, value, required, MaxOrderIDLength)
}

// err is the validation_failed error naming every member at fault, or nil.
func (v *validation) err() error {
	if len(v.fields) == 0 {
		return nil
	}
	msg := fmt.Sprintf("The field %q %s.", v.fields[0].Field, v.fields[0].Message)
	if len(v.fields) > 1 {
		msg = "Some fields are not valid; see errors."
	}
	return &emporium.Error{Code: emporium.EINVALID, Message: msg, Fields: v.fields}
}

// Checkout.

func (s *Server) previewCheckout(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	var in checkoutRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	preview, err := s.orders.Preview(r.Context(), p, in.CheckoutInput)
	if err != nil {
		return err
	}
	preview.Lines = linesOf(preview.Lines)
	return Respond(w, http.StatusOK, preview)
}

var errOrderKeyRequired = emporium.KeyRequired("Placing an order", "order twice")

// placeOrder places an order from the caller's cart. The Idempotency-Key
// is required and goes to the service, whose order is identified by the
// caller and the key and keeps the request's hash: a retry answers that
// order as it is now, and the key sent with another body is refused there.
// So the gateway's own claim of keys (Server.idempotent) is not used here.
//
// The answer is 201 with the order whether this request created it or a
// retry found it: the service does not tell them apart.
func (s *Server) placeOrder(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	if key == "" {
		return errOrderKeyRequired
	}
	wait, err := orderWait(r.URL.Query())
	if err != nil {
		return err
	}
	var in placeOrderRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	o, err := s.orders.PlaceOrder(r.Context(), p, in.input(), key, wait)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/orders/"+url.PathEscape(o.ID))
	return Respond(w, http.StatusCreated, orderOf(o))
}

// orderWait reads ?wait=, whole seconds from 0 to MaxOrderWait;
// DefaultOrderWait when absent.
func orderWait(v url.Values) (time.Duration, error) {
	raw := v.Get("wait")
	if raw == "" {
		return DefaultOrderWait, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 || time.Duration(n)*time.Second > MaxOrderWait {
		return 0, badQuery([]emporium.FieldError{{Field: "wait", Code: emporium.FieldOutOfRange,
			Message: fmt.Sprintf("must be a whole number of seconds from 0 to %d", int(MaxOrderWait/time.Second))}})
	}
	return time.Duration(n) * time.Second, nil
}

// Orders.

func (s *Server) listOrders(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	page, err := pageOf(r.URL.Query())
	if err != nil {
		return err
	}
	res, err := s.orders.ListOrders(r.Context(), p, page.Cursor, page.Limit)
	if err != nil {
		return err
	}
	out := orderPageBody{Items: make([]emporium.Order, 0, len(res.Items)), NextCursor: res.NextCursor}
	for _, o := range res.Items {
		out.Items = append(out.Items, orderOf(o))
	}
	return Respond(w, http.StatusOK, out)
}

// orderPageBody is a page of orders; next_cursor is absent on the last
// page, as in every list.
type orderPageBody struct {
	Items      []emporium.Order `json:"items"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

func (s *Server) getOrder(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	return respondOrder(w)(s.orders.Order(r.Context(), p, r.PathValue("id")))
}

// cancelOrder cancels an order that has not shipped. An Idempotency-Key,
// optional, is claimed as on other routes (Server.idempotent: the same key
// for another order's cancellation is refused) and goes to the service.
func (s *Server) cancelOrder(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var o emporium.Order
	err = s.idempotent(r, p, key, nil, func() (err error) {
		o, err = s.orders.CancelOrder(r.Context(), p, r.PathValue("id"), key)
		return err
	})
	return respondOrder(w)(o, err)
}

func (s *Server) confirmPayment(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	return respondOrder(w)(s.orders.ConfirmPayment(r.Context(), p, r.PathValue("id")))
}

// respondOrder answers an order, or the error of the call that made it.
func respondOrder(w http.ResponseWriter) func(emporium.Order, error) error {
	return func(o emporium.Order, err error) error {
		if err != nil {
			return err
		}
		return Respond(w, http.StatusOK, orderOf(o))
	}
}

// Vendors' orders.

// listVendorOrders lists the calling vendor's part of their orders, newest
// first; ?fulfillment_status= keeps one fulfilment status.
func (s *Server) listVendorOrders(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	q := r.URL.Query()
	page, err := pageOf(q)
	if err != nil {
		return err
	}
	status := q.Get("fulfillment_status")
	if status != "" && !slices.Contains(emporium.FulfillmentStatuses, status) {
		return badQuery([]emporium.FieldError{{Field: "fulfillment_status", Code: emporium.FieldInvalid,
			Message: "must be one of " + strings.Join(emporium.FulfillmentStatuses, ", ")}})
	}
	res, err := s.orders.VendorOrders(r.Context(), p, status, page.Cursor, page.Limit)
	if err != nil {
		return err
	}
	out := vendorOrderPageBody{Items: make([]emporium.VendorOrder, 0, len(res.Items)), NextCursor: res.NextCursor}
	for _, o := range res.Items {
		o.Lines = linesOf(o.Lines)
		o.Shipments = shipmentsOf(o.Shipments)
		out.Items = append(out.Items, o)
	}
	return Respond(w, http.StatusOK, out)
}

// vendorOrderPageBody is a page of a vendor's orders; next_cursor is
// absent on the last page.
type vendorOrderPageBody struct {
	Items      []emporium.VendorOrder `json:"items"`
	NextCursor string                 `json:"next_cursor,omitempty"`
}

// getVendorOrder answers the calling vendor's part of one order; an order
// without lines of theirs is 404, never 403, so that ids do not leak.
func (s *Server) getVendorOrder(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	o, err := s.orders.VendorOrder(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return respondVendorOrder(w, o, nil)
}

// orderOf shows an order's empty lists as [] rather than null.
func orderOf(o emporium.Order) emporium.Order {
	o.Lines = linesOf(o.Lines)
	o.Shipments = shipmentsOf(o.Shipments)
	return o
}

// linesOf shows empty line lists and options as [] and {}.
func linesOf(lines []emporium.OrderLine) []emporium.OrderLine {
	out := make([]emporium.OrderLine, 0, len(lines))
	for _, l := range lines {
		if l.Options == nil {
			l.Options = map[string]string{}
		}
		out = append(out, l)
	}
	return out
}

// Webhooks.

// providerName is the form of a payment provider's name in a webhook path.
var providerName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

var errNoProvider = emporium.Errorf(emporium.ENOTFOUND, "No payment provider of this name sends notifications here.")

// deliverWebhook hands a payment provider's notification to the service as
// it came: the headers and the raw body, whose signature the service checks
// over the exact bytes. So the body is neither decoded nor required to be
// JSON here, and members the gateway does not know are not refused: the
// service parses it leniently once verified. Only its size is limited
// (MaxWebhookBytes), and, with a Limiter, the rate per client address
// (RateLimits.Webhooks). A delivery the service accepts is 204.
func (s *Server) deliverWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := s.edgeLimit(w, r, s.limits.Webhooks, "webhooks", ratelimit.IPBucket(s.clientIP(r))); err != nil {
		return err
	}
	provider := r.PathValue("provider")
	if !providerName.MatchString(provider) {
		return errNoProvider
	}
	limit := min(int64(MaxWebhookBytes), s.maxBodyBytes)
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return tooLarge(limit)
			}
			return &emporium.Error{Code: emporium.EMALFORMED, Message: "The request body could not be read.", Op: "gateway.deliverWebhook", Err: err}
		}
	}
	if err := s.webhooks.Deliver(r.Context(), provider, r.Header, body); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// edgeLimit counts the request against the GCRA limit of the key made of
// ids under ratelimit.PurposeAPI, when the gateway has a Limiter, and sets
// the RateLimit-* fields: ERATELIMITED when the request is over it. Like
// every API limit it fails open (the Limiter allows when Redis is down).
func (s *Server) edgeLimit(w http.ResponseWriter, r *http.Request, limit ratelimit.Limit, ids ...string) error {
	if s.limiter == nil {
		return nil
	}
	d, err := s.limiter.Allow(r.Context(), ratelimit.Key(ratelimit.PurposeAPI, ids...), limit)
	if err != nil {
		return err
	}
	ratelimit.Headers(w, d)
	if !d.Allowed {
		return ratelimit.Refused(d)
	}
	return nil
}
