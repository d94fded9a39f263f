package emporium

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Error codes are part of the public API: they appear as the `code` member of
// every problem+json response and as the reason of a grain error. Add codes
// freely; never rename one. Each code is declared here and listed once, with
// the HTTP status and title the gateway answers it with, in codes below;
// tests range over that list.
const (
	// EINVALID: the request is well formed but breaks a rule.
	EINVALID = "validation_failed"
	// EMALFORMED: the request cannot be decoded.
	EMALFORMED = "malformed_request"
	// EUNAUTHENTICATED: no valid credentials were presented.
	EUNAUTHENTICATED = "unauthenticated"
	// EFORBIDDEN: the caller may not do this.
	EFORBIDDEN = "forbidden"
	// EUNVERIFIED: the account's email address is not verified yet.
	EUNVERIFIED = "email_not_verified"
	// ENOTFOUND: the object does not exist or the caller may not see it.
	ENOTFOUND = "not_found"
	// EPURCHASEREQUIRED: only a buyer who received the product may do this
	// (review it).
	EPURCHASEREQUIRED = "purchase_required"
	// EMETHOD: the route exists but not for this method.
	EMETHOD = "method_not_allowed"
	// ECONFLICT: the object changed under the caller; reload and retry.
	ECONFLICT = "conflict"
	// EOUTOFSTOCK: not enough available stock for the request.
	EOUTOFSTOCK = "out_of_stock"
	// EPRICECHANGED: the total of an order differs from the one the client
	// expected (a price changed since the preview); the problem carries the
	// new totals.
	EPRICECHANGED = "price_changed"
	// EEXPIRED: a reservation ran out (or was released) before the order it
	// held stock for could commit it.
	EEXPIRED = "reservation_expired"
	// EIDEMPOTENCY: an idempotency key was reused with a different request.
	EIDEMPOTENCY = "idempotency_key_reused"
	// EIDEMPOTENCYREQUIRED: the request must carry an Idempotency-Key (it
	// may have an effect that must not happen twice, such as a payment).
	EIDEMPOTENCYREQUIRED = "idempotency_key_required"
	// ETOOLARGE: the request body is over the size limit.
	ETOOLARGE = "payload_too_large"
	// EMEDIATYPE: the request body is not JSON.
	EMEDIATYPE = "unsupported_media_type"
	// ERATELIMITED: the caller is over a rate limit; Error.RetryAfter says
	// when to try again.
	ERATELIMITED = "rate_limited"
	// EUNAVAILABLE: a dependency is down or busy; retrying later may work.
	EUNAVAILABLE = "unavailable"
	// EINTERNAL: a bug or an unexpected failure; details are logged, not shown.
	EINTERNAL = "internal"
)

// CodeInfo is how the API presents one error code.
type CodeInfo struct {
	// Code is the code itself, one of the E... constants.
	Code string
	// Status is the HTTP status of a response carrying the code.
	Status int
	// Title summarises the kind of problem, the same for every occurrence.
	Title string
}

// codes is the one list of error codes, with their HTTP statuses (RFC 9110)
// and problem titles.
var codes = []CodeInfo{
	{EINVALID, 422, "Validation failed"},
	{EMALFORMED, 400, "Malformed request"},
	{EUNAUTHENTICATED, 401, "Unauthenticated"},
	{EFORBIDDEN, 403, "Forbidden"},
	{EUNVERIFIED, 403, "Email not verified"},
	{EPURCHASEREQUIRED, 403, "Purchase required"},
	{ENOTFOUND, 404, "Not found"},
	{EMETHOD, 405, "Method not allowed"},
	{ECONFLICT, 409, "Conflict"},
	{EOUTOFSTOCK, 409, "Out of stock"},
	{EPRICECHANGED, 409, "Price changed"},
	{EEXPIRED, 409, "Reservation expired"},
	{EIDEMPOTENCY, 422, "Idempotency key reused"},
	{EIDEMPOTENCYREQUIRED, 400, "Idempotency key required"},
	{ETOOLARGE, 413, "Payload too large"},
	{EMEDIATYPE, 415, "Unsupported media type"},
	{ERATELIMITED, 429, "Rate limited"},
	{EUNAVAILABLE, 503, "Service unavailable"},
	{EINTERNAL, 500, "Internal error"},
}

// Codes returns every error code with its HTTP status and title, in a fixed
// order. The gateway builds its problem table from it.
func Codes() []CodeInfo { return slices.Clone(codes) }

// LookupCode returns how code is presented, and whether it is one of ours.
func LookupCode(code string) (CodeInfo, bool) {
	i := slices.IndexFunc(codes, func(c CodeInfo) bool { return c.Code == code })
	if i < 0 {
		return CodeInfo{}, false
	}
	return codes[i], true
}

// FieldError names one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Field error codes: the `code` of one entry of a problem's `errors`, the one
// set every package and the gateway use. Like the error codes they are part
// of the public API: add freely, never rename.
const (
	// FieldRequired: the field is missing or empty.
	FieldRequired = "required"
	// FieldInvalid: the value is not of the form the field takes.
	FieldInvalid = "invalid"
	// FieldInvalidType: the JSON value has the wrong type.
	FieldInvalidType = "invalid_type"
	// FieldUnknownField: the request has a member the API does not know.
	FieldUnknownField = "unknown_field"
	// FieldReadOnly: the member is set by the server and cannot be sent.
	FieldReadOnly = "read_only"
	// FieldTooShort: the text is shorter than its minimum.
	FieldTooShort = "too_short"
	// FieldTooLong: the text is longer than its maximum.
	FieldTooLong = "too_long"
	// FieldTooMany: the list, or the owner's collection, is full.
	FieldTooMany = "too_many"
	// FieldOutOfRange: the number is outside its bounds.
	FieldOutOfRange = "out_of_range"
	// FieldRange: the lower end of a range is above its upper end.
	FieldRange = "range"
	// FieldEmpty: one item of a list is empty.
	FieldEmpty = "empty"
	// FieldUnknown: the value is not one of the names the field takes.
	FieldUnknown = "unknown"
	// FieldUnsupported: the value is valid but not supported here.
	FieldUnsupported = "unsupported"
	// FieldTaken: another object holds the value already.
	FieldTaken = "taken"
	// FieldNotFound: the field names an object that does not exist.
	FieldNotFound = "not_found"
	// FieldUnchanged: the value is the one the object has already.
	FieldUnchanged = "unchanged"
	// FieldNotNew: the value must differ from one used before.
	FieldNotNew = "not_new"
	// FieldDuplicate: the value appears twice in one list.
	FieldDuplicate = "duplicate"
	// FieldInvalidOrExpired: the token is unknown, used or expired.
	FieldInvalidOrExpired = "invalid_or_expired"
	// FieldDefaultRequired: a default (address) is needed while others exist.
	FieldDefaultRequired = "default_required"
	// FieldSortMismatch: a cursor made for one sort was sent with another.
	FieldSortMismatch = "sort_mismatch"
	// FieldBelowReserved: stock on hand cannot go below what is reserved.
	FieldBelowReserved = "below_reserved"
	// FieldUnavailable: the item is no longer for sale.
	FieldUnavailable = "unavailable"
	// FieldCurrencyMismatch: the item's currency differs from the cart's.
	FieldCurrencyMismatch = "currency_mismatch"
	// FieldCartFull: the cart holds as many lines or units as it may.
	FieldCartFull = "cart_full"
	// FieldUnknownOption: a variant names an option the product lacks.
	FieldUnknownOption = "unknown_option"
	// FieldUnknownValue: a variant names a value its option lacks.
	FieldUnknownValue = "unknown_value"
	// FieldMissingOption: a variant lacks one of the product's options.
	FieldMissingOption = "missing_option"
	// FieldDuplicateCombination: two variants have the same option values.
	FieldDuplicateCombination = "duplicate_combination"
	// FieldMissingCombination: a combination of option values has no variant.
	FieldMissingCombination = "missing_combination"
	// FieldNotAbovePrice: a compare-at price is not above the price.
	FieldNotAbovePrice = "not_above_price"
	// FieldCycle: a category cannot move under itself or a descendant.
	FieldCycle = "cycle"
	// FieldTooDeep: the category tree would be deeper than allowed.
	FieldTooDeep = "too_deep"
	// FieldTooCommon: the password is on the list of common passwords.
	FieldTooCommon = "too_common"
	// FieldTooSimilar: the password is the username or email address.
	FieldTooSimilar = "too_similar"
)

// Field returns the field error of field with code and a formatted message.
func Field(field, code, format string, args ...any) FieldError {
	return FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns the EINVALID error of one field: msg is both the error's
// message and the field's.
func Invalid(field, code, msg string) *Error {
	return InvalidFields(FieldError{Field: field, Code: code, Message: msg})
}

// Invalidf is Invalid with a formatted message.
func Invalidf(field, code, format string, args ...any) *Error {
	return Invalid(field, code, fmt.Sprintf(format, args...))
}

// InvalidFields returns the EINVALID error naming the given fields; its
// message joins theirs with "; ".
func InvalidFields(fields ...FieldError) *Error {
	msgs := make([]string, len(fields))
	for i, f := range fields {
		msgs[i] = f.Message
	}
	return &Error{Code: EINVALID, Message: strings.Join(msgs, "; "), Fields: fields}
}

// Error is the one error type of Emporium. Code is for machines, Message for
// the person calling the API, Op for the operator reading logs, and Err is the
// underlying cause, never shown to clients. Fields names the fields at fault
// of an EINVALID error; RetryAfter, when positive, is how long the caller
// should wait before trying again (an ERATELIMITED error sets it, and the
// gateway answers it as Retry-After). Extensions are data for the caller
// beside the message, answered as extension members of the problem (RFC
// 9457 §3.2): names in snake_case, values that encode as JSON (plain data:
// Money, structs with json tags, strings, numbers). The code's documentation
// says which it carries (EPRICECHANGED: "totals", see PriceChanged).
type Error struct {
	Code       string
	Message    string
	Op         string
	Fields     []FieldError
	RetryAfter time.Duration
	Extensions map[string]any
	Err        error
}

// Error renders the error for logs: the operation, the code, the message and
// the cause, each where present.
func (e *Error) Error() string {
	s := ""
	if e.Op != "" {
		s = e.Op + ": "
	}
	if e.Message == "" && e.Err != nil {
		// A wrapper: the cause already says what and which code.
		return s + e.Err.Error()
	}
	if e.Code != "" {
		s += "<" + e.Code + "> "
	}
	s += e.Message
	if e.Err != nil {
		if e.Message != "" {
			s += ": "
		}
		s += e.Err.Error()
	}
	return s
}

// Unwrap returns the cause so errors.Is and errors.As see through Error.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error with the given code and a formatted message meant
// for the API caller.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error for operation op that keeps err as its cause. The code
// and message of err are kept when it carries them; otherwise it is internal.
func Wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: ErrorCode(err), Op: op, Err: err}
}

// reasoned is what a grain error looks like after it crossed the cluster
// (cluster.GrainErrorResponse): a reason, which Emporium sets to its code, a
// message, and metadata, which carries the field errors under FieldsKey, the
// retry hint under RetryAfterKey and the extensions under ProblemExtensionsKey.
// Matching the getters keeps this package free of protoactor.
type reasoned interface {
	error
	GetReason() string
	GetMessage() string
	GetMetadata() map[string]string
}

// Metadata keys of a grain error that crosses the cluster.
const (
	// FieldsKey carries the error's field errors, as JSON.
	FieldsKey = "fields"
	// RetryAfterKey carries the error's retry hint, in whole milliseconds.
	RetryAfterKey = "retry_after_ms"
	// ProblemExtensionsKey carries the error's extensions (the extension
	// members of its problem), as one JSON object.
	ProblemExtensionsKey = "extensions"
)

// Metadata returns the metadata a grain error made of err carries across the
// cluster (field errors, retry hint and extensions), or nil when there is
// none. Extensions that cannot be encoded as JSON are left out.
func Metadata(err error) map[string]string {
	md := map[string]string{}
	if fields := ErrorFields(err); len(fields) > 0 {
		raw, _ := json.Marshal(fields) // a slice of strings cannot fail to encode
		md[FieldsKey] = string(raw)
	}
	if wait := ErrorRetryAfter(err); wait > 0 {
		md[RetryAfterKey] = strconv.FormatInt(wait.Milliseconds(), 10)
	}
	if ext := ErrorExtensions(err); len(ext) > 0 {
		if raw, jerr := json.Marshal(ext); jerr == nil {
			md[ProblemExtensionsKey] = string(raw)
		}
	}
	if len(md) == 0 {
		return nil
	}
	return md
}

// GrainCall returns the error of a grain call made by operation op. A grain's
// own error keeps its code and message; any other failure of the call (the
// request timed out, retries ran out, the member went away) is EUNAVAILABLE,
// since the grain may answer when asked again.
func GrainCall(op string, err error) error {
	if err == nil {
		return nil
	}
	var r reasoned
	if errors.As(err, &r) {
		return &Error{Code: ErrorCode(err), Message: ErrorMessage(err), Fields: ErrorFields(err),
			RetryAfter: ErrorRetryAfter(err), Extensions: ErrorExtensions(err), Op: op, Err: err}
	}
	return &Error{Code: EUNAVAILABLE, Op: op, Err: err}
}

// ErrorCode returns the code of err: the code of the first Error in its chain,
// the reason of a grain error that carries one of our codes, EUNAVAILABLE for
// a grain call that timed out, and EINTERNAL for anything else.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != "" {
		return e.Code
	}
	var r reasoned
	if errors.As(err, &r) {
		return codeOfReason(r.GetReason())
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return EUNAVAILABLE
	}
	return EINTERNAL
}

// ErrorMessage returns the message meant for the API caller. Internal errors
// get a generic message so that no detail of the system leaks.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	if ErrorCode(err) == EINTERNAL {
		return "An internal error occurred."
	}
	// The first message in the chain: wrappers made by Wrap carry none.
	for e := err; e != nil; e = errors.Unwrap(e) {
		if ee, ok := e.(*Error); ok && ee.Message != "" {
			return ee.Message
		}
	}
	var r reasoned
	if errors.As(err, &r) {
		if code := codeOfReason(r.GetReason()); code != EINTERNAL && code != EUNAVAILABLE {
			return r.GetMessage()
		}
	}
	switch ErrorCode(err) {
	case EUNAVAILABLE:
		return "The service is busy or a dependency is down; try again shortly."
	default:
		return "An internal error occurred."
	}
}

// ErrorFields returns the per-field errors of err, if any, including those
// a grain error carried across the cluster.
func ErrorFields(err error) []FieldError {
	// The first fields in the chain: wrappers made by Wrap carry none.
	for e := err; e != nil; e = errors.Unwrap(e) {
		if ee, ok := e.(*Error); ok && len(ee.Fields) > 0 {
			return ee.Fields
		}
	}
	var r reasoned
	if errors.As(err, &r) {
		var fields []FieldError
		if raw := r.GetMetadata()[FieldsKey]; raw != "" && json.Unmarshal([]byte(raw), &fields) == nil {
			return fields
		}
	}
	return nil
}

// ErrorRetryAfter returns how long the caller of a refused request should
// wait before trying again: the first positive RetryAfter in err's chain, or
// the hint a grain error carried across the cluster; zero when err says
// nothing of it.
func ErrorRetryAfter(err error) time.Duration {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if ee, ok := e.(*Error); ok && ee.RetryAfter > 0 {
			return ee.RetryAfter
		}
	}
	var r reasoned
	if errors.As(err, &r) {
		if ms, perr := strconv.ParseInt(r.GetMetadata()[RetryAfterKey], 10, 64); perr == nil && ms > 0 {
			return time.Duration(ms) * time.Millisecond
		}
	}
	return 0
}

// ErrorExtensions returns the extensions of err: the first non-empty
// Extensions in its chain, or those a grain error carried across the
// cluster (each value then a json.RawMessage, which encodes as the original
// did); nil when it has none.
func ErrorExtensions(err error) map[string]any {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if ee, ok := e.(*Error); ok && len(ee.Extensions) > 0 {
			return ee.Extensions
		}
	}
	var r reasoned
	if errors.As(err, &r) {
		var raw map[string]json.RawMessage
		if s := r.GetMetadata()[ProblemExtensionsKey]; s != "" && json.Unmarshal([]byte(s), &raw) == nil && len(raw) > 0 {
			ext := make(map[string]any, len(raw))
			for k, v := range raw {
				ext[k] = v
			}
			return ext
		}
	}
	return nil
}

// IsCode reports whether err carries the given code.
func IsCode(err error, code string) bool { return err != nil && ErrorCode(err) == code }

// codeOfReason maps the reason of a grain error to one of our codes. A grain
// puts one of our codes there; protoactor's own reasons (DEADLINE_EXCEEDED,
// UNAVAILABLE, ...) are upper case and mapped here.
func codeOfReason(reason string) string {
	if _, ok := LookupCode(reason); ok {
		return reason
	}
	switch reason {
	case "DEADLINE_EXCEEDED", "UNAVAILABLE", "CANCELLED", "RESOURCE_EXHAUSTED", "ABORTED":
		return EUNAVAILABLE
	case "NOT_FOUND":
		return ENOTFOUND
	case "INVALID_ARGUMENT":
		return EINVALID
	default:
		return EINTERNAL
	}
}

// KeyRequired returns the EIDEMPOTENCYREQUIRED error of a request that
// must carry an Idempotency-Key: doing says what the request does ("Placing
// an order") and twice what a retry without a key could do twice ("order
// twice").
func KeyRequired(doing, twice string) *Error {
	return &Error{
		Code: EIDEMPOTENCYREQUIRED,
		Message: doing + " needs an Idempotency-Key header (a UUID, say), sent again unchanged with every retry, so that a retry cannot " +
			twice + ".",
		Fields: []FieldError{{Field: "Idempotency-Key", Code: FieldRequired, Message: "is required"}},
	}
}
