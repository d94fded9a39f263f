package auth

import (
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	emporium "github.com/emporium-shop/emporium"
)

// Password length limits of the policy, counted in Unicode code points so
// that a passphrase in any script gets the same allowance.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 128
)

// maxPasswordBytes caps the encoded size of a password. 128 code points take
// at most 512 bytes in UTF-8; checking bytes first keeps a megabyte "password"
// from being scanned at all.
const maxPasswordBytes = 4 * MaxPasswordLength

// Lengths of the credentials a client sends back, beyond which none can be
// valid: the gateway refuses longer ones by name before any lookup, and the
// services check them again.
const (
	// MaxTokenLength bounds a one-time token from a mailed link (email
	// verification, password reset, MFA unlock) and an MFA challenge's
	// mfa_token, in characters.
	MaxTokenLength = 256
	// MaxRefreshTokenLength bounds a refresh token, in characters.
	MaxRefreshTokenLength = 512
	// MaxCodeLength bounds a TOTP or recovery code as typed, with spaces
	// and dashes, in characters.
	MaxCodeLength = 4 * recoveryLen
)

// argonParams are the argon2id cost parameters recorded in a PHC string.
type argonParams struct {
	memory  uint32 // KiB
	time    uint32 // passes
	threads uint8  // lanes
}

// defaultParams are the OWASP minimum for argon2id (19 MiB, 2 passes, 1 lane).
// Raising them later is safe: NeedsRehash reports old hashes so that login
// can re-hash them while it holds the plain password.
var defaultParams = argonParams{memory: 19456, time: 2, threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// Limits on the parameters of a stored hash. A hash is data read back from a
// database; without a ceiling, one edited record (m=4 GiB, t=1000) would make
// every login for that account allocate and burn without bound.
const (
	maxMemory  = 256 * 1024 // KiB, 256 MiB
	maxTime    = 16
	maxThreads = 16
	minSalt    = 8
	maxSalt    = 64
	minKey     = 16
	maxKey     = 64
)

// b64 is the PHC string encoding: standard alphabet, no padding. Strict
// decoding refuses non-canonical trailing bits so that one hash has exactly
// one spelling.
var b64 = base64.RawStdEncoding.Strict()

// hashSlots bounds how many argon2 computations run at once. Each one holds
// 19 MiB and a full core, so running more than the cores can serve adds no
// throughput; the bound turns a burst of logins into a queue instead of
// gigabytes of simultaneous allocations.
var hashSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// deriveKey runs argon2id within the concurrency bound.
func deriveKey(pw string, salt []byte, p argonParams, n uint32) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	return argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, n)
}

// HashPassword returns the argon2id hash of pw as a PHC string
// ($argon2id$v=19$m=19456,t=2,p=1$salt$hash) with a fresh 16-byte salt. It
// does not apply the policy; call CheckPassword first for a new password.
func HashPassword(pw string) (string, error) {
	return hashWithParams(pw, defaultParams)
}

func hashWithParams(pw string, p argonParams) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", &emporium.Error{Code: emporium.EINTERNAL, Op: "auth.HashPassword", Message: "reading random salt", Err: err}
	}
	key := deriveKey(pw, salt, p, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches the PHC string encoded. A wrong
// password is (false, nil); an encoding that cannot be parsed, or whose
// parameters are beyond the limits this package accepts, is an EINTERNAL
// error, because it means the stored record is damaged, not that the caller
// erred. The comparison runs in constant time.
func VerifyPassword(encoded, pw string) (bool, error) {
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return false, &emporium.Error{Code: emporium.EINTERNAL, Op: "auth.VerifyPassword", Message: "stored password hash is unusable", Err: err}
	}
	got := deriveKey(pw, salt, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// NeedsRehash reports whether encoded was made with other parameters than
// the current ones (or cannot be read at all). Login calls it after a
// successful VerifyPassword and, if true, stores HashPassword(pw) in place of
// the old hash.
func NeedsRehash(encoded string) bool {
	p, salt, key, err := decodeHash(encoded)
	if err != nil {
		return true
	}
	return p != defaultParams || len(salt) != saltLen || len(key) != keyLen
}

// dummyHash is what VerifyDummy compares against; its value never matters.
var dummyHash = make([]byte, keyLen)

// dummySalt is a fixed salt for VerifyDummy. Its value never matters either:
// only the time spent does.
var dummySalt = []byte("emporium-dummy-s")

// VerifyDummy spends the time of a VerifyPassword against a current-parameter
// hash and discards the result. Login calls it when no account matches the
// email, so that the response time does not tell which emails are registered.
func VerifyDummy(pw string) {
	got := deriveKey(pw, dummySalt, defaultParams, keyLen)
	subtle.ConstantTimeCompare(got, dummyHash)
}

// errHashFormat is the cause for every unreadable hash; the details are in
// the wrapping message, never the hash itself.
var errHashFormat = errors.New("malformed argon2id PHC string")

// decodeHash parses and bounds-checks a PHC string. It never panics: argon2
// panics on zero passes or lanes, so those are refused here.
func decodeHash(encoded string) (argonParams, []byte, []byte, error) {
	var p argonParams
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: not an argon2id hash", errHashFormat)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: unsupported version", errHashFormat)
	}
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return p, nil, nil, fmt.Errorf("%w: parameters", errHashFormat)
	}
	m, errM := paramValue(fields[0], "m=", 32)
	t, errT := paramValue(fields[1], "t=", 32)
	l, errL := paramValue(fields[2], "p=", 8)
	if err := errors.Join(errM, errT, errL); err != nil {
		return p, nil, nil, fmt.Errorf("%w: parameters", errHashFormat)
	}
	p = argonParams{memory: uint32(m), time: uint32(t), threads: uint8(l)}
	switch {
	case p.time < 1 || p.time > maxTime:
		return p, nil, nil, fmt.Errorf("%w: passes out of range", errHashFormat)
	case p.threads < 1 || p.threads > maxThreads:
		return p, nil, nil, fmt.Errorf("%w: lanes out of range", errHashFormat)
	case p.memory < 8*uint32(p.threads) || p.memory > maxMemory:
		// argon2 needs 8 KiB per lane; below that it silently raises the
		// memory, so the stored value would not describe the hash.
		return p, nil, nil, fmt.Errorf("%w: memory out of range", errHashFormat)
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < minSalt || len(salt) > maxSalt {
		return p, nil, nil, fmt.Errorf("%w: salt", errHashFormat)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < minKey || len(key) > maxKey {
		return p, nil, nil, fmt.Errorf("%w: hash", errHashFormat)
	}
	return p, salt, key, nil
}

// paramValue parses "k=123" strictly: the key must match and the value must
// be plain decimal digits that fit in bits.
func paramValue(field, key string, bits int) (uint64, error) {
	v, ok := strings.CutPrefix(field, key)
	if !ok || v == "" || (len(v) > 1 && v[0] == '0') {
		return 0, errHashFormat
	}
	return strconv.ParseUint(v, 10, bits)
}

//go:embed common_passwords.txt
var commonPasswordsText string

// commonPasswords is the embedded list as a set, built on first use so that
// programs that never check a password do not pay for it.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 4096)
	for line := range strings.Lines(commonPasswordsText) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		set[strings.ToLower(line)] = struct{}{}
	}
	return set
})

// CheckPassword applies the password policy of DESIGN §9 to a new password:
// 8 to 128 characters, not in the embedded list of common passwords (compared
// in lower case, and a single repeated character counts as common), and not
// equal, ignoring case, to any of related — the username, the email address
// and so on; for a value holding an '@' its local part is compared as well.
// A refusal is an EINVALID error with one FieldError for "password" whose
// code is emporium.FieldTooShort, emporium.FieldTooLong, emporium.FieldTooCommon or
// emporium.FieldTooSimilar.
func CheckPassword(pw string, related ...string) error {
	if len(pw) > maxPasswordBytes {
		return policyError(emporium.FieldTooLong, fmt.Sprintf("Use at most %d characters.", MaxPasswordLength))
	}
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLength {
		return policyError(emporium.FieldTooShort, fmt.Sprintf("Use at least %d characters.", MinPasswordLength))
	}
	if n > MaxPasswordLength {
		return policyError(emporium.FieldTooLong, fmt.Sprintf("Use at most %d characters.", MaxPasswordLength))
	}
	lower := strings.ToLower(pw)
	if _, common := commonPasswords()[lower]; common || repeatsOneRune(lower) {
		return policyError(emporium.FieldTooCommon, "This password is too common; choose another.")
	}
	for _, r := range related {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		similar := strings.EqualFold(pw, r)
		if local, _, ok := strings.Cut(r, "@"); ok && local != "" {
			similar = similar || strings.EqualFold(pw, local)
		}
		if similar {
			return policyError(emporium.FieldTooSimilar, "The password must not be your username or email address.")
		}
	}
	return nil
}

// repeatsOneRune reports whether s is one character repeated, such as
// "zzzzzzzz", which no list can enumerate for every character.
func repeatsOneRune(s string) bool {
	first, _ := utf8.DecodeRuneInString(s)
	for _, r := range s {
		if r != first {
			return false
		}
	}
	return s != ""
}

func policyError(code, message string) error {
	return &emporium.Error{
		Code:    emporium.EINVALID,
		Op:      "auth.CheckPassword",
		Message: "The password does not meet the password policy.",
		Fields:  []emporium.FieldError{{Field: "password", Code: code, Message: message}},
	}
}
