package gateway

import (
	"net/http"

	emporium "github.com/emporium-shop/emporium"
)

// maxIdempotencyKeyLength bounds an Idempotency-Key: a UUID is 36
// characters; 255 leaves room for any client's scheme.
const maxIdempotencyKeyLength = 255

// idempotencyKey returns the request's Idempotency-Key header, "" when it
// has none. A key is 1 to 255 visible ASCII characters; anything else is
// refused rather than stored.
func idempotencyKey(r *http.Request) (string, error) {
	values := r.Header.Values("Idempotency-Key")
	if len(values) == 0 {
		return "", nil
	}
	bad := &emporium.Error{
		Code:    emporium.EMALFORMED,
		Message: "The Idempotency-Key header must be one value of 1 to 255 visible ASCII characters.",
		Fields:  []emporium.FieldError{{Field: "Idempotency-Key", Code: emporium.FieldInvalid, Message: "must be 1 to 255 visible ASCII characters"}},
	}
	key := values[0]
	if len(values) > 1 || key == "" || len(key) > maxIdempotencyKeyLength {
		return "", bad
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return "", bad
		}
	}
	return key, nil
}
