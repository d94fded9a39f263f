package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	emporium "github.com/emporium-shop/emporium"
)

// Key is one Ed25519 key of a KeySet. ID is its stable key id (KeyID of the
// public key). Private is nil for a key kept only to verify tokens it signed
// before it was retired.
type Key struct {
	ID      string
	Public  ed25519.PublicKey
	Private ed25519.PrivateKey
}

// KeyID returns the key id of an Ed25519 public key: the unpadded base64url
// encoding of the first 8 bytes of its SHA-256. It depends only on the key,
// so every node derives the same kid from the same settings, and the kid stays
// the same across restarts.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

// GenerateKey returns a new random Ed25519 signing key with its key id.
func GenerateKey() (Key, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, &emporium.Error{Code: emporium.EINTERNAL, Op: "auth.GenerateKey", Message: "generating Ed25519 key", Err: err}
	}
	return Key{ID: KeyID(pub), Public: pub, Private: priv}, nil
}

// KeySet is the set of keys that access tokens are signed and verified with:
// one active key that signs, and older keys that still verify the tokens
// they signed until those expire. A KeySet is immutable after it is built, so
// it may be shared between goroutines; rotation builds a new one.
type KeySet struct {
	keys []Key // the active key first
}

// NewKeySet builds a key set whose active (signing) key is active; others
// only verify. The public key is derived from the private key where one is
// given and every key id is recomputed with KeyID, so a Key need not carry
// either. Two keys with the same public key are an error.
func NewKeySet(active Key, others ...Key) (KeySet, error) {
	const op = "auth.NewKeySet"
	if active.Private == nil {
		return KeySet{}, &emporium.Error{Code: emporium.EINVALID, Op: op, Message: "the active key has no private key"}
	}
	keys := make([]Key, 0, 1+len(others))
	for _, k := range append([]Key{active}, others...) {
		if k.Private != nil {
			if len(k.Private) != ed25519.PrivateKeySize {
				return KeySet{}, &emporium.Error{Code: emporium.EINVALID, Op: op, Message: "a private key has the wrong size"}
			}
			k.Public = k.Private.Public().(ed25519.PublicKey)
		}
		if len(k.Public) != ed25519.PublicKeySize {
			return KeySet{}, &emporium.Error{Code: emporium.EINVALID, Op: op, Message: "a public key has the wrong size"}
		}
		k.ID = KeyID(k.Public)
		for _, seen := range keys {
			if seen.ID == k.ID {
				return KeySet{}, &emporium.Error{Code: emporium.EINVALID, Op: op, Message: fmt.Sprintf("key %s is listed twice", k.ID)}
			}
		}
		keys = append(keys, k)
	}
	return KeySet{keys: keys}, nil
}

// Active returns the signing key, or the zero Key for an empty set.
func (s KeySet) Active() Key {
	if len(s.keys) == 0 {
		return Key{}
	}
	return s.keys[0]
}

// Keys returns a copy of the keys, the active one first.
func (s KeySet) Keys() []Key { return slices.Clone(s.keys) }

// lookup returns the public key with id kid. A set holds a handful of keys,
// so a scan is as fast as a map.
func (s KeySet) lookup(kid string) (ed25519.PublicKey, bool) {
	for _, k := range s.keys {
		if k.ID == kid {
			return k.Public, true
		}
	}
	return nil, false
}

// MarshalPEM encodes the set in the form ParseKeys reads: one PKCS#8
// "PRIVATE KEY" block per key that has a private key, or a PKIX "PUBLIC KEY"
// block for a verify-only key, the active key first. The result holds secret
// key material.
func (s KeySet) MarshalPEM() ([]byte, error) {
	const op = "auth.KeySet.MarshalPEM"
	var buf bytes.Buffer
	for _, k := range s.keys {
		var block pem.Block
		if k.Private != nil {
			der, err := x509.MarshalPKCS8PrivateKey(k.Private)
			if err != nil {
				return nil, &emporium.Error{Code: emporium.EINTERNAL, Op: op, Message: "encoding private key", Err: err}
			}
			block = pem.Block{Type: "PRIVATE KEY", Bytes: der}
		} else {
			der, err := x509.MarshalPKIXPublicKey(k.Public)
			if err != nil {
				return nil, &emporium.Error{Code: emporium.EINTERNAL, Op: op, Message: "encoding public key", Err: err}
			}
			block = pem.Block{Type: "PUBLIC KEY", Bytes: der}
		}
		if err := pem.Encode(&buf, &block); err != nil {
			return nil, &emporium.Error{Code: emporium.EINTERNAL, Op: op, Message: "writing PEM", Err: err}
		}
	}
	return buf.Bytes(), nil
}

// jwk is one member of a JWK Set for an Ed25519 key (RFC 8037).
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS renders the public keys of the set as a JWK Set document
// ({"keys": [...]}, RFC 7517 and RFC 8037), the body of
// /.well-known/jwks.json. Verify-only keys are included, because tokens they
// signed are still valid; private material never is.
func (s KeySet) JWKS() ([]byte, error) {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(s.keys))}
	for _, k := range s.keys {
		set.Keys = append(set.Keys, jwk{
			Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.Public),
			Kid: k.ID, Alg: jwt.SigningMethodEdDSA.Alg(), Use: "sig",
		})
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, &emporium.Error{Code: emporium.EINTERNAL, Op: "auth.KeySet.JWKS", Message: "encoding JWK Set", Err: err}
	}
	return b, nil
}

// ParseKeys reads a key set from PEM text, as given in settings: one or more
// blocks, the first of which is the active signing key and must be a PKCS#8
// "PRIVATE KEY" holding an Ed25519 key. Later blocks are older keys kept to
// verify the tokens they signed, either as "PRIVATE KEY" or, when only the
// public half is at hand, as a PKIX "PUBLIC KEY". Key ids are derived with
// KeyID. Anything else in the text is an error, so a truncated or pasted-over
// setting fails at startup rather than silently dropping a key.
func ParseKeys(pemText string) (KeySet, error) {
	const op = "auth.ParseKeys"
	fail := func(msg string, err error) (KeySet, error) {
		return KeySet{}, &emporium.Error{Code: emporium.EINVALID, Op: op, Message: msg, Err: err}
	}
	var keys []Key
	rest := []byte(pemText)
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "PRIVATE KEY":
			parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return fail(fmt.Sprintf("PEM block %d is not a valid PKCS#8 private key", n), err)
			}
			priv, ok := parsed.(ed25519.PrivateKey)
			if !ok {
				return fail(fmt.Sprintf("PEM block %d is not an Ed25519 key", n), nil)
			}
			keys = append(keys, Key{Private: priv})
		case "PUBLIC KEY":
			if n == 1 {
				return fail("the first PEM block must be the private signing key", nil)
			}
			parsed, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return fail(fmt.Sprintf("PEM block %d is not a valid public key", n), err)
			}
			pub, ok := parsed.(ed25519.PublicKey)
			if !ok {
				return fail(fmt.Sprintf("PEM block %d is not an Ed25519 key", n), nil)
			}
			keys = append(keys, Key{Public: pub})
		default:
			return fail(fmt.Sprintf("PEM block %d has type %q; want PRIVATE KEY or PUBLIC KEY", n, block.Type), nil)
		}
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return fail("text outside PEM blocks", nil)
	}
	if len(keys) == 0 {
		return fail("no PEM key blocks", nil)
	}
	return NewKeySet(keys[0], keys[1:]...)
}

// LoadOrCreateKeyFile returns the key set kept in the PEM file at path, the
// embedded mode's signing key. On the first start the file does not exist: a
// key is generated and written with mode 0600, its folder created with mode
// 0700 where missing, so that later starts (and tokens issued before a
// restart) use the same key. The file is written under a temporary name and
// then linked into place, so a crash never leaves a half-written key and two
// nodes starting together end with the same one. On Unix an existing file
// that others can read is refused, as ssh refuses a private key.
func LoadOrCreateKeyFile(path string) (KeySet, error) {
	const op = "auth.LoadOrCreateKeyFile"
	fail := func(msg string, err error) (KeySet, error) {
		return KeySet{}, &emporium.Error{Code: emporium.EINTERNAL, Op: op, Message: msg, Err: err}
	}
	if ks, err := readKeyFile(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return ks, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail("creating key folder", err)
	}
	key, err := GenerateKey()
	if err != nil {
		return KeySet{}, err
	}
	ks, err := NewKeySet(key)
	if err != nil {
		return KeySet{}, err
	}
	data, err := ks.MarshalPEM()
	if err != nil {
		return KeySet{}, err
	}
	tmp, err := os.CreateTemp(dir, ".jwt-key-*.tmp") // created with mode 0600
	if err != nil {
		return fail("creating key file", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fail("writing key file", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fail("syncing key file", err)
	}
	if err := tmp.Close(); err != nil {
		return fail("closing key file", err)
	}
	// Link fails if path appeared meanwhile, which rename would overwrite:
	// then the other writer's key wins and is read back below.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		// Some file systems have no hard links; rename is atomic too, only
		// not exclusive.
		if err := os.Rename(tmp.Name(), path); err != nil {
			return fail("installing key file", err)
		}
	}
	// Make the new directory entry durable; where a folder cannot be synced
	// the file itself already is, which is what matters most.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return readKeyFile(path)
}

// readKeyFile loads and checks an existing key file.
func readKeyFile(path string) (KeySet, error) {
	const op = "auth.LoadOrCreateKeyFile"
	info, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return KeySet{}, err
		}
		return KeySet{}, &emporium.Error{Code: emporium.EINTERNAL, Op: op, Message: "reading key file", Err: err}
	}
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
		return KeySet{}, &emporium.Error{Code: emporium.EINTERNAL, Op: op,
			Message: fmt.Sprintf("key file %s is accessible to other users (mode %#o); chmod 600 it", path, info.Mode().Perm())}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return KeySet{}, &emporium.Error{Code: emporium.EINTERNAL, Op: op, Message: "reading key file", Err: err}
	}
	ks, err := ParseKeys(string(data))
	if err != nil {
		return KeySet{}, &emporium.Error{Code: emporium.EINTERNAL, Op: op, Message: "key file " + path + " is unusable", Err: err}
	}
	return ks, nil
}

// Default token lifetimes of DESIGN §9.
const (
	DefaultTokenTTL    = 15 * time.Minute
	DefaultTokenLeeway = 30 * time.Second
)

// maxTokenLen bounds the size of a token Verify will look at. Ours are a few
// hundred bytes; refusing large ones before decoding keeps a hostile header
// from costing more than a length check.
const maxTokenLen = 4096

// IssuerConfig configures an Issuer. Keys, Issuer and Audience are required.
type IssuerConfig struct {
	// Keys signs with its active key and verifies with any of its keys.
	Keys KeySet
	// Issuer is the iss claim written and required, e.g. the public base URL.
	Issuer string
	// Audience is the aud claim written and required, e.g. "emporium-api".
	Audience string
	// TTL is the lifetime of an access token; 0 means DefaultTokenTTL.
	TTL time.Duration
	// Leeway is the clock skew tolerated on exp, nbf and iat between nodes;
	// 0 means DefaultTokenLeeway.
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Claims are the verified contents of an access token.
type Claims struct {
	// Subject is the user id (sub).
	Subject string
	// Roles are the user's roles when the token was issued (roles).
	Roles []string
	// SessionID is the session that the token belongs to (sid), so that
	// revoking a session can be checked against it.
	SessionID string
	// ID is the unique token id (jti), for audit logs and deny lists.
	ID string
	// Issuer and Audience are the iss and aud claims, already checked
	// against the issuer's configuration.
	Issuer   string
	Audience []string
	// IssuedAt, NotBefore and ExpiresAt are the iat, nbf and exp claims in
	// UTC; IssuedAt and NotBefore are zero when the token omits them.
	IssuedAt  time.Time
	NotBefore time.Time
	ExpiresAt time.Time
}

// HasRole reports whether the token grants role.
func (c *Claims) HasRole(role string) bool { return slices.Contains(c.Roles, role) }

// tokenClaims is the JSON form of Claims.
type tokenClaims struct {
	jwt.RegisteredClaims
	Roles     []string `json:"roles"`
	SessionID string   `json:"sid,omitempty"`
}

// numericClaims are the registered claims that RFC 7519 §2 defines as a
// NumericDate: a JSON number. golang-jwt decodes them through json.Number,
// which also takes a string holding digits, so they are checked here first.
var numericClaims = [...]string{"exp", "nbf", "iat"}

// errNumericClaim is the cause of refusing a token whose exp, nbf or iat is
// not a JSON number; it quotes nothing from the token.
var errNumericClaim = errors.New("token has a time claim that is not a number")

// UnmarshalJSON decodes the claims, refusing a token whose exp, nbf or iat
// is present but not a JSON number (a string, even of digits, or null).
func (c *tokenClaims) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for _, name := range numericClaims {
		v, ok := raw[name]
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
			return errNumericClaim
		}
	}
	type plain tokenClaims // without this method
	return json.Unmarshal(b, (*plain)(c))
}

// Validate adds the checks golang-jwt leaves to the application: a token
// must name its subject.
func (c *tokenClaims) Validate() error {
	if c.Subject == "" {
		return errors.New("token has no subject")
	}
	return nil
}

// Issuer issues and verifies access tokens: EdDSA (Ed25519) JWTs with a kid
// header. It is safe for concurrent use.
type Issuer struct {
	keys     KeySet
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
	parser   *jwt.Parser
}

// NewIssuer checks cfg, fills in its defaults and returns an Issuer.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	const op = "auth.NewIssuer"
	fail := func(msg string) (*Issuer, error) {
		return nil, &emporium.Error{Code: emporium.EINVALID, Op: op, Message: msg}
	}
	switch {
	case cfg.Keys.Active().Private == nil:
		return fail("the key set has no active signing key")
	case cfg.Issuer == "":
		return fail("the issuer is required")
	case cfg.Audience == "":
		return fail("the audience is required")
	case cfg.TTL < 0 || cfg.Leeway < 0:
		return fail("TTL and leeway must not be negative")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTokenTTL
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultTokenLeeway
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Issuer{
		keys:     cfg.Keys,
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		ttl:      cfg.TTL,
		now:      cfg.Now,
		// golang-jwt checks little by default (DESIGN §9): every check is
		// asked for explicitly. A parser built by NewParser only reads its
		// settings afterwards, so one is shared by all calls.
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithIssuedAt(),
			jwt.WithTimeFunc(cfg.Now),
			jwt.WithStrictDecoding(),
		),
	}, nil
}

// TTL returns the lifetime of the tokens the issuer signs, for expires_in.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// Keys returns the issuer's key set.
func (i *Issuer) Keys() KeySet { return i.keys }

// JWKS renders the issuer's public keys as a JWK Set; see KeySet.JWKS.
func (i *Issuer) JWKS() ([]byte, error) { return i.keys.JWKS() }

// Issue signs an access token for subject (the user id) with roles and the
// session id, valid from now for the issuer's TTL, and returns it with its
// expiry (whole seconds, as in the exp claim).
func (i *Issuer) Issue(subject string, roles []string, sessionID string) (token string, expiresAt time.Time, err error) {
	const op = "auth.Issuer.Issue"
	if subject == "" {
		return "", time.Time{}, &emporium.Error{Code: emporium.EINVALID, Op: op, Message: "the subject is required"}
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", time.Time{}, &emporium.Error{Code: emporium.EINTERNAL, Op: op, Message: "reading random token id", Err: err}
	}
	now := i.now()
	exp := jwt.NewNumericDate(now.Add(i.ttl))
	if roles == nil {
		roles = []string{} // always an array, so clients need no null case
	}
	claims := &tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.issuer,
			Subject:   subject,
			Audience:  jwt.ClaimStrings{i.audience},
			ExpiresAt: exp,
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        base64.RawURLEncoding.EncodeToString(jti),
		},
		Roles:     roles,
		SessionID: sessionID,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	active := i.keys.Active()
	t.Header["kid"] = active.ID
	signed, err := t.SignedString(active.Private)
	if err != nil {
		return "", time.Time{}, &emporium.Error{Code: emporium.EINTERNAL, Op: op, Message: "signing token", Err: err}
	}
	return signed, exp.Time.UTC(), nil
}

// Verify checks an access token and returns its claims. Only EdDSA is
// accepted; the kid header selects one of the configured keys and a token
// without one, or naming a key not in the set, fails (keys are never taken
// from the token). exp is required; exp, nbf and iat are checked against the
// issuer's clock with its leeway; iss, aud and sub must be present and iss
// and aud must match. Every failure is EUNAUTHENTICATED with a short message
// that does not repeat the token; the reason from golang-jwt is kept in Err
// for logs (only the class for a token that does not even decode).
func (i *Issuer) Verify(token string) (*Claims, error) {
	const op = "auth.Issuer.Verify"
	if token == "" || len(token) > maxTokenLen {
		return nil, &emporium.Error{Code: emporium.EUNAUTHENTICATED, Op: op, Message: "invalid access token"}
	}
	var claims tokenClaims
	_, err := i.parser.ParseWithClaims(token, &claims, i.keyFor)
	if err != nil {
		msg := "invalid access token"
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			msg = "access token expired"
		case errors.Is(err, jwt.ErrTokenMalformed):
			// Decoding errors quote pieces of the token; the class is all
			// a log needs.
			err = jwt.ErrTokenMalformed
		}
		return nil, &emporium.Error{Code: emporium.EUNAUTHENTICATED, Op: op, Message: msg, Err: err}
	}
	c := &Claims{
		Subject:   claims.Subject,
		Roles:     claims.Roles,
		SessionID: claims.SessionID,
		ID:        claims.ID,
		Issuer:    claims.Issuer,
		Audience:  []string(claims.Audience),
	}
	if claims.IssuedAt != nil {
		c.IssuedAt = claims.IssuedAt.Time.UTC()
	}
	if claims.NotBefore != nil {
		c.NotBefore = claims.NotBefore.Time.UTC()
	}
	c.ExpiresAt = claims.ExpiresAt.Time.UTC() // required by the parser
	return c, nil
}

// Causes that keyFor reports; they say what is wrong with a token without
// repeating any of it.
var (
	errNoKid      = errors.New("token has no kid header")
	errUnknownKey = errors.New("token kid names no configured key")
	errCritical   = errors.New("token has critical header extensions")
)

// keyFor is the jwt.Keyfunc: it picks the verification key by kid among the
// configured keys only.
func (i *Issuer) keyFor(t *jwt.Token) (any, error) {
	// RFC 7515 §4.1.11: a recipient must refuse extensions it does not
	// understand, and we understand none.
	if _, ok := t.Header["crit"]; ok {
		return nil, errCritical
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errNoKid
	}
	pub, ok := i.keys.lookup(kid)
	if !ok {
		return nil, errUnknownKey
	}
	return pub, nil
}
