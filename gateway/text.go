package gateway

import (
	"fmt"
	"unicode/utf8"

	emporium "github.com/emporium-shop/emporium"
)

// checkText refuses a request body that is not text a person could have
// typed: bytes that are not UTF-8 (encoding/json would silently turn them
// into U+FFFD and store the mangled string), a \u escape that encodes half
// of a UTF-16 surrogate pair (encoding/json would do the same), or a control
// character, raw or escaped, inside a string. Tab, line feed and carriage
// return are text (a description has lines); every other C0 control, DEL
// and the C1 controls are not. Syntax is left to the decoder: checkText only
// looks inside strings, and stops where the JSON stops making sense.
func checkText(body []byte) error {
	if !utf8.Valid(body) {
		at := 0
		for at < len(body) {
			r, size := utf8.DecodeRune(body[at:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			at += size
		}
		return badText(body, at, "is not valid UTF-8")
	}
	inString := false
	for i := 0; i < len(body); {
		c := body[i]
		if !inString {
			if c == '"' {
				inString = true
			}
			i++
			continue
		}
		switch {
		case c == '"':
			inString = false
			i++
		case c == '\\':
			if i+1 >= len(body) {
				return nil
			}
			switch body[i+1] {
			case 'u':
			case 'b', 'f': // backspace, form feed
				return badText(body, i, "holds a control character")
			default:
				i += 2
				continue
			}
			r, ok := hex4(body, i+2)
			if !ok {
				return nil // the decoder explains the syntax error
			}
			switch {
			case r >= 0xD800 && r <= 0xDBFF:
				// A high surrogate must be followed by a low one.
				if i+7 < len(body) && body[i+6] == '\\' && body[i+7] == 'u' {
					if lo, ok := hex4(body, i+8); ok && lo >= 0xDC00 && lo <= 0xDFFF {
						i += 12
						continue
					}
				}
				return badText(body, i, "holds an unpaired UTF-16 surrogate")
			case r >= 0xDC00 && r <= 0xDFFF:
				return badText(body, i, "holds an unpaired UTF-16 surrogate")
			case isControl(r):
				return badText(body, i, "holds a control character")
			}
			i += 6
		default:
			r, size := utf8.DecodeRune(body[i:])
			if isControl(r) {
				return badText(body, i, "holds a control character")
			}
			i += size
		}
	}
	return nil
}

// isControl reports whether r is a control character that has no place in
// text: C0 but tab, line feed and carriage return; DEL; C1.
func isControl(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return false
	case r < 0x20, r == 0x7F, r >= 0x80 && r <= 0x9F:
		return true
	}
	return false
}

// hex4 decodes the four hex digits at body[at:].
func hex4(body []byte, at int) (rune, bool) {
	if at+4 > len(body) {
		return 0, false
	}
	var r rune
	for _, c := range body[at : at+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// badText is the 400 for a body that checkText refuses, with the position
// of the offending byte (counted from 1, as position does).
func badText(body []byte, at int, what string) error {
	return &emporium.Error{
		Code:    emporium.EMALFORMED,
		Message: fmt.Sprintf("The request body %s at %s; it must be UTF-8 text without control characters.", what, position(body, int64(at)+1)),
		Op:      "gateway.Decode",
	}
}
