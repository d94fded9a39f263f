package gateway

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	emporium "github.com/emporium-shop/emporium"
)

// Decode reads the request body, a JSON object, into v, a pointer to a
// struct. It is strict, because a lenient decoder lets a client believe a
// misspelt or server-owned field was taken:
//
//   - the Content-Type must be application/json (415 otherwise);
//   - the body must be one JSON object and nothing after it;
//   - a member v has no field for is refused, naming it.
//   - the body must be UTF-8, and its strings must hold neither half of a
//     UTF-16 surrogate pair nor a control character other than tab, line
//     feed and carriage return (checkText), since encoding/json would
//     replace the first two silently;
//
// Then it checks what the request type declares:
//
//   - a member declared as a readOnly field (one the server owns: an id, a
//     price, a status) is refused by name, 400 malformed_request with field
//     code read_only, so a client learns why rather than that the member is
//     unknown (DESIGN §8);
//   - if v has a Validate() error method, its answer is Decode's: that is
//     where a request type names the members the contract requires
//     (required, 422 validation_failed).
//
// Every failure is an *emporium.Error the gateway answers with a 4xx
// problem: malformed_request (400) naming the field and the position where
// it can, unsupported_media_type (415), or payload_too_large (413) when the
// body is over the server's limit. Messages speak of JSON types, never of
// the Go types behind them.
func Decode(r *http.Request, v any) error {
	if err := decodeBody(r, v); err != nil {
		return err
	}
	if err := readOnlySent(v); err != nil {
		return err
	}
	if val, ok := v.(interface{ Validate() error }); ok {
		return val.Validate()
	}
	return nil
}

// decodeBody reads the request body strictly into v.
func decodeBody(r *http.Request, v any) error {
	if err := requireJSON(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if r.Body == nil {
		return errEmptyBody
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return tooLarge(tooBig.Limit)
		}
		return &emporium.Error{Code: emporium.EMALFORMED, Message: "The request body could not be read.", Op: "gateway.Decode", Err: err}
	}
	return decodeJSON(body, v)
}

var (
	errEmptyBody   = emporium.Errorf(emporium.EMALFORMED, "The request body is empty; it must be a JSON object.")
	errNotAnObject = emporium.Errorf(emporium.EMALFORMED, "The request body must be a JSON object.")
	errTrailing    = emporium.Errorf(emporium.EMALFORMED, "The request body must hold one JSON object and nothing after it.")
)

// requireJSON accepts application/json, with no charset or UTF-8, the only
// encoding JSON may use between systems (RFC 8259).
func requireJSON(contentType string) error {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err == nil && mediaType == "application/json" {
		if cs, ok := params["charset"]; !ok || strings.EqualFold(cs, "utf-8") {
			return nil
		}
	}
	return emporium.Errorf(emporium.EMEDIATYPE, "The request body must be JSON, sent with Content-Type: application/json.")
}

// decodeJSON decodes body, read whole so that positions can be given as
// lines and columns, into v.
func decodeJSON(body []byte, v any) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return errEmptyBody
	}
	if trimmed[0] != '{' {
		return errNotAnObject
	}
	if err := checkText(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(body, reflect.TypeOf(v), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errTrailing
	}
	return nil
}

// readOnly is a member of a request body that the server owns: a client may
// read it in answers but never write it. A request type declares such a
// member as a field of this type with the member's json name, and Decode
// refuses it when it is present, even as null.
type readOnly struct{ sent bool }

// UnmarshalJSON records that the member was sent; its value does not matter.
func (m *readOnly) UnmarshalJSON([]byte) error {
	m.sent = true
	return nil
}

var readOnlyType = reflect.TypeFor[readOnly]()

// readOnlySent refuses the readOnly members of v, a pointer to a struct,
// that the body held, naming them in the order the struct declares them
// (embedded structs included, as encoding/json flattens them).
func readOnlySent(v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return nil
	}
	var owned []emporium.FieldError
	var walk func(reflect.Value)
	walk = func(s reflect.Value) {
		for i := range s.NumField() {
			f, fv := s.Type().Field(i), s.Field(i)
			switch {
			case f.Type == readOnlyType:
				if fv.Field(0).Bool() { // not Interface: fv may sit in an unexported embedded struct
					name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
					owned = append(owned, emporium.FieldError{Field: name, Code: emporium.FieldReadOnly, Message: "is set by the server and cannot be changed"})
				}
			case f.Anonymous && f.Type.Kind() == reflect.Struct:
				walk(fv)
			}
		}
	}
	walk(rv.Elem())
	if len(owned) == 0 {
		return nil
	}
	msg := fmt.Sprintf("The field %q is set by the server and cannot be changed.", owned[0].Field)
	if len(owned) > 1 {
		msg = "Some fields are set by the server and cannot be changed; see errors."
	}
	return &emporium.Error{Code: emporium.EMALFORMED, Message: msg, Op: "gateway: server-owned field", Fields: owned}
}

// MaxJSONInteger is the largest integer every JSON client reads exactly
// (2^53-1, JavaScript's Number.MAX_SAFE_INTEGER): the bound of integers the
// contract does not bound more tightly.
const MaxJSONInteger = 1<<53 - 1

// field is one member of a request body, for required.
type field struct{ name, value string }

// required returns a validation_failed error naming every member that is
// missing or empty, or nil. Request types call it from their Validate.
func required(fields ...field) error {
	var missing []emporium.FieldError
	for _, f := range fields {
		if f.value == "" {
			missing = append(missing, emporium.FieldError{Field: f.name, Code: emporium.FieldRequired, Message: "is required"})
		}
	}
	if len(missing) == 0 {
		return nil
	}
	msg := fmt.Sprintf("The field %q is required.", missing[0].Field)
	if len(missing) > 1 {
		msg = "Some required fields are missing; see errors."
	}
	return &emporium.Error{Code: emporium.EINVALID, Message: msg, Fields: missing}
}

// deref is the value of an optional string member, "" when it was not sent.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// unknownFieldPrefix starts the error encoding/json returns for a member
// that DisallowUnknownFields refuses; it has no error type of its own.
const unknownFieldPrefix = "json: unknown field "

// decodeError explains a decoding error in terms of the JSON the client
// sent. encoding/json's own messages name Go types, so they are not passed
// on, except for syntax errors, which speak only of the input.
func decodeError(body []byte, target reflect.Type, err error) error {
	var (
		apiErr    *emporium.Error
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		targetErr *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &apiErr):
		// A field's own UnmarshalJSON already said what is wrong.
		return err
	case errors.As(err, &syntaxErr):
		return &emporium.Error{
			Code:    emporium.EMALFORMED,
			Message: fmt.Sprintf("The request body is not valid JSON at %s: %s.", position(body, syntaxErr.Offset), strings.TrimPrefix(syntaxErr.Error(), "json: ")),
			Op:      "gateway.Decode",
			Err:     err,
		}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &emporium.Error{Code: emporium.EMALFORMED, Message: "The request body ends in the middle of the JSON object.", Op: "gateway.Decode", Err: err}
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return errNotAnObject
		}
		name := memberPath(target, typeErr.Field)
		want := "must be " + jsonType(typeErr.Type)
		return &emporium.Error{
			Code:    emporium.EMALFORMED,
			Message: fmt.Sprintf("The field %q %s (at %s).", name, want, position(body, typeErr.Offset)),
			Op:      "gateway.Decode",
			Fields:  []emporium.FieldError{{Field: name, Code: emporium.FieldInvalidType, Message: want}},
			Err:     err,
		}
	case strings.HasPrefix(err.Error(), unknownFieldPrefix):
		name, uerr := strconv.Unquote(strings.TrimPrefix(err.Error(), unknownFieldPrefix))
		if uerr != nil {
			name = strings.TrimPrefix(err.Error(), unknownFieldPrefix)
		}
		return &emporium.Error{
			Code:    emporium.EMALFORMED,
			Message: fmt.Sprintf("The field %q is not known.", name),
			Op:      "gateway.Decode",
			Fields:  []emporium.FieldError{{Field: name, Code: emporium.FieldUnknownField, Message: "is not a known field"}},
			Err:     err,
		}
	case errors.As(err, &targetErr):
		// v is not a pointer: a bug in the handler, not in the request.
		return emporium.Wrap("gateway.Decode", err)
	default:
		// A field's UnmarshalJSON or UnmarshalText failed (a malformed
		// time, say). Its message may describe Go internals: keep it for
		// the log only.
		return &emporium.Error{Code: emporium.EMALFORMED, Message: "The request body holds a value that is not valid for its field.", Op: "gateway.Decode", Err: err}
	}
}

// memberPath turns the path of an UnmarshalTypeError into the client's
// terms: encoding/json names each embedded struct the path passes through
// by its Go type (PlaceOrderInput.expected_total), which a client never
// sees, so those names are dropped by walking target, the decoded type.
func memberPath(target reflect.Type, path string) string {
	segments := strings.Split(path, ".")
	out := make([]string, 0, len(segments))
	t := target
	for _, seg := range segments {
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			t = t.Elem()
		}
		switch {
		case t == nil:
		case t.Kind() == reflect.Struct:
			if f, ok := t.FieldByName(seg); ok && f.Anonymous && f.Tag.Get("json") == "" {
				t = f.Type
				continue
			}
			t = memberType(t, seg)
		case t.Kind() == reflect.Map:
			t = t.Elem()
		default:
			t = nil
		}
		out = append(out, seg)
	}
	return strings.Join(out, ".")
}

// memberType is the type of the field of struct t that decodes the JSON
// member name, or nil.
func memberType(t reflect.Type, name string) reflect.Type {
	for _, f := range reflect.VisibleFields(t) {
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" || f.Anonymous && tag == "" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if strings.EqualFold(tag, name) {
			return f.Type
		}
	}
	return nil
}

// position renders where encoding/json stopped as a line and a column,
// both from 1. Its offsets count the bytes read, so the byte at fault, or the
// last byte of the value at fault, is the one before the offset.
func position(body []byte, offset int64) string {
	at := min(max(offset-1, 0), int64(len(body)))
	before := body[:at]
	line := bytes.Count(before, []byte("\n")) + 1
	column := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, column)
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// jsonType names the JSON type a Go type decodes from, with its article.
func jsonType(t reflect.Type) string {
	if t == nil {
		return "a different type of value"
	}
	if t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return "a string"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return jsonType(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		return "an array"
	case reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	default:
		return "a different type of value"
	}
}

// Respond writes v as a JSON response with the given status. It returns an
// error only when v cannot be encoded, before anything is written, so a
// handler can return it and the client gets a 500 problem. Errors writing
// to the client are not returned: the client is gone, and nothing more can
// be told to it.
func Respond(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return emporium.Wrap("gateway.Respond", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
	return nil
}
