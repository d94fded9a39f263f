package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"

	emporium "github.com/emporium-shop/emporium"
)

// tokenBytes is the entropy of an opaque token: 256 bits, so that guessing
// one is hopeless even without rate limits and an unsalted hash is safe.
const tokenBytes = 32

// NewToken returns a new opaque one-time token: plain is 32 random bytes in
// unpadded base64url (43 characters, safe in URLs and headers) and goes to
// the user once; hash is HashToken(plain) and is the only thing stored.
// Email verification, password reset, refresh tokens, MFA login challenges
// and websocket tickets all use it.
func NewToken() (plain, hash string, err error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", &emporium.Error{Code: emporium.EINTERNAL, Op: "auth.NewToken", Message: "reading random bytes", Err: err}
	}
	plain = base64.RawURLEncoding.EncodeToString(b)
	return plain, HashToken(plain), nil
}

// HashToken returns the lower-case hex SHA-256 of plain: the form in which a
// token is stored and looked up. A plain hash is enough because the token has
// 256 bits of entropy; a slow hash would only add latency to every refresh.
func HashToken(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

// EqualHash reports whether two token hashes are equal, in time that does not
// depend on where they differ.
func EqualHash(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
