// Package emporium holds the vocabulary every layer of Emporium shares: the
// error type with its stable codes. It imports nothing of the project, so any
// package may import it (DESIGN §3 treats it like the standard library).
package emporium

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Error codes are part of the public API: they appear as the `code` member of
// every problem+json response and as the reason of a grain error. Add codes
// freely; never rename one. The gateway maps each to an HTTP status in one
// table (gateway/problem.go).
const (
	// EINVALID: the request is well formed but breaks a rule (422).
	EINVALID = "validation_failed"
	// EMALFORMED: the request cannot be decoded (400).
	EMALFORMED = "malformed_request"
	// EUNAUTHENTICATED: no valid credentials were presented (401).
	EUNAUTHENTICATED = "unauthenticated"
	// EFORBIDDEN: the caller may not do this (403).
	EFORBIDDEN = "forbidden"
	// EUNVERIFIED: the account's email address is not verified yet (403).
	EUNVERIFIED = "email_not_verified"
	// ENOTFOUND: the object does not exist or the caller may not see it (404).
	ENOTFOUND = "not_found"
	// EMETHOD: the route exists but not for this method (405).
	EMETHOD = "method_not_allowed"
	// ECONFLICT: the object changed under the caller; reload and retry (409).
	ECONFLICT = "conflict"
	// EOUTOFSTOCK: not enough available stock for the request (409).
	EOUTOFSTOCK = "out_of_stock"
	// EIDEMPOTENCY: an idempotency key was reused with a different request (422).
	EIDEMPOTENCY = "idempotency_key_reused"
	// ETOOLARGE: the request body is over the size limit (413).
	ETOOLARGE = "payload_too_large"
	// EMEDIATYPE: the request body is not JSON (415).
	EMEDIATYPE = "unsupported_media_type"
	// ERATELIMITED: the caller is over a rate limit (429).
	ERATELIMITED = "rate_limited"
	// EUNAVAILABLE: a dependency is down or busy; retrying later may work (503).
	EUNAVAILABLE = "unavailable"
	// EINTERNAL: a bug or an unexpected failure; details are logged, not shown (500).
	EINTERNAL = "internal"
)

// FieldError names one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error is the one error type of Emporium. Code is for machines, Message for
// the person calling the API, Op for the operator reading logs, and Err is the
// underlying cause, never shown to clients.
type Error struct {
	Code    string
	Message string
	Op      string
	Fields  []FieldError
	Err     error
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
// message, and metadata, which carries the field errors under FieldsKey.
// Matching the getters keeps this package free of protoactor.
type reasoned interface {
	error
	GetReason() string
	GetMessage() string
	GetMetadata() map[string]string
}

// FieldsKey is the metadata key under which a grain error carries its field
// errors across the cluster, as JSON.
const FieldsKey = "fields"

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
		return &Error{Code: ErrorCode(err), Message: ErrorMessage(err), Fields: ErrorFields(err), Op: op, Err: err}
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
	var e *Error
	if errors.As(err, &e) && len(e.Fields) > 0 {
		return e.Fields
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

// IsCode reports whether err carries the given code.
func IsCode(err error, code string) bool { return err != nil && ErrorCode(err) == code }

// knownCodes are the codes a grain may put in a reason. Protoactor's own
// reasons (DEADLINE_EXCEEDED, UNAVAILABLE, ...) are upper case and are mapped
// by codeOfReason.
var knownCodes = map[string]bool{
	EINVALID: true, EMALFORMED: true, EUNAUTHENTICATED: true, EFORBIDDEN: true, EUNVERIFIED: true,
	ENOTFOUND: true, EMETHOD: true, ECONFLICT: true, EOUTOFSTOCK: true,
	EIDEMPOTENCY: true, ETOOLARGE: true, EMEDIATYPE: true, ERATELIMITED: true,
	EUNAVAILABLE: true, EINTERNAL: true,
}

func codeOfReason(reason string) string {
	if knownCodes[reason] {
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
