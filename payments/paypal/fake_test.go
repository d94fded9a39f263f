package paypal_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emporium-shop/emporium/payments"
	"github.com/emporium-shop/emporium/payments/paymentstest"
	"github.com/emporium-shop/emporium/payments/paypal"
)

// fakePayPal plays the PayPal endpoints the provider uses, as PayPal's
// sandbox answers them (statuses, issues, the shapes of the bodies, the
// replay of a PayPal-Request-Id): OAuth client credentials, Orders v2
// (create, show, authorize) and Payments v2 (capture and void an
// authorization, refund a capture). The buyer's side, approving an order at
// PayPal, is the test's: Approve and Decline. It also delivers webhooks
// (Event, Headers) and verifies them as verify-webhook-signature does.
type fakePayPal struct {
	clientID, secret string
	// webhookID is the id of the one webhook subscription PayPal knows.
	webhookID string

	mu           sync.Mutex
	tokens       map[string]bool
	tokenFetches int
	next         int
	orders       map[string]*fakeOrder
	auths        map[string]*fakeAuth
	captures     map[string]*fakeCapture
	replies      map[string]fakeReply
	// failNext answers the next API requests with these statuses.
	failNext []int
	// seen lists "METHOD path PayPal-Request-Id" of every API request.
	seen []string
	// verifications lists the verify-webhook-signature requests, as sent.
	verifications []fakeVerification
}

// fakeVerification is a verify-webhook-signature request; WebhookEvent
// holds the bytes of webhook_event as they were sent.
type fakeVerification struct {
	AuthAlgo         string          `json:"auth_algo"`
	CertURL          string          `json:"cert_url"`
	TransmissionID   string          `json:"transmission_id"`
	TransmissionSig  string          `json:"transmission_sig"`
	TransmissionTime string          `json:"transmission_time"`
	WebhookID        string          `json:"webhook_id"`
	WebhookEvent     json.RawMessage `json:"webhook_event"`
	// Body is the whole request body.
	Body []byte `json:"-"`
	// Authorization is the request's Authorization header.
	Authorization string `json:"-"`
}

type fakeOrder struct {
	id, status, customID, currency string
	amount                         int64
	declined, payerAction          bool
	authID, captureID              string
}

type fakeAuth struct {
	id, orderID, status string
	amount              int64
}

type fakeCapture struct {
	id, orderID       string
	amount, refunded  int64
	currency, lastRef string
}

type fakeReply struct {
	status int
	body   []byte
}

func newFakePayPal(t *testing.T) (*fakePayPal, *httptest.Server) {
	f := &fakePayPal{clientID: "client-1", secret: "secret-1", webhookID: "WH-1", tokens: map[string]bool{},
		orders: map[string]*fakeOrder{}, auths: map[string]*fakeAuth{}, captures: map[string]*fakeCapture{}, replies: map[string]fakeReply{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

// Approve is the buyer approving the order at PayPal.
func (f *fakePayPal) Approve(orderID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o := f.orders[orderID]; o != nil && (o.status == "CREATED" || o.status == "PAYER_ACTION_REQUIRED") {
		o.status = "APPROVED"
	}
}

// Decline is the buyer approving with a funding source that PayPal then
// refuses.
func (f *fakePayPal) Decline(orderID string) {
	f.Approve(orderID)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orders[orderID].declined = true
}

// ExpireTokens makes PayPal forget the access tokens it issued.
func (f *fakePayPal) ExpireTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = map[string]bool{}
}

// FailNext answers the next API requests with the statuses given.
func (f *fakePayPal) FailNext(statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = append(f.failNext, statuses...)
}

func (f *fakePayPal) Seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

func (f *fakePayPal) TokenFetches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenFetches
}

// Ledger reports the fake's payments as the contract suite reads them.
func (f *fakePayPal) Ledger() []paymentstest.Charge {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []paymentstest.Charge
	for _, o := range f.orders {
		ch := paymentstest.Charge{PaymentID: o.id, OrderID: o.customID, Status: payments.StatusRequiresApproval}
		if a := f.auths[o.authID]; a != nil {
			switch a.status {
			case "CREATED":
				ch.Status, ch.Authorized = payments.StatusAuthorized, a.amount
			case "CAPTURED":
				ch.Status, ch.Authorized = payments.StatusCaptured, a.amount
			case "VOIDED":
				ch.Status = payments.StatusVoided
			}
		}
		if c := f.captures[o.captureID]; c != nil {
			ch.Captured, ch.Refunded = c.amount, c.refunded
		}
		out = append(out, ch)
	}
	return out
}

func (f *fakePayPal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/v1/oauth2/token" {
		f.token(w, r, body)
		return
	}
	f.seen = append(f.seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("PayPal-Request-Id"))
	if !f.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")] {
		writeJSON(w, 401, map[string]string{"error": "invalid_token", "error_description": "Token signature verification failed"})
		return
	}
	if len(f.failNext) > 0 {
		status := f.failNext[0]
		f.failNext = f.failNext[1:]
		writeJSON(w, status, map[string]any{"name": "INTERNAL_SERVER_ERROR", "message": "An internal server error occurred.", "debug_id": "dbg1"})
		return
	}
	// PayPal answers a repeated PayPal-Request-Id with the first answer.
	replayKey := r.URL.Path + "|" + r.Header.Get("PayPal-Request-Id")
	if rid := r.Header.Get("PayPal-Request-Id"); rid != "" && r.Method == http.MethodPost {
		if rep, ok := f.replies[replayKey]; ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(rep.status)
			_, _ = w.Write(rep.body)
			return
		}
	}
	rec := httptest.NewRecorder()
	f.route(rec, r, body)
	if rec.Code/100 == 2 && r.Method == http.MethodPost && r.Header.Get("PayPal-Request-Id") != "" {
		f.replies[replayKey] = fakeReply{rec.Code, rec.Body.Bytes()}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func (f *fakePayPal) token(w http.ResponseWriter, r *http.Request, body []byte) {
	id, secret, ok := r.BasicAuth()
	form, _ := url.ParseQuery(string(body))
	if !ok || id != f.clientID || secret != f.secret || form.Get("grant_type") != "client_credentials" {
		writeJSON(w, 401, map[string]string{"error": "invalid_client", "error_description": "Client Authentication failed"})
		return
	}
	f.tokenFetches++
	tok := "A21AA-" + strconv.Itoa(f.tokenFetches)
	f.tokens[tok] = true
	writeJSON(w, 200, map[string]any{"scope": "https://uri.paypal.com/services/payments/payment/authcapture",
		"access_token": tok, "token_type": "Bearer", "app_id": "APP-80W284485P519543T", "expires_in": 32400, "nonce": "n"})
}

func (f *fakePayPal) id(prefix string) string {
	f.next++
	return fmt.Sprintf("%s%04dX", prefix, f.next)
}

func (f *fakePayPal) route(w http.ResponseWriter, r *http.Request, body []byte) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/notifications/verify-webhook-signature":
		f.verifyWebhook(w, r, body)
	case r.Method == http.MethodPost && r.URL.Path == "/v2/checkout/orders":
		f.createOrder(w, body)
	case r.Method == http.MethodGet && len(parts) == 4 && parts[1] == "checkout":
		if o := f.orders[parts[3]]; o != nil {
			writeJSON(w, 200, f.orderJSON(o))
			return
		}
		issue(w, 404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
	case r.Method == http.MethodPost && len(parts) == 5 && parts[1] == "checkout" && parts[4] == "authorize":
		f.authorize(w, parts[3])
	case r.Method == http.MethodPost && len(parts) == 5 && parts[2] == "authorizations" && parts[4] == "capture":
		f.capture(w, parts[3], body)
	case r.Method == http.MethodPost && len(parts) == 5 && parts[2] == "authorizations" && parts[4] == "void":
		f.void(w, parts[3])
	case r.Method == http.MethodPost && len(parts) == 5 && parts[2] == "captures" && parts[4] == "refund":
		f.refund(w, parts[3], body)
	default:
		issue(w, 404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
	}
}

type fakeAmount struct {
	CurrencyCode string `json:"currency_code"`
	Value        string `json:"value"`
}

func (a fakeAmount) minor() (int64, bool) {
	whole, frac, dot := strings.Cut(a.Value, ".")
	if a.CurrencyCode == "JPY" {
		if dot {
			return 0, false
		}
		n, err := strconv.ParseInt(whole, 10, 64)
		return n, err == nil
	}
	if len(frac) != 2 {
		return 0, false
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	return n, err == nil
}

func value(n int64, currency string) fakeAmount {
	if currency == "JPY" {
		return fakeAmount{currency, strconv.FormatInt(n, 10)}
	}
	return fakeAmount{currency, fmt.Sprintf("%d.%02d", n/100, n%100)}
}

func (f *fakePayPal) createOrder(w http.ResponseWriter, body []byte) {
	var req struct {
		Intent        string `json:"intent"`
		PurchaseUnits []struct {
			CustomID string     `json:"custom_id"`
			Amount   fakeAmount `json:"amount"`
		} `json:"purchase_units"`
		PaymentSource *struct {
			PayPal *struct {
				ExperienceContext struct {
					ReturnURL string `json:"return_url"`
				} `json:"experience_context"`
			} `json:"paypal"`
		} `json:"payment_source"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Intent != "AUTHORIZE" || len(req.PurchaseUnits) != 1 {
		issue(w, 400, "INVALID_REQUEST", "MALFORMED_REQUEST_JSON")
		return
	}
	n, ok := req.PurchaseUnits[0].Amount.minor()
	if !ok || n <= 0 {
		issue(w, 422, "UNPROCESSABLE_ENTITY", "DECIMAL_PRECISION")
		return
	}
	o := &fakeOrder{id: f.id("5O19"), status: "CREATED", customID: req.PurchaseUnits[0].CustomID,
		currency: req.PurchaseUnits[0].Amount.CurrencyCode, amount: n}
	if req.PaymentSource != nil && req.PaymentSource.PayPal != nil && req.PaymentSource.PayPal.ExperienceContext.ReturnURL != "" {
		o.status, o.payerAction = "PAYER_ACTION_REQUIRED", true
	}
	f.orders[o.id] = o
	writeJSON(w, 201, f.orderJSON(o))
}

func (f *fakePayPal) authorize(w http.ResponseWriter, id string) {
	o := f.orders[id]
	switch {
	case o == nil:
		issue(w, 404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
	case o.status == "COMPLETED":
		issue(w, 422, "UNPROCESSABLE_ENTITY", "ORDER_ALREADY_AUTHORIZED")
	case o.status != "APPROVED":
		issue(w, 422, "UNPROCESSABLE_ENTITY", "ORDER_NOT_APPROVED")
	case o.declined:
		issue(w, 422, "UNPROCESSABLE_ENTITY", "INSTRUMENT_DECLINED")
	default:
		a := &fakeAuth{id: f.id("AUTH"), orderID: o.id, status: "CREATED", amount: o.amount}
		f.auths[a.id] = a
		o.authID, o.status = a.id, "COMPLETED"
		writeJSON(w, 201, f.orderJSON(o))
	}
}

func (f *fakePayPal) capture(w http.ResponseWriter, authID string, body []byte) {
	a := f.auths[authID]
	var req struct {
		Amount       *fakeAmount `json:"amount"`
		FinalCapture bool        `json:"final_capture"`
	}
	if a == nil {
		issue(w, 404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
		return
	}
	if err := json.Unmarshal(body, &req); err != nil {
		issue(w, 400, "INVALID_REQUEST", "MALFORMED_REQUEST_JSON")
		return
	}
	n := a.amount
	if req.Amount != nil {
		var ok bool
		if n, ok = req.Amount.minor(); !ok {
			issue(w, 422, "UNPROCESSABLE_ENTITY", "DECIMAL_PRECISION")
			return
		}
	}
	o := f.orders[a.orderID]
	switch {
	case a.status == "CAPTURED":
		issue(w, 422, "UNPROCESSABLE_ENTITY", "AUTHORIZATION_ALREADY_CAPTURED")
	case a.status == "VOIDED":
		issue(w, 422, "UNPROCESSABLE_ENTITY", "AUTHORIZATION_VOIDED")
	case n > a.amount:
		issue(w, 422, "UNPROCESSABLE_ENTITY", "MAX_CAPTURE_AMOUNT_EXCEEDED")
	default:
		c := &fakeCapture{id: f.id("CAP"), orderID: o.id, amount: n, currency: o.currency}
		f.captures[c.id] = c
		o.captureID, a.status = c.id, "CAPTURED"
		writeJSON(w, 201, map[string]any{"id": c.id, "status": "COMPLETED", "amount": value(n, o.currency), "final_capture": true})
	}
}

func (f *fakePayPal) void(w http.ResponseWriter, authID string) {
	a := f.auths[authID]
	switch {
	case a == nil:
		issue(w, 404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
	case a.status == "CAPTURED":
		issue(w, 422, "UNPROCESSABLE_ENTITY", "PREVIOUSLY_CAPTURED")
	case a.status == "VOIDED":
		issue(w, 422, "UNPROCESSABLE_ENTITY", "PREVIOUSLY_VOIDED")
	default:
		a.status = "VOIDED"
		writeJSON(w, 200, map[string]any{"id": a.id, "status": "VOIDED"})
	}
}

func (f *fakePayPal) refund(w http.ResponseWriter, captureID string, body []byte) {
	c := f.captures[captureID]
	var req struct {
		Amount fakeAmount `json:"amount"`
	}
	if c == nil {
		issue(w, 404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
		return
	}
	if err := json.Unmarshal(body, &req); err != nil {
		issue(w, 400, "INVALID_REQUEST", "MALFORMED_REQUEST_JSON")
		return
	}
	n, ok := req.Amount.minor()
	switch {
	case !ok:
		issue(w, 422, "UNPROCESSABLE_ENTITY", "DECIMAL_PRECISION")
	case c.refunded+n > c.amount:
		issue(w, 422, "UNPROCESSABLE_ENTITY", "REFUND_AMOUNT_EXCEEDED")
	default:
		c.refunded += n
		c.lastRef = f.id("REF")
		writeJSON(w, 201, map[string]any{"id": c.lastRef, "status": "COMPLETED", "amount": value(n, c.currency)})
	}
}

// orderJSON is an order as PayPal represents it.
func (f *fakePayPal) orderJSON(o *fakeOrder) map[string]any {
	pu := map[string]any{"reference_id": "default", "custom_id": o.customID, "amount": value(o.amount, o.currency)}
	pay := map[string]any{}
	if a := f.auths[o.authID]; a != nil {
		pay["authorizations"] = []any{map[string]any{"id": a.id, "status": a.status, "amount": value(a.amount, o.currency),
			"expiration_time": "2030-02-01T00:00:00Z"}}
	}
	if c := f.captures[o.captureID]; c != nil {
		pay["captures"] = []any{map[string]any{"id": c.id, "status": "COMPLETED", "amount": value(c.amount, o.currency)}}
	}
	if len(pay) > 0 {
		pu["payments"] = pay
	}
	links := []any{map[string]any{"href": "https://api.sandbox.paypal.com/v2/checkout/orders/" + o.id, "rel": "self", "method": "GET"}}
	if o.status != "COMPLETED" {
		rel := "approve"
		if o.payerAction {
			rel = "payer-action"
		}
		links = append(links, map[string]any{"href": "https://www.sandbox.paypal.com/checkoutnow?token=" + o.id, "rel": rel, "method": "GET"})
	}
	return map[string]any{"id": o.id, "intent": "AUTHORIZE", "status": o.status, "purchase_units": []any{pu}, "links": links,
		"create_time": "2030-01-02T03:04:05Z"}
}

func issue(w http.ResponseWriter, status int, name, issue string) {
	writeJSON(w, status, map[string]any{"name": name, "message": "The requested action could not be performed.",
		"debug_id": "f2b6d1a9", "details": []any{map[string]string{"issue": issue, "description": issue}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fakeSigningKey stands for the private key of PayPal's certificate: the
// fake signs a delivery with an HMAC under it where PayPal signs with RSA.
const fakeSigningKey = "paypal-private-key"

// transmissionSig signs a delivery as PayPal does, over
// "<transmission id>|<transmission time>|<webhook id>|<CRC32 of the body>".
func transmissionSig(id, at, webhookID string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(fakeSigningKey))
	fmt.Fprintf(mac, "%s|%s|%s|%d", id, at, webhookID, crc32.ChecksumIEEE(body))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Headers returns the headers with which PayPal delivers body, sent at at,
// to the fake's webhook subscription.
func (f *fakePayPal) Headers(body []byte, at time.Time) http.Header {
	f.mu.Lock()
	id := f.id("TX")
	f.mu.Unlock()
	ts := at.UTC().Format(time.RFC3339)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(paypal.HeaderAuthAlgo, "SHA256withRSA")
	h.Set(paypal.HeaderCertURL, "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77")
	h.Set(paypal.HeaderTransmissionID, id)
	h.Set(paypal.HeaderTransmissionSig, transmissionSig(id, ts, f.webhookID, body))
	h.Set(paypal.HeaderTransmissionTime, ts)
	return h
}

// Event returns the body of the event of type typ, with id eventID,
// created at at, about PayPal order orderID as the fake now holds it: the
// order for CHECKOUT.ORDER events, its authorization for
// PAYMENT.AUTHORIZATION ones, its capture for PAYMENT.CAPTURE ones (the
// status of the resource follows the type), with the fields PayPal sends.
func (f *fakePayPal) Event(eventID, typ, orderID string, at time.Time) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orders[orderID]
	if o == nil {
		panic("no PayPal order " + orderID)
	}
	related := map[string]any{"order_id": o.id}
	links := []any{map[string]any{"href": "https://api.sandbox.paypal.com/v2/checkout/orders/" + o.id, "rel": "up", "method": "GET"}}
	var resource map[string]any
	var resourceType string
	switch {
	case strings.HasPrefix(typ, "CHECKOUT.ORDER."):
		resourceType, resource = "checkout-order", f.orderJSON(o)
		if typ == "CHECKOUT.ORDER.VOIDED" {
			resource["status"] = "VOIDED"
		}
	case strings.HasPrefix(typ, "PAYMENT.AUTHORIZATION."):
		status := strings.TrimPrefix(typ, "PAYMENT.AUTHORIZATION.")
		resourceType = "authorization"
		resource = map[string]any{"id": o.authID, "status": status, "amount": value(o.amount, o.currency),
			"custom_id": o.customID, "expiration_time": "2030-02-01T00:00:00Z", "create_time": at.UTC().Format(time.RFC3339),
			"seller_protection": map[string]any{"status": "ELIGIBLE"}, "supplementary_data": map[string]any{"related_ids": related},
			"links": links}
	case strings.HasPrefix(typ, "PAYMENT.CAPTURE."):
		status := strings.TrimPrefix(typ, "PAYMENT.CAPTURE.")
		related["authorization_id"] = o.authID
		id := o.captureID
		if id == "" {
			id = "CAPDENIED"
		}
		resourceType = "capture"
		resource = map[string]any{"id": id, "status": status, "amount": value(o.amount, o.currency), "final_capture": true,
			"custom_id": o.customID, "supplementary_data": map[string]any{"related_ids": related}, "links": links}
	default:
		panic("no such event type " + typ)
	}
	body, err := json.Marshal(map[string]any{"id": eventID, "event_version": "1.0", "create_time": at.UTC().Format(time.RFC3339Nano),
		"resource_type": resourceType, "resource_version": "2.0", "event_type": typ, "summary": "An event about " + o.id,
		"resource": resource, "links": []any{map[string]any{"href": "https://api.sandbox.paypal.com/v1/notifications/webhooks-events/" + eventID,
			"rel": "self", "method": "GET"}}})
	if err != nil {
		panic(err)
	}
	return body
}

// Verifications returns the verify-webhook-signature requests received.
func (f *fakePayPal) Verifications() []fakeVerification {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeVerification(nil), f.verifications...)
}

// verifyWebhook answers verify-webhook-signature: SUCCESS when the
// signature is the one PayPal made of the event, as sent, for the fake's
// webhook subscription, FAILURE otherwise; a request without a field, or
// with a certificate that is not PayPal's, is refused.
func (f *fakePayPal) verifyWebhook(w http.ResponseWriter, r *http.Request, body []byte) {
	var v fakeVerification
	if err := json.Unmarshal(body, &v); err != nil {
		issue(w, 400, "INVALID_REQUEST", "MALFORMED_REQUEST_JSON")
		return
	}
	v.Body, v.Authorization = body, r.Header.Get("Authorization")
	f.verifications = append(f.verifications, v)
	if v.AuthAlgo == "" || v.CertURL == "" || v.TransmissionID == "" || v.TransmissionSig == "" || v.TransmissionTime == "" ||
		v.WebhookID == "" || len(v.WebhookEvent) == 0 {
		issue(w, 400, "VALIDATION_ERROR", "MISSING_REQUIRED_PARAMETER")
		return
	}
	if !strings.HasPrefix(v.CertURL, "https://api.sandbox.paypal.com/") {
		issue(w, 400, "VALIDATION_ERROR", "INVALID_PARAMETER_VALUE")
		return
	}
	status := "FAILURE"
	want := transmissionSig(v.TransmissionID, v.TransmissionTime, v.WebhookID, v.WebhookEvent)
	if v.AuthAlgo == "SHA256withRSA" && v.WebhookID == f.webhookID && hmac.Equal([]byte(v.TransmissionSig), []byte(want)) {
		status = "SUCCESS"
	}
	writeJSON(w, 200, map[string]string{"verification_status": status})
}
