package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewToken(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		plain, hash, err := NewToken()
		require.NoError(t, err)
		require.False(t, seen[plain], "tokens must not repeat")
		seen[plain] = true

		assert.Len(t, plain, 43, "32 bytes in unpadded base64url")
		raw, err := base64.RawURLEncoding.Strict().DecodeString(plain)
		require.NoError(t, err)
		assert.Len(t, raw, 32)

		assert.Equal(t, HashToken(plain), hash, "the returned hash is HashToken of the token")
		assert.Len(t, hash, 64)
		assert.NotContains(t, hash, plain)
	}
}

func TestHashTokenStable(t *testing.T) {
	sum := sha256.Sum256([]byte("abc"))
	assert.Equal(t, hex.EncodeToString(sum[:]), HashToken("abc"), "hex SHA-256, so stored hashes survive upgrades")
	assert.Equal(t, HashToken("abc"), HashToken("abc"))
	assert.NotEqual(t, HashToken("abc"), HashToken("abd"))
}

func TestEqualHash(t *testing.T) {
	a, b := HashToken("one"), HashToken("two")
	assert.True(t, EqualHash(a, a))
	assert.True(t, EqualHash(a, string([]byte(a))))
	assert.False(t, EqualHash(a, b))
	assert.False(t, EqualHash(a, a[:63]))
	assert.False(t, EqualHash(a, ""))
	assert.True(t, EqualHash("", ""))
}
