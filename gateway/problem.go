package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	emporium "github.com/emporium-shop/emporium"
)

// Problem is an RFC 9457 problem document, the body of every error
// response. Tests of other packages decode error responses into it.
type Problem struct {
	// Type is a stable URI naming the kind of problem: ProblemTypeBase
	// followed by the code.
	Type string `json:"type"`
	// Title summarises the kind of problem; it is the same for every
	// occurrence of a code.
	Title string `json:"title"`
	// Status repeats the HTTP status of the response.
	Status int `json:"status"`
	// Detail explains this occurrence to the person calling the API.
	Detail string `json:"detail"`
	// Code is the stable emporium error code, for machines.
	Code string `json:"code"`
	// Errors lists the fields at fault, when there are any.
	Errors []emporium.FieldError `json:"errors,omitempty"`
	// RequestID is the X-Request-ID of the request, to quote to an operator.
	RequestID string `json:"request_id"`
	// Extensions are the problem's extension members (RFC 9457 §3.2),
	// encoded beside the members above: the Extensions of the error
	// (emporium.Error), such as the `totals` of price_changed. A member
	// named like one of the standard members above, or not in snake_case,
	// is left out when encoding. Decoding puts every member not above here.
	Extensions map[string]json.RawMessage `json:"-"`
}

// problemMembers are the JSON names of Problem's standard members.
var problemMembers = []string{"type", "title", "status", "detail", "code", "errors", "request_id"}

// extensionName is the form of an extension member's name.
var extensionName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// problemBody is Problem without its methods, for encoding/json.
type problemBody Problem

// MarshalJSON encodes the standard members, then the extensions in the
// order of their names.
func (p Problem) MarshalJSON() ([]byte, error) {
	body, err := json.Marshal(problemBody(p))
	if err != nil || len(p.Extensions) == 0 {
		return body, err
	}
	var buf bytes.Buffer
	buf.Write(body[:len(body)-1]) // without the closing brace
	for _, name := range slices.Sorted(maps.Keys(p.Extensions)) {
		if !extensionName.MatchString(name) || slices.Contains(problemMembers, name) {
			continue
		}
		value, err := json.Marshal(p.Extensions[name])
		if err != nil {
			return nil, err
		}
		key, _ := json.Marshal(name)
		buf.WriteByte(',')
		buf.Write(key)
		buf.WriteByte(':')
		buf.Write(value)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// UnmarshalJSON decodes the standard members into their fields and every
// other member into Extensions.
func (p *Problem) UnmarshalJSON(b []byte) error {
	var body problemBody
	if err := json.Unmarshal(b, &body); err != nil {
		return err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return err
	}
	for _, name := range problemMembers {
		delete(members, name)
	}
	body.Extensions = nil
	if len(members) > 0 {
		body.Extensions = members
	}
	*p = Problem(body)
	return nil
}

// extensionsOf encodes the extensions of err for its problem. One that
// cannot be encoded is left out and noted in the request's access log.
func extensionsOf(r *http.Request, err error) map[string]json.RawMessage {
	ext := emporium.ErrorExtensions(err)
	if len(ext) == 0 {
		return nil
	}
	out := make(map[string]json.RawMessage, len(ext))
	for name, v := range ext {
		raw, jerr := json.Marshal(v)
		if jerr != nil {
			if st := stateOf(r.Context()); st != nil {
				st.err = &emporium.Error{Code: emporium.ErrorCode(err), Op: "gateway: problem extension " + name + " cannot be encoded: " + jerr.Error(), Err: err}
			}
			continue
		}
		out[name] = raw
	}
	return out
}

// ProblemTypeBase is the prefix of every problem type URI.
const ProblemTypeBase = "https://emporium.dev/problems/"

// problemFor returns how code is presented (emporium.Codes, the one list of
// codes with their statuses and titles); an unknown code is internal.
func problemFor(code string) emporium.CodeInfo {
	if info, ok := emporium.LookupCode(code); ok {
		return info
	}
	info, _ := emporium.LookupCode(emporium.EINTERNAL)
	return info
}

// StatusOf returns the HTTP status the gateway answers err with.
func StatusOf(err error) int {
	return problemFor(emporium.ErrorCode(err)).Status
}

// The gateway's own answers to requests no route takes.
var (
	errNotFound         = emporium.Errorf(emporium.ENOTFOUND, "No resource exists at this path.")
	errMethodNotAllowed = emporium.Errorf(emporium.EMETHOD, "This resource does not support the method; the Allow header lists those it does.")
)

// internalDetail is the generic message of internal errors, the only detail
// of them a client ever sees.
var internalDetail = emporium.ErrorMessage(errors.New("internal"))

// DefaultRetryAfter is the Retry-After of a rate_limited problem whose
// error does not say when to retry.
const DefaultRetryAfter = 60 * time.Second

// UnavailableRetryAfter is the Retry-After of an unavailable problem
// (503) whose error carries no retry hint.
const UnavailableRetryAfter = 2 * time.Second

// wholeSeconds renders wait as a Retry-After value: whole seconds, rounded
// up, at least 1.
func wholeSeconds(wait time.Duration) string {
	return strconv.FormatInt(max(int64((wait+time.Second-1)/time.Second), 1), 10)
}

// Error writes err as a problem+json response. The status, title and type
// come from err's code; the detail is its message for the caller, the
// errors its field errors, and its extensions (emporium.ErrorExtensions)
// become extension members. Internal errors and unknown codes are answered as
// "internal" with a generic detail: their cause goes only to the access log
// of the request, with its id.
//
// Handlers return errors rather than call Error; middleware that answers
// early calls it. Headers a problem needs besides its body (Allow,
// Retry-After) are set by the caller first. A rate_limited problem always
// carries Retry-After: when the caller set none (the error came from a
// service, without a ratelimit.Decision), it is the error's retry hint
// (emporium.Error.RetryAfter), or DefaultRetryAfter.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	code := emporium.ErrorCode(err)
	kind, ok := emporium.LookupCode(code)
	if !ok {
		err = &emporium.Error{Code: emporium.EINTERNAL, Op: "gateway: unknown error code " + code, Err: err}
		code = emporium.EINTERNAL
		kind = problemFor(code)
	}
	if st := stateOf(r.Context()); st != nil {
		st.err = err
	}

	p := Problem{
		Type:      ProblemTypeBase + code,
		Title:     kind.Title,
		Status:    kind.Status,
		Detail:    emporium.ErrorMessage(err),
		Code:      code,
		RequestID: RequestID(r.Context()),
	}
	if code == emporium.EINTERNAL {
		p.Detail = internalDetail
	} else {
		p.Errors = emporium.ErrorFields(err)
		p.Extensions = extensionsOf(r, err)
		if p.Detail == internalDetail {
			// An error with a code but no message: ErrorMessage falls
			// back to the internal message, which would mislead here.
			p.Detail = kind.Title + "."
		}
	}

	p.bound()

	// Problem holds strings, ints and valid JSON (the extensions, encoded
	// by extensionsOf), which always marshal.
	body, _ := json.Marshal(p)
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Del("Content-Length")
	if code == emporium.EUNAUTHENTICATED {
		h.Set("WWW-Authenticate", "Bearer")
	}
	if code == emporium.ERATELIMITED && h.Get("Retry-After") == "" {
		// A limit applied behind the gateway (failed logins, TOTP tries)
		// reaches it as an error without a decision. RateLimit-* fields
		// set by an edge limit that let the request through describe a
		// limit that is not the one refusing it, so they go.
		wait := emporium.ErrorRetryAfter(err)
		if wait <= 0 {
			wait = DefaultRetryAfter
		}
		h.Set("Retry-After", wholeSeconds(wait))
		h.Del("RateLimit-Limit")
		h.Del("RateLimit-Remaining")
		h.Del("RateLimit-Reset")
	}
	if code == emporium.EUNAVAILABLE && h.Get("Retry-After") == "" {
		// A store or cluster that cannot answer in time is usually back
		// within seconds; clients and load balancers retry after this.
		wait := emporium.ErrorRetryAfter(err)
		if wait <= 0 {
			wait = UnavailableRetryAfter
		}
		h.Set("Retry-After", wholeSeconds(wait))
	}
	if code == emporium.ECONFLICT && h.Get("Retry-After") == "" {
		// A conflict that passes (an order still being placed cannot be
		// cancelled yet) says when to try again; one that lasts says
		// nothing, and gets no header.
		if wait := emporium.ErrorRetryAfter(err); wait > 0 {
			h.Set("Retry-After", wholeSeconds(wait))
		}
	}
	w.WriteHeader(kind.Status)
	_, _ = w.Write(append(body, '\n'))
}

// Bounds of a problem, as openapi.yaml states them: a detail that joins
// many fields' messages, or names a client's member of any length, is cut
// to fit, so that an answer's size never grows with the request's.
const (
	// MaxProblemDetail bounds detail, and each error's message, in
	// characters.
	MaxProblemDetail = 2000
	// MaxProblemField bounds each error's field, in characters.
	MaxProblemField = 300
	// MaxProblemErrors bounds the list of errors.
	MaxProblemErrors = 1000
)

// bound cuts the problem's texts and errors to the bounds above.
func (p *Problem) bound() {
	p.Detail = truncate(p.Detail, MaxProblemDetail)
	p.Errors = slices.Clone(p.Errors[:min(len(p.Errors), MaxProblemErrors)])
	for i := range p.Errors {
		p.Errors[i].Field = truncate(p.Errors[i].Field, MaxProblemField)
		p.Errors[i].Message = truncate(p.Errors[i].Message, MaxProblemDetail)
	}
}

// truncate cuts s to at most n characters, ending in "…" when it cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
