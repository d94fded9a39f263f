package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

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

// IdempotencyClaims keep, for each Idempotency-Key a caller sends, a hash
// of the request it came with, so that the key reused with another request
// is refused (DESIGN §8). *actors.DocumentClaims is one.
type IdempotencyClaims interface {
	// Claim makes key of collection belong to owner: nil when the key is
	// new or already owner's, ECONFLICT when another owner holds it.
	Claim(ctx context.Context, collection, key, owner string) error
	// Release gives key up if owner holds it.
	Release(ctx context.Context, collection, key, owner string) error
}

// IdempotencyCollection holds one claim per (caller, Idempotency-Key),
// owned by the hash of the request that first sent the key.
const IdempotencyCollection = "idempotency_requests"

// requestHash is the hash a key is claimed with: the method, the path and
// the decoded body re-encoded (so that spacing and member order do not
// count, but every value does).
func requestHash(r *http.Request, in any) (string, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return "", emporium.Wrap("gateway.requestHash", err)
	}
	h := sha256.New()
	for _, part := range [][]byte{[]byte(r.Method), []byte(r.URL.EscapedPath()), body} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// idempotent runs do, a call that takes key, after checking that key, if
// any, was not sent before by p with another request (in, the decoded
// body): that is 422 idempotency_key_reused, and do is not run. A key is
// scoped to its caller, and is one request whatever the route. A call that
// fails validation changed nothing, so it gives the key up again, for the
// corrected request to use.
func (s *Server) idempotent(r *http.Request, p emporium.Principal, key string, in any, do func() error) error {
	if key == "" || s.idempotency == nil {
		return do()
	}
	hash, err := requestHash(r, in)
	if err != nil {
		return err
	}
	claim := p.UserID + "/" + key
	err = s.idempotency.Claim(r.Context(), IdempotencyCollection, claim, hash)
	switch {
	case emporium.IsCode(err, emporium.ECONFLICT):
		return &emporium.Error{
			Code:    emporium.EIDEMPOTENCY,
			Message: "This Idempotency-Key was sent before with a different request; use a new key for a new request.",
			Fields:  []emporium.FieldError{{Field: "Idempotency-Key", Code: emporium.FieldNotNew, Message: "was used with a different request"}},
		}
	case err != nil:
		return err
	}
	err = do()
	if emporium.IsCode(err, emporium.EINVALID) || emporium.IsCode(err, emporium.EMALFORMED) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		if rerr := s.idempotency.Release(ctx, IdempotencyCollection, claim, hash); rerr != nil {
			s.log.Warn("gateway: releasing an idempotency key failed", slog.Any("error", rerr))
		}
	}
	return err
}
