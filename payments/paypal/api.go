package paypal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/payments"
)

// maxResponse bounds the body of one PayPal answer that is read.
const maxResponse = 1 << 20

// The JSON of the requests and answers the provider uses. Answers are
// decoded leniently: PayPal adds fields.

type amount struct {
	CurrencyCode string `json:"currency_code"`
	Value        string `json:"value"`
}

type createOrder struct {
	Intent        string                `json:"intent"`
	PurchaseUnits []purchaseUnitRequest `json:"purchase_units"`
	PaymentSource *paymentSource        `json:"payment_source,omitempty"`
}

type purchaseUnitRequest struct {
	ReferenceID string `json:"reference_id"`
	CustomID    string `json:"custom_id"`
	Amount      amount `json:"amount"`
}

type paymentSource struct {
	PayPal *paypalSource `json:"paypal,omitempty"`
}

type paypalSource struct {
	ExperienceContext experienceContext `json:"experience_context"`
}

type experienceContext struct {
	ReturnURL  string `json:"return_url"`
	CancelURL  string `json:"cancel_url"`
	UserAction string `json:"user_action"`
}

type captureRequest struct {
	Amount       *amount `json:"amount,omitempty"`
	FinalCapture bool    `json:"final_capture"`
}

type refundRequest struct {
	Amount      amount `json:"amount"`
	NoteToPayer string `json:"note_to_payer,omitempty"`
}

type order struct {
	ID            string         `json:"id"`
	Status        string         `json:"status"`
	PurchaseUnits []purchaseUnit `json:"purchase_units"`
	Links         []link         `json:"links"`
}

type purchaseUnit struct {
	CustomID string  `json:"custom_id"`
	Amount   *amount `json:"amount"`
	Payments *struct {
		Authorizations []authorizationDoc `json:"authorizations"`
		Captures       []capture          `json:"captures"`
	} `json:"payments"`
}

type authorizationDoc struct {
	ID     string  `json:"id"`
	Status string  `json:"status"`
	Amount *amount `json:"amount"`
}

type capture struct {
	ID     string  `json:"id"`
	Status string  `json:"status"`
	Amount *amount `json:"amount"`
}

type refund struct {
	ID     string  `json:"id"`
	Status string  `json:"status"`
	Amount *amount `json:"amount"`
}

type link struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

// tokenAnswer is the answer of the OAuth token endpoint.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

// errorAnswer is PayPal's error body.
type errorAnswer struct {
	Name    string `json:"name"`
	Message string `json:"message"`
	DebugID string `json:"debug_id"`
	Details []struct {
		Issue       string `json:"issue"`
		Description string `json:"description"`
	} `json:"details"`
	// OAuth errors have their own form.
	Error string `json:"error"`
}

// authorization returns the order's authorization, nil when it has none.
func (o *order) authorization() *authorizationDoc {
	for _, pu := range o.PurchaseUnits {
		if pu.Payments != nil && len(pu.Payments.Authorizations) > 0 {
			return &pu.Payments.Authorizations[0]
		}
	}
	return nil
}

// capture returns the order's capture, nil when it has none.
func (o *order) capture() *capture {
	for _, pu := range o.PurchaseUnits {
		if pu.Payments != nil && len(pu.Payments.Captures) > 0 {
			return &pu.Payments.Captures[0]
		}
	}
	return nil
}

// amount returns the order's amount.
func (o *order) amount() (payments.Money, error) {
	if len(o.PurchaseUnits) == 0 || o.PurchaseUnits[0].Amount == nil {
		return payments.Money{}, errors.New("the order has no amount")
	}
	return o.PurchaseUnits[0].Amount.money()
}

// link returns the href of the order's first link with one of rels.
func (o *order) link(rels ...string) string {
	for _, rel := range rels {
		for _, l := range o.Links {
			if l.Rel == rel {
				return l.Href
			}
		}
	}
	return ""
}

// zeroDecimal lists the currencies PayPal takes without decimals.
var zeroDecimal = map[string]bool{"HUF": true, "JPY": true, "TWD": true}

// formatAmount writes an amount in minor units as PayPal's decimal
// string: "19.99", or "1999" for a currency without decimals.
func formatAmount(m payments.Money) string {
	if zeroDecimal[m.Currency] {
		return strconv.FormatInt(m.Amount, 10)
	}
	return fmt.Sprintf("%d.%02d", m.Amount/100, m.Amount%100)
}

// money reads PayPal's decimal amount back into minor units.
func (a *amount) money() (payments.Money, error) {
	if a == nil {
		return payments.Money{}, errors.New("no amount")
	}
	whole, frac, _ := strings.Cut(a.Value, ".")
	digits := 2
	if zeroDecimal[a.CurrencyCode] {
		digits = 0
	}
	if len(frac) > digits {
		return payments.Money{}, fmt.Errorf("amount %q has more than %d decimals", a.Value, digits)
	}
	frac += strings.Repeat("0", digits-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return payments.Money{}, fmt.Errorf("amount %q: %w", a.Value, err)
	}
	return payments.Money{Amount: n, Currency: a.CurrencyCode}, nil
}

// pathID escapes an id for a URL path.
func pathID(id string) string { return url.PathEscape(id) }

// rawJSON is a request body that is JSON already: call sends it as it is
// instead of marshalling it, which would compact it.
type rawJSON []byte

// call sends one API request with the access token and decodes a 2xx
// answer into out (unless nil); a body of type rawJSON is sent byte for
// byte. requestID, when not empty, is sent as
// PayPal-Request-Id. A token PayPal no longer takes (401) is renewed once.
func (p *Provider) call(ctx context.Context, op, method, path, requestID string, body, out any) error {
	var payload []byte
	if raw, ok := body.(rawJSON); ok {
		payload = raw
	} else if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return &emporium.Error{Code: emporium.EINTERNAL, Op: op, Err: err}
		}
	}
	for attempt := 0; ; attempt++ {
		token, err := p.accessToken(ctx, op)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, method, p.cfg.APIURL+path, bytes.NewReader(payload))
		if err != nil {
			return &emporium.Error{Code: emporium.EINTERNAL, Op: op, Err: err}
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Prefer", "return=representation")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if requestID != "" {
			req.Header.Set("PayPal-Request-Id", requestID)
		}
		status, answer, err := p.do(req)
		if err != nil {
			return noAnswer(op, err)
		}
		if status == http.StatusUnauthorized && attempt == 0 {
			p.dropToken(token)
			continue
		}
		if status/100 != 2 {
			return apiError(op, status, answer)
		}
		if out != nil && len(answer) > 0 {
			if err := json.Unmarshal(answer, out); err != nil {
				return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Err: err,
					Message: "PayPal's answer could not be read; retry with the same idempotency key."}
			}
		}
		return nil
	}
}

// do sends req and reads the answer.
func (p *Provider) do(req *http.Request) (int, []byte, error) {
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}

// accessToken returns a valid OAuth access token, fetching one with the
// client credentials when none is held or it is about to expire. One
// fetch runs at a time; the others wait for it, or for their context.
func (p *Provider) accessToken(ctx context.Context, op string) (string, error) {
	select {
	case p.tokenLock <- struct{}{}:
	case <-ctx.Done():
		return "", noAnswer(op, ctx.Err())
	}
	defer func() { <-p.tokenLock }()
	if p.token != "" && p.cfg.Now().Before(p.expires) {
		return p.token, nil
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.APIURL+"/v1/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", &emporium.Error{Code: emporium.EINTERNAL, Op: op, Err: err}
	}
	req.SetBasicAuth(p.cfg.ClientID, p.cfg.Secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	status, answer, err := p.do(req)
	if err != nil {
		return "", noAnswer(op, err)
	}
	if status/100 != 2 {
		return "", apiError(op, status, answer)
	}
	var tok tokenAnswer
	if err := json.Unmarshal(answer, &tok); err != nil || tok.AccessToken == "" {
		return "", &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Err: err,
			Message: "PayPal's access token could not be read; retry later."}
	}
	p.token = tok.AccessToken
	p.expires = p.cfg.Now().Add(time.Duration(tok.ExpiresIn)*time.Second - tokenMargin)
	return p.token, nil
}

// dropToken forgets token, which PayPal refused, unless another call
// already replaced it.
func (p *Provider) dropToken(token string) {
	p.tokenLock <- struct{}{}
	defer func() { <-p.tokenLock }()
	if p.token == token {
		p.token = ""
	}
}

// noAnswer is the error of a request PayPal did not answer: the outcome is
// unknown.
func noAnswer(op string, err error) error {
	return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Err: err,
		Message: "PayPal did not answer; the outcome is unknown: retry with the same idempotency key."}
}

// apiFailure is PayPal's refusal, kept as the cause of our error: the
// HTTP status, the error's name and the issues of its details.
type apiFailure struct {
	Status  int
	Name    string
	Issues  []string
	DebugID string
	Message string
}

func (f *apiFailure) Error() string {
	return fmt.Sprintf("PayPal answered %d %s %v: %s (debug id %s)", f.Status, f.Name, f.Issues, f.Message, f.DebugID)
}

// conflictIssues are the issues of a request the payment's state forbids;
// amountIssues those of an amount above what the payment allows.
var (
	conflictIssues = []string{"AUTHORIZATION_ALREADY_CAPTURED", "AUTHORIZATION_VOIDED", "AUTHORIZATION_EXPIRED",
		"PREVIOUSLY_CAPTURED", "PREVIOUSLY_VOIDED", "CAPTURE_FULLY_REFUNDED", "ORDER_ALREADY_AUTHORIZED",
		"ORDER_ALREADY_CAPTURED", "ORDER_NOT_APPROVED", "ORDER_EXPIRED", "DUPLICATE_REQUEST_ID"}
	amountIssues = []string{"MAX_CAPTURE_AMOUNT_EXCEEDED", "REFUND_AMOUNT_EXCEEDED", "PARTIAL_REFUND_NOT_ALLOWED",
		"DECIMAL_PRECISION", "AMOUNT_MISMATCH"}
)

// apiError turns PayPal's refusal into our error: 5xx and 429 are
// EUNAVAILABLE (the caller retries with the same key); 401 and 403
// EINTERNAL (the credentials are wrong, no retry helps); 404 ENOTFOUND;
// 409 and the issues of a forbidding state ECONFLICT; an amount above
// what the payment allows EINVALID on the amount; anything else EINVALID.
func apiError(op string, status int, body []byte) error {
	var ans errorAnswer
	_ = json.Unmarshal(body, &ans)
	f := &apiFailure{Status: status, Name: ans.Name, DebugID: ans.DebugID, Message: ans.Message}
	if f.Name == "" {
		f.Name = ans.Error
	}
	for _, d := range ans.Details {
		f.Issues = append(f.Issues, d.Issue)
	}
	e := &emporium.Error{Op: op, Err: f}
	switch {
	case status >= 500 || status == http.StatusTooManyRequests:
		e.Code, e.Message = emporium.EUNAVAILABLE, "PayPal is unavailable; retry with the same idempotency key."
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Code, e.Message = emporium.EINTERNAL, "The payment provider is misconfigured."
	case status == http.StatusNotFound:
		e.Code, e.Message = emporium.ENOTFOUND, "PayPal has no such payment."
	case status == http.StatusConflict || f.has(conflictIssues...):
		e.Code, e.Message = emporium.ECONFLICT, "The payment's state does not allow this request."
	case f.has(amountIssues...):
		e.Code, e.Message = emporium.EINVALID, "The amount is more than the payment allows."
		e.Fields = []emporium.FieldError{emporium.Field("amount", emporium.FieldOutOfRange, "the amount is more than the payment allows")}
	default:
		e.Code, e.Message = emporium.EINVALID, "PayPal refused the request."
	}
	return e
}

// has reports whether the refusal names one of issues.
func (f *apiFailure) has(issues ...string) bool {
	return slices.ContainsFunc(f.Issues, func(i string) bool { return slices.Contains(issues, i) })
}

// hasIssue reports whether err is PayPal's refusal naming one of issues.
func hasIssue(err error, issues ...string) bool {
	var f *apiFailure
	return errors.As(err, &f) && f.has(issues...)
}
