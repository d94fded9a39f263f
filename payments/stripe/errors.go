package stripe

import (
	"errors"
	"net/http"
	"strings"

	stripego "github.com/stripe/stripe-go/v82"

	emporium "github.com/emporium-shop/emporium"
)

// asStripeError returns the Stripe API error in err's chain, if any.
func asStripeError(err error) (*stripego.Error, bool) {
	var se *stripego.Error
	ok := errors.As(err, &se)
	return se, ok
}

// tokenRefused reports whether err is Stripe refusing a payment token:
// unknown, or already used.
func tokenRefused(err error) bool {
	se, ok := asStripeError(err)
	return ok && se.HTTPStatusCode/100 == 4 && se.HTTPStatusCode != http.StatusTooManyRequests &&
		se.HTTPStatusCode != http.StatusConflict && se.Type != stripego.ErrorTypeIdempotency &&
		(se.Code == stripego.ErrorCodeResourceMissing || se.Code == stripego.ErrorCodeTokenAlreadyUsed ||
			strings.Contains(se.Param, "token"))
}

// mapError turns the error of a call to Stripe into ours. Stripe's own
// message stays the cause, for logs: the caller's message says what
// happened in our words.
//
//   - no answer (network, timeout), 5xx and 429: EUNAVAILABLE, the
//     outcome is unknown and the caller retries with the same key;
//   - an idempotency error (the key reused with other parameters):
//     EIDEMPOTENCY; the key in use by a concurrent request (409):
//     ECONFLICT;
//   - no such object: ENOTFOUND; the object in a state that forbids the
//     request (captured, canceled): ECONFLICT; an amount above what may
//     be captured or refunded: EINVALID on the amount;
//   - bad credentials (401, 403): EINTERNAL, since no retry can help
//     until an operator fixes the configuration;
//   - any other 4xx: EINVALID.
func mapError(op string, err error) error {
	se, ok := asStripeError(err)
	if !ok || se.HTTPStatusCode == 0 {
		return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Err: err,
			Message: "Stripe did not answer; the outcome is unknown: retry with the same idempotency key."}
	}
	e := &emporium.Error{Op: op, Err: err}
	switch status := se.HTTPStatusCode; {
	case status >= 500 || status == http.StatusTooManyRequests:
		e.Code, e.Message = emporium.EUNAVAILABLE, "Stripe is unavailable; retry with the same idempotency key."
	case se.Type == stripego.ErrorTypeIdempotency:
		e.Code, e.Message = emporium.EIDEMPOTENCY, "The idempotency key was already used with other parameters."
	case status == http.StatusConflict || se.Code == stripego.ErrorCodeIdempotencyKeyInUse:
		e.Code, e.Message = emporium.ECONFLICT, "A request with this idempotency key is in progress; retry it later."
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Code, e.Message = emporium.EINTERNAL, "The payment provider is misconfigured."
	case status == http.StatusNotFound || se.Code == stripego.ErrorCodeResourceMissing:
		e.Code, e.Message = emporium.ENOTFOUND, "Stripe has no such payment."
	case se.Code == stripego.ErrorCodePaymentIntentUnexpectedState || se.Code == stripego.ErrorCodeChargeAlreadyCaptured:
		e.Code, e.Message = emporium.ECONFLICT, "The payment's state does not allow this request."
	case se.Code == stripego.ErrorCodeAmountTooLarge || se.Code == stripego.ErrorCodeChargeAlreadyRefunded:
		e.Code, e.Message = emporium.EINVALID, "The amount is more than the payment allows."
		e.Fields = []emporium.FieldError{emporium.Field("amount", emporium.FieldOutOfRange, "the amount is more than the payment allows")}
	default:
		e.Code, e.Message = emporium.EINVALID, "Stripe refused the request."
	}
	return e
}
