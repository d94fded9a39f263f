package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
)

// clock is a settable clock for the Issuer.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	testIssuer   = "https://shop.example"
	testAudience = "emporium-api"
)

func newTestKey(t testing.TB) Key {
	t.Helper()
	k, err := GenerateKey()
	require.NoError(t, err)
	return k
}

func newTestIssuer(t testing.TB, keys KeySet, c *clock) *Issuer {
	t.Helper()
	iss, err := NewIssuer(IssuerConfig{Keys: keys, Issuer: testIssuer, Audience: testAudience, Now: c.Now})
	require.NoError(t, err)
	return iss
}

func keySet(t testing.TB, active Key, others ...Key) KeySet {
	t.Helper()
	ks, err := NewKeySet(active, others...)
	require.NoError(t, err)
	return ks
}

// validClaims are claims our issuer would write at epoch, for forging
// variants of them.
func validClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss": testIssuer, "aud": []string{testAudience}, "sub": "user-1",
		"iat": epoch.Unix(), "nbf": epoch.Unix(), "exp": epoch.Add(15 * time.Minute).Unix(),
		"jti": "id-1", "roles": []string{"customer"}, "sid": "sess-1",
	}
}

// forge signs claims with method and key and the given kid ("" for none).
func forge(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

func requireUnauthenticated(t *testing.T, iss *Issuer, token string) {
	t.Helper()
	claims, err := iss.Verify(token)
	require.Error(t, err)
	assert.Nil(t, claims)
	assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(err))
	msg := emporium.ErrorMessage(err)
	assert.NotEmpty(t, msg)
	if token != "" {
		assert.NotContains(t, err.Error(), token, "the error must not echo the token")
		for _, part := range strings.Split(token, ".") {
			if len(part) > 8 {
				assert.NotContains(t, err.Error(), part)
			}
		}
	}
}

func TestIssueAndVerify(t *testing.T) {
	c := &clock{epoch}
	key := newTestKey(t)
	iss := newTestIssuer(t, keySet(t, key), c)

	token, exp, err := iss.Issue("user-1", []string{"customer", "vendor"}, "sess-1")
	require.NoError(t, err)
	assert.Equal(t, epoch.Add(15*time.Minute), exp)
	assert.Equal(t, 15*time.Minute, iss.TTL())

	// The header names the algorithm and the key.
	head, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	require.NoError(t, err)
	var header map[string]any
	require.NoError(t, json.Unmarshal(head, &header))
	assert.Equal(t, "EdDSA", header["alg"])
	assert.Equal(t, key.ID, header["kid"])

	c.t = epoch.Add(5 * time.Minute)
	claims, err := iss.Verify(token)
	require.NoError(t, err)
	assert.Equal(t, "user-1", claims.Subject)
	assert.Equal(t, []string{"customer", "vendor"}, claims.Roles)
	assert.Equal(t, "sess-1", claims.SessionID)
	assert.Equal(t, testIssuer, claims.Issuer)
	assert.Equal(t, []string{testAudience}, claims.Audience)
	assert.Equal(t, epoch, claims.IssuedAt)
	assert.Equal(t, epoch, claims.NotBefore)
	assert.Equal(t, exp, claims.ExpiresAt)
	assert.NotEmpty(t, claims.ID)
	assert.True(t, claims.HasRole("vendor"))
	assert.False(t, claims.HasRole("admin"))

	other, _, err := iss.Issue("user-1", nil, "sess-1")
	require.NoError(t, err)
	oc, err := iss.Verify(other)
	require.NoError(t, err)
	assert.NotEqual(t, claims.ID, oc.ID, "every token has its own jti")
	assert.Empty(t, oc.Roles)

	_, _, err = iss.Issue("", nil, "")
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
}

func TestVerifyRefusesForgedAndInvalidTokens(t *testing.T) {
	c := &clock{epoch}
	key := newTestKey(t)
	iss := newTestIssuer(t, keySet(t, key), c)
	good := forge(t, jwt.SigningMethodEdDSA, key.Private, key.ID, validClaims())
	_, err := iss.Verify(good)
	require.NoError(t, err, "the forging helper must make valid tokens, or the cases below prove nothing")

	stranger := newTestKey(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)

	without := func(name string) jwt.MapClaims {
		m := validClaims()
		delete(m, name)
		return m
	}
	with := func(name string, v any) jwt.MapClaims {
		m := validClaims()
		m[name] = v
		return m
	}
	parts := strings.Split(good, ".")
	tamperedPayload := func() string {
		raw, err := base64.RawURLEncoding.DecodeString(parts[1])
		require.NoError(t, err)
		raw = []byte(strings.Replace(string(raw), `"user-1"`, `"admin-1"`, 1))
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]
	}
	tamperedSignature := func() string {
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		require.NoError(t, err)
		sig[10] ^= 0x01
		return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	critical := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, validClaims())
		tok.Header["kid"] = key.ID
		tok.Header["crit"] = []string{"exp"}
		s, err := tok.SignedString(key.Private)
		require.NoError(t, err)
		return s
	}
	embeddedJWK := func() string {
		// A token that carries its own key must not be verified with it.
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, validClaims())
		tok.Header["kid"] = stranger.ID
		tok.Header["jwk"] = map[string]string{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(stranger.Public)}
		s, err := tok.SignedString(stranger.Private)
		require.NoError(t, err)
		return s
	}

	cases := map[string]string{
		"empty":                    "",
		"garbage":                  "not-a-token",
		"too large":                good + strings.Repeat("A", maxTokenLen),
		"alg none":                 forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, key.ID, validClaims()),
		"alg none without sig":     parts[0] + "." + parts[1] + ".",
		"HS256 with public key":    forge(t, jwt.SigningMethodHS256, []byte(key.Public), key.ID, validClaims()),
		"RS256":                    forge(t, jwt.SigningMethodRS256, rsaKey, key.ID, validClaims()),
		"unknown kid":              forge(t, jwt.SigningMethodEdDSA, stranger.Private, stranger.ID, validClaims()),
		"right kid, wrong key":     forge(t, jwt.SigningMethodEdDSA, stranger.Private, key.ID, validClaims()),
		"no kid":                   forge(t, jwt.SigningMethodEdDSA, key.Private, "", validClaims()),
		"embedded jwk":             embeddedJWK(),
		"critical header":          critical(),
		"tampered payload":         tamperedPayload(),
		"tampered signature":       tamperedSignature(),
		"signature of other token": parts[0] + "." + parts[1] + "." + strings.Split(forge(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with("sub", "user-2")), ".")[2],
		"missing exp":              forge(t, jwt.SigningMethodEdDSA, key.Private, key.ID, without("exp")),
		"missing sub":              forge(t, jwt.SigningMethodEdDSA, key.Private, key.ID, without("sub")),
		"missing iss":              forge(t, jwt.SigningMethodEdDSA, key.Private, key.ID, without("iss")),
		"missing aud":              forge(t, jwt.SigningMethodEdDSA, key.Private, key.ID, without("aud")),
		"wrong issuer":             forge(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with("iss", "https://evil.example")),
		"wrong audience":           forge(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with("aud", "other-api")),
		"expired":                  forge(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with("exp", epoch.Add(-time.Hour).Unix())),
		"not yet valid":            forge(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with("nbf", epoch.Add(time.Hour).Unix())),
		"issued in the future":     forge(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with("iat", epoch.Add(time.Hour).Unix())),
		"exp not a number":         forge(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with("exp", "tomorrow")),
		"exp a string of digits":   forge(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with("exp", strconv.FormatInt(epoch.Add(time.Hour).Unix(), 10))),
		"exp null":                 forge(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with("exp", nil)),
		"exp an array":             forge(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with("exp", []int64{epoch.Add(time.Hour).Unix()})),
		"iat a string of digits":   forge(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with("iat", strconv.FormatInt(epoch.Unix(), 10))),
		"nbf a string of digits":   forge(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with("nbf", strconv.FormatInt(epoch.Unix(), 10))),
		"nbf a boolean":            forge(t, jwt.SigningMethodEdDSA, key.Private, key.ID, with("nbf", true)),
	}
	for name, token := range cases {
		t.Run(name, func(t *testing.T) { requireUnauthenticated(t, iss, token) })
	}

	// The cause kept for logs says what was wrong without quoting the token.
	for name, want := range map[string]error{
		"no kid":           errNoKid,
		"unknown kid":      errUnknownKey,
		"critical header":  errCritical,
		"alg none":         jwt.ErrTokenSignatureInvalid,
		"expired":          jwt.ErrTokenExpired,
		"exp not a number": jwt.ErrTokenMalformed,
		// Signed by our key, so only the type of the claim is wrong.
		"exp a string of digits": jwt.ErrTokenMalformed,
		"iat a string of digits": jwt.ErrTokenMalformed,
		"nbf a string of digits": jwt.ErrTokenMalformed,
	} {
		_, err := iss.Verify(cases[name])
		assert.ErrorIs(t, err, want, name)
	}
	_, err = iss.Verify(cases["exp not a number"])
	assert.NotContains(t, err.Error(), "tomorrow", "decoding errors quote the token")

	t.Run("the parser refuses other algorithms by itself", func(t *testing.T) {
		// keyFor hands out only ed25519.PublicKey, which HMAC cannot use, so
		// the HS256 case above fails twice over. Here a careless key func
		// hands out the raw public key bytes, the classic algorithm
		// confusion: the parser's method allow-list alone must stop it.
		careless := func(*jwt.Token) (any, error) { return []byte(key.Public), nil }
		confused := forge(t, jwt.SigningMethodHS256, []byte(key.Public), key.ID, validClaims())
		_, err := iss.parser.ParseWithClaims(confused, &tokenClaims{}, careless)
		require.Error(t, err)
		_, err = jwt.NewParser(jwt.WithTimeFunc(c.Now)).ParseWithClaims(confused, &tokenClaims{}, careless)
		require.NoError(t, err, "without the allow-list the forged token would pass; the case above proves nothing otherwise")
	})

	t.Run("wrong issuer and audience from another issuer's config", func(t *testing.T) {
		// Same keys, other iss/aud: a token for another service of ours must
		// not open this one.
		for _, cfg := range []IssuerConfig{
			{Keys: keySet(t, key), Issuer: "https://other.example", Audience: testAudience, Now: c.Now},
			{Keys: keySet(t, key), Issuer: testIssuer, Audience: "admin-api", Now: c.Now},
		} {
			other, err := NewIssuer(cfg)
			require.NoError(t, err)
			token, _, err := other.Issue("user-1", nil, "s")
			require.NoError(t, err)
			requireUnauthenticated(t, iss, token)
		}
	})
}

func TestVerifyExpiryAndLeeway(t *testing.T) {
	c := &clock{epoch}
	key := newTestKey(t)
	iss := newTestIssuer(t, keySet(t, key), c)
	token, exp, err := iss.Issue("user-1", nil, "sess-1")
	require.NoError(t, err)

	c.t = exp.Add(DefaultTokenLeeway - time.Second)
	_, err = iss.Verify(token)
	require.NoError(t, err, "within the leeway after exp the token still verifies")

	c.t = exp.Add(DefaultTokenLeeway)
	requireUnauthenticated(t, iss, token)
	_, err = iss.Verify(token)
	assert.Equal(t, "access token expired", emporium.ErrorMessage(err))

	// Issued by a node whose clock runs ahead: within the leeway it is fine,
	// beyond it the token is not yet valid.
	c.t = epoch.Add(time.Hour)
	future, _, err := iss.Issue("user-1", nil, "sess-1")
	require.NoError(t, err)
	c.t = epoch.Add(time.Hour - DefaultTokenLeeway + time.Second)
	_, err = iss.Verify(future)
	require.NoError(t, err)
	c.t = epoch.Add(time.Hour - DefaultTokenLeeway - time.Second)
	requireUnauthenticated(t, iss, future)
}

func TestKeyRotation(t *testing.T) {
	c := &clock{epoch}
	oldKey, newKey := newTestKey(t), newTestKey(t)

	before := newTestIssuer(t, keySet(t, oldKey), c)
	oldToken, _, err := before.Issue("user-1", nil, "sess-1")
	require.NoError(t, err)

	// Rotated: the new key signs, the old one still verifies.
	rotated := newTestIssuer(t, keySet(t, newKey, oldKey), c)
	_, err = rotated.Verify(oldToken)
	require.NoError(t, err, "a token of a retired key still in the set verifies")
	newToken, _, err := rotated.Issue("user-1", nil, "sess-1")
	require.NoError(t, err)
	claims, err := rotated.Verify(newToken)
	require.NoError(t, err)
	assert.Equal(t, "user-1", claims.Subject)
	requireUnauthenticated(t, before, newToken)

	// The old key kept as a public key only still verifies.
	publicOnly := newTestIssuer(t, keySet(t, newKey, Key{Public: oldKey.Public}), c)
	_, err = publicOnly.Verify(oldToken)
	require.NoError(t, err)

	// Removed: the old key's tokens fail.
	after := newTestIssuer(t, keySet(t, newKey), c)
	requireUnauthenticated(t, after, oldToken)
	_, err = after.Verify(newToken)
	require.NoError(t, err)
}

func TestKeySetRules(t *testing.T) {
	a, b := newTestKey(t), newTestKey(t)

	_, err := NewKeySet(Key{Public: a.Public})
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "the active key must be able to sign")
	_, err = NewKeySet(a, Key{Public: a.Public})
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "a key listed twice")
	_, err = NewKeySet(a, Key{Public: a.Public[:10]})
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))

	// Ids are derived from the public key, whatever the caller wrote.
	ks, err := NewKeySet(Key{ID: "made-up", Private: a.Private}, b)
	require.NoError(t, err)
	assert.Equal(t, a.ID, ks.Active().ID)
	assert.Equal(t, KeyID(a.Public), a.ID)
	assert.Len(t, a.ID, 11, "8 bytes in unpadded base64url")

	_, err = NewIssuer(IssuerConfig{Issuer: testIssuer, Audience: testAudience})
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "no keys")
	_, err = NewIssuer(IssuerConfig{Keys: ks, Audience: testAudience})
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "no issuer")
	_, err = NewIssuer(IssuerConfig{Keys: ks, Issuer: testIssuer})
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "no audience")
	_, err = NewIssuer(IssuerConfig{Keys: ks, Issuer: testIssuer, Audience: testAudience, TTL: -time.Second})
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "negative TTL")
}

func TestParseKeysRoundTrip(t *testing.T) {
	a, b, c := newTestKey(t), newTestKey(t), newTestKey(t)
	ks := keySet(t, a, b, Key{Public: c.Public})
	text, err := ks.MarshalPEM()
	require.NoError(t, err)
	assert.Equal(t, 2, strings.Count(string(text), "BEGIN PRIVATE KEY"))
	assert.Equal(t, 1, strings.Count(string(text), "BEGIN PUBLIC KEY"))

	parsed, err := ParseKeys(string(text))
	require.NoError(t, err)
	ids := func(s KeySet) []string {
		var out []string
		for _, k := range s.Keys() {
			out = append(out, k.ID)
		}
		return out
	}
	assert.Equal(t, []string{a.ID, b.ID, c.ID}, ids(parsed), "the first block is the active key; order is kept")
	assert.Equal(t, a.Private, parsed.Active().Private)
	assert.Nil(t, parsed.Keys()[2].Private)

	// Keys given in settings often arrive indented or with blank lines.
	_, err = ParseKeys("\n\n" + string(text) + "\n  \n")
	require.NoError(t, err)

	pub, err := keySet(t, b, Key{Public: a.Public}).MarshalPEM()
	require.NoError(t, err)
	publicBlock := string(pub)[strings.Index(string(pub), "-----BEGIN PUBLIC KEY"):]
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	for name, bad := range map[string]string{
		"empty":                "",
		"not PEM":              "hello",
		"trailing junk":        string(text) + "junk",
		"public key first":     publicBlock,
		"certificate":          "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"corrupt private key":  "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
		"RSA key":              pemPKCS8(t, rsaKey),
		"duplicate key":        string(text) + strings.SplitAfter(string(text), "-----END PRIVATE KEY-----\n")[0],
		"truncated second key": string(text)[:len(text)-40],
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseKeys(bad)
			require.Error(t, err)
			assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
			for _, line := range strings.Split(string(text), "\n") {
				if len(line) > 20 {
					assert.NotContains(t, err.Error(), line, "the error must not carry key material")
				}
			}
		})
	}
}

// pemPKCS8 encodes any private key as a PKCS#8 PEM block.
func pemPKCS8(t *testing.T, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "keys")
	path := filepath.Join(dir, "jwt.pem")

	first, err := LoadOrCreateKeyFile(path)
	require.NoError(t, err)
	require.NotNil(t, first.Active().Private)

	info, err := os.Stat(path)
	require.NoError(t, err)
	dirInfo, err := os.Stat(dir)
	require.NoError(t, err)
	if runtime.GOOS != "windows" {
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
		assert.Equal(t, os.FileMode(0o700), dirInfo.Mode().Perm())
	}
	leftovers, err := filepath.Glob(filepath.Join(dir, ".jwt-key-*"))
	require.NoError(t, err)
	assert.Empty(t, leftovers, "the temporary file is removed")

	second, err := LoadOrCreateKeyFile(path)
	require.NoError(t, err)
	assert.Equal(t, first.Active().ID, second.Active().ID, "a restart reloads the same key")
	assert.Equal(t, first.Active().Private, second.Active().Private)

	// Tokens issued before the restart verify after it.
	c := &clock{epoch}
	token, _, err := newTestIssuer(t, first, c).Issue("user-1", nil, "s")
	require.NoError(t, err)
	_, err = newTestIssuer(t, second, c).Verify(token)
	require.NoError(t, err)

	if runtime.GOOS != "windows" {
		require.NoError(t, os.Chmod(path, 0o644))
		_, err = LoadOrCreateKeyFile(path)
		require.Error(t, err, "a key file readable by others is refused")
		assert.Contains(t, err.Error(), "chmod 600")
		require.NoError(t, os.Chmod(path, 0o600))
	}

	require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o600))
	_, err = LoadOrCreateKeyFile(path)
	require.Error(t, err, "a damaged key file is an error, never silently replaced")
	assert.Equal(t, emporium.EINTERNAL, emporium.ErrorCode(err))
}

func TestLoadOrCreateKeyFileConcurrentStarts(t *testing.T) {
	// Several starts racing on an empty folder must all end with one key;
	// otherwise tokens issued by one would fail on the others.
	path := filepath.Join(t.TempDir(), "jwt.pem")
	const n = 8
	ids := make(chan string, n)
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			ks, err := LoadOrCreateKeyFile(path)
			errs <- err
			ids <- ks.Active().ID
		}()
	}
	close(start)
	var got []string
	for range n {
		require.NoError(t, <-errs)
		got = append(got, <-ids)
	}
	final, err := LoadOrCreateKeyFile(path)
	require.NoError(t, err)
	for _, id := range got {
		assert.Equal(t, final.Active().ID, id, "every start uses the key that stayed on disk")
	}
}

func TestJWKS(t *testing.T) {
	a, b := newTestKey(t), newTestKey(t)
	iss := newTestIssuer(t, keySet(t, a, Key{Public: b.Public}), &clock{epoch})
	body, err := iss.JWKS()
	require.NoError(t, err)

	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(body, &doc))
	require.Len(t, doc.Keys, 2)
	for i, want := range []Key{a, b} {
		k := doc.Keys[i]
		assert.Equal(t, "OKP", k["kty"])
		assert.Equal(t, "Ed25519", k["crv"])
		assert.Equal(t, "EdDSA", k["alg"])
		assert.Equal(t, "sig", k["use"])
		assert.Equal(t, want.ID, k["kid"])
		x, err := base64.RawURLEncoding.DecodeString(k["x"].(string))
		require.NoError(t, err)
		assert.Equal(t, []byte(want.Public), x)
		assert.NotContains(t, k, "d", "no private material")
		assert.Len(t, k, 6)
	}

	// A verifier that knows only the JWKS can check our tokens.
	token, _, err := iss.Issue("user-1", nil, "s")
	require.NoError(t, err)
	x, _ := base64.RawURLEncoding.DecodeString(doc.Keys[0]["x"].(string))
	_, err = jwt.Parse(token, func(*jwt.Token) (any, error) { return ed25519.PublicKey(x), nil },
		jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithTimeFunc(func() time.Time { return epoch }))
	require.NoError(t, err)
}

func BenchmarkVerifyToken(b *testing.B) {
	key := newTestKey(b)
	iss := newTestIssuer(b, keySet(b, key), &clock{epoch})
	token, _, err := iss.Issue("user-1", []string{"customer"}, "sess-1")
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Verify(token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssueToken(b *testing.B) {
	key := newTestKey(b)
	iss := newTestIssuer(b, keySet(b, key), &clock{epoch})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := iss.Issue("user-1", []string{"customer"}, "sess-1"); err != nil {
			b.Fatal(err)
		}
	}
}
