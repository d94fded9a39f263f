package auth

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
)

var phcPattern = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashPasswordRoundTrip(t *testing.T) {
	encoded, err := HashPassword("correct horse battery staple")
	require.NoError(t, err)
	assert.Regexp(t, phcPattern, encoded)

	ok, err := VerifyPassword(encoded, "correct horse battery staple")
	require.NoError(t, err)
	assert.True(t, ok, "the right password must verify")

	ok, err = VerifyPassword(encoded, "correct horse battery stapl")
	require.NoError(t, err)
	assert.False(t, ok, "a wrong password must not verify")

	ok, err = VerifyPassword(encoded, "")
	require.NoError(t, err)
	assert.False(t, ok)

	again, err := HashPassword("correct horse battery staple")
	require.NoError(t, err)
	assert.NotEqual(t, encoded, again, "every hash gets a fresh salt")
	assert.False(t, NeedsRehash(encoded))
}

func TestVerifyPasswordTampered(t *testing.T) {
	encoded, err := HashPassword("s3cret-passphrase")
	require.NoError(t, err)
	parts := strings.Split(encoded, "$")

	// Flipping a character of the key or the salt still parses but must not
	// verify.
	flip := func(s string) string {
		c := byte('A')
		if s[0] == 'A' {
			c = 'B'
		}
		return string(c) + s[1:]
	}
	for name, mutated := range map[string]string{
		"key":  strings.Join(append(parts[:5:5], flip(parts[5])), "$"),
		"salt": strings.Join(append(parts[:4:4], flip(parts[4]), parts[5]), "$"),
		"time": strings.Replace(encoded, "t=2", "t=3", 1),
	} {
		t.Run(name, func(t *testing.T) {
			ok, err := VerifyPassword(mutated, "s3cret-passphrase")
			require.NoError(t, err)
			assert.False(t, ok)
		})
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	good, err := HashPassword("s3cret-passphrase")
	require.NoError(t, err)
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	with := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }

	cases := map[string]string{
		"empty":              "",
		"bcrypt":             "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":            strings.Replace(good, "argon2id", "argon2i", 1),
		"old version":        strings.Replace(good, "v=19", "v=16", 1),
		"missing part":       strings.Join(parts[:5], "$"),
		"extra part":         good + "$x",
		"params order":       with("t=2,m=19456,p=1"),
		"params missing":     with("m=19456,t=2"),
		"params not numbers": with("m=abc,t=2,p=1"),
		"leading zero":       with("m=019456,t=2,p=1"),
		"signed":             with("m=+19456,t=2,p=1"),
		"zero passes":        with("m=19456,t=0,p=1"),
		"zero lanes":         with("m=19456,t=2,p=0"),
		"lanes overflow":     with("m=19456,t=2,p=256"),
		"absurd memory":      with("m=4194304,t=2,p=1"),
		"memory overflow":    with("m=4294967296,t=2,p=1"),
		"absurd passes":      with("m=19456,t=1000,p=1"),
		"absurd lanes":       with("m=19456,t=2,p=64"),
		"memory below lanes": with("m=64,t=2,p=16"),
		"salt not base64":    "$argon2id$v=19$m=19456,t=2,p=1$!!!!$" + key,
		"salt too short":     "$argon2id$v=19$m=19456,t=2,p=1$AAAA$" + key,
		"key too short":      "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$AAAA",
		"padded":             good + "=",
	}
	for name, encoded := range cases {
		t.Run(name, func(t *testing.T) {
			var ok bool
			var err error
			require.NotPanics(t, func() { ok, err = VerifyPassword(encoded, "s3cret-passphrase") })
			require.Error(t, err)
			assert.False(t, ok)
			assert.Equal(t, emporium.EINTERNAL, emporium.ErrorCode(err))
			assert.NotContains(t, err.Error(), salt, "the error must not carry the hash")
			assert.NotContains(t, err.Error(), "s3cret", "the error must not carry the password")
			assert.True(t, NeedsRehash(encoded))
		})
	}
}

func TestNeedsRehashAfterUpgrade(t *testing.T) {
	// A hash made with weaker parameters than today's still verifies, and is
	// flagged so that login replaces it.
	old, err := hashWithParams("s3cret-passphrase", argonParams{memory: 8192, time: 1, threads: 1})
	require.NoError(t, err)
	assert.Contains(t, old, "$m=8192,t=1,p=1$")
	ok, err := VerifyPassword(old, "s3cret-passphrase")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.True(t, NeedsRehash(old))

	current, err := HashPassword("s3cret-passphrase")
	require.NoError(t, err)
	assert.False(t, NeedsRehash(current))
}

func TestVerifyDummySpendsTheTimeOfAVerify(t *testing.T) {
	encoded, err := HashPassword("s3cret-passphrase")
	require.NoError(t, err)
	// The minimum of a few runs is robust against a busy machine; a dummy
	// that skipped the work would take microseconds against milliseconds.
	fastest := func(f func()) time.Duration {
		best := time.Duration(1<<63 - 1)
		for range 3 {
			start := time.Now()
			f()
			best = min(best, time.Since(start))
		}
		return best
	}
	real := fastest(func() { _, _ = VerifyPassword(encoded, "wrong password") })
	dummy := fastest(func() { VerifyDummy("wrong password") })
	assert.Greater(t, dummy, real/4, "VerifyDummy took %v, a real verify %v", dummy, real)
}

func TestCheckPassword(t *testing.T) {
	emoji := strings.Repeat("🔑🛒", MaxPasswordLength/2) // 128 runes, 512 bytes
	cases := []struct {
		name    string
		pw      string
		related []string
		code    string // "" means accepted
	}{
		{"seven", "kq9$vLm", nil, emporium.FieldTooShort},
		{"empty", "", nil, emporium.FieldTooShort},
		{"eight", "kq9$vLm2", nil, ""},
		{"max length", strings.Repeat("ab", MaxPasswordLength/2), nil, ""},
		{"one over", strings.Repeat("ab", MaxPasswordLength/2) + "c", nil, emporium.FieldTooLong},
		{"huge", strings.Repeat("x", 1<<20), nil, emporium.FieldTooLong},
		{"seven accented runes in 14 bytes", "éàüöñçå", nil, emporium.FieldTooShort},
		{"seven runes of Japanese in 21 bytes", "日本語のパスワ", nil, emporium.FieldTooShort},
		{"eight runes of Japanese", "日本語パスワード", nil, ""},
		{"128 emoji runes in 512 bytes", emoji, nil, ""},
		{"129 emoji runes", emoji + "🔒", nil, emporium.FieldTooLong},
		{"common", "password123", nil, emporium.FieldTooCommon},
		{"common upper case", "PassWord123", nil, emporium.FieldTooCommon},
		{"common keyboard walk", "qwertyuiop", nil, emporium.FieldTooCommon},
		{"common decorated", "Qwerty123!", nil, emporium.FieldTooCommon},
		{"common digits", "1234567890", nil, emporium.FieldTooCommon},
		{"one repeated character", "ZZZZZZZZZZZZ", nil, emporium.FieldTooCommon},
		{"username", "Shopper_Bob", []string{"shopper_bob", "bob@example.com"}, emporium.FieldTooSimilar},
		{"email", "Alice.Smith@Example.com", []string{"alice", "alice.smith@example.com"}, emporium.FieldTooSimilar},
		{"email local part", "ALICE.SMITH", []string{"asmith", "alice.smith@example.com"}, emporium.FieldTooSimilar},
		{"contains username but differs", "shopper_bob-likes-tea", []string{"shopper_bob"}, ""},
		{"empty related values ignored", "kq9$vLm2", []string{"", "  ", "@example.com"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckPassword(c.pw, c.related...)
			if c.code == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			var e *emporium.Error
			require.True(t, errors.As(err, &e))
			assert.Equal(t, emporium.EINVALID, e.Code)
			require.Len(t, e.Fields, 1)
			assert.Equal(t, "password", e.Fields[0].Field)
			assert.Equal(t, c.code, e.Fields[0].Code)
			assert.NotEmpty(t, e.Fields[0].Message)
			if c.pw != "" && len(c.pw) < 64 {
				assert.NotContains(t, err.Error(), c.pw, "the error must not carry the password")
			}
		})
	}
}

func TestCommonPasswordList(t *testing.T) {
	list := commonPasswords()
	assert.GreaterOrEqual(t, len(list), 1000)
	long := 0
	for pw := range list {
		assert.Equal(t, strings.ToLower(pw), pw)
		assert.NotContains(t, pw, " ")
		if len([]rune(pw)) >= MinPasswordLength {
			long++
		}
	}
	// Only entries the length rule lets through make the list useful.
	assert.GreaterOrEqual(t, long, 1000)
	for _, pw := range []string{"iloveyou", "sunshine1", "football", "baseball", "12345678", "trustno1", "letmein123"} {
		assert.Contains(t, list, pw)
	}
}

func BenchmarkHashPassword(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := HashPassword("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPassword(b *testing.B) {
	encoded, err := HashPassword("correct horse battery staple")
	require.NoError(b, err)
	for b.Loop() {
		if ok, err := VerifyPassword(encoded, "correct horse battery staple"); !ok || err != nil {
			b.Fatal("verify failed", err)
		}
	}
}
