package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	emporium "github.com/emporium-shop/emporium"
)

// TOTP parameters (RFC 6238). SHA-1, 6 digits and 30 s are what every
// authenticator app supports; apps silently ignore other choices in the URL,
// which would lock users out.
const (
	totpPeriod     = 30
	totpDigits     = otp.DigitsSix
	totpAlgorithm  = otp.AlgorithmSHA1
	totpSecretSize = 20 // bytes: 160 bits, the RFC 4226 recommendation
	// totpSkew is how many steps either side of now are accepted, to absorb
	// clock drift on the phone and the time a person takes to type.
	totpSkew = 1
)

// ErrTOTPReplayed is the cause (see errors.Is) of a CheckTOTP failure for a
// code that was right but whose step was already used. The message shown to
// the caller is the same as for a wrong code.
var ErrTOTPReplayed = errors.New("TOTP code already used")

// NewTOTP creates a TOTP secret for a user: a 160-bit random secret in
// unpadded base32, and the otpauth:// URL that authenticator apps read from a
// QR code, naming issuer (the shop) and account (usually the email). The
// secret is sensitive: store it encrypted or at least never log it.
func NewTOTP(issuer, account string) (secret, otpauthURL string, err error) {
	const op = "auth.NewTOTP"
	// A colon splits issuer from account in the otpauth label, so one inside
	// either would make apps show the wrong names.
	if strings.TrimSpace(issuer) == "" || strings.TrimSpace(account) == "" ||
		strings.Contains(issuer, ":") || strings.Contains(account, ":") {
		return "", "", &emporium.Error{Code: emporium.EINVALID, Op: op, Message: "issuer and account must be non-empty and contain no ':'"}
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      totpPeriod,
		SecretSize:  totpSecretSize,
		Digits:      totpDigits,
		Algorithm:   totpAlgorithm,
		Rand:        rand.Reader,
	})
	if err != nil {
		return "", "", &emporium.Error{Code: emporium.EINTERNAL, Op: op, Message: "generating TOTP key", Err: err}
	}
	return key.Secret(), key.URL(), nil
}

// TOTPStep returns the RFC 6238 time step that contains t.
func TOTPStep(t time.Time) int64 {
	u := t.Unix()
	s := u / totpPeriod
	if u%totpPeriod < 0 { // floor division, should a clock ever read before 1970
		s--
	}
	return s
}

// CheckTOTP checks a 6-digit code against secret at time now, accepting the
// step of now and one step either side. A code whose step is not greater
// than lastUsedStep is refused even if it is right, so each code works once
// and an older code cannot follow a newer one; the caller stores the returned
// step as its new lastUsedStep (0 when no code was ever used). Spaces in code
// are ignored, since apps show codes as "123 456". Every refusal is
// EUNAUTHENTICATED with the message "invalid code"; a replay also wraps
// ErrTOTPReplayed. A secret that is not valid base32 is EINTERNAL.
func CheckTOTP(secret, code string, now time.Time, lastUsedStep int64) (step int64, err error) {
	const op = "auth.CheckTOTP"
	code = strings.ReplaceAll(code, " ", "")
	if len(code) != totpDigits.Length() || strings.Trim(code, "0123456789") != "" {
		return 0, invalidCode(op, nil)
	}
	current := TOTPStep(now)
	matched, replayed := int64(-1), false
	// Every candidate step is computed and compared, without stopping at a
	// match, so the time taken does not tell which step matched.
	for s := current - totpSkew; s <= current+totpSkew; s++ {
		if s < 0 {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0), totp.ValidateOpts{
			Period: totpPeriod, Digits: totpDigits, Algorithm: totpAlgorithm,
		})
		if err != nil {
			return 0, &emporium.Error{Code: emporium.EINTERNAL, Op: op, Message: "stored TOTP secret is unusable", Err: err}
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		if s <= lastUsedStep {
			replayed = true
		} else if s > matched {
			matched = s
		}
	}
	if matched >= 0 {
		return matched, nil
	}
	if replayed {
		return 0, invalidCode(op, ErrTOTPReplayed)
	}
	return 0, invalidCode(op, nil)
}

func invalidCode(op string, cause error) error {
	return &emporium.Error{Code: emporium.EUNAUTHENTICATED, Op: op, Message: "invalid code", Err: cause}
}

// Recovery codes: 10 characters from Crockford's base32 alphabet (no i, l, o
// or u, so nothing reads as another character), 5 bits each: 50 bits, which
// makes guessing through a rate-limited login hopeless and lets a plain
// SHA-256 stand in for a slow hash.
const (
	recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	recoveryLen      = 10
	maxRecoveryCodes = 100
)

// NewRecoveryCodes returns n new recovery codes for display, formatted
// "xxxx-xxxx-xx", and their hashes (HashRecoveryCode) in the same order, which
// are what the caller stores. The codes of one batch are distinct. Login
// accepts a code through MatchRecoveryCode, and the caller deletes the
// matched hash so that each code works once.
func NewRecoveryCodes(n int) (plain []string, hashes []string, err error) {
	const op = "auth.NewRecoveryCodes"
	if n < 1 || n > maxRecoveryCodes {
		return nil, nil, &emporium.Error{Code: emporium.EINVALID, Op: op, Message: "the number of recovery codes must be between 1 and 100"}
	}
	seen := make(map[string]bool, n)
	buf := make([]byte, recoveryLen)
	for len(plain) < n {
		if _, err := rand.Read(buf); err != nil {
			return nil, nil, &emporium.Error{Code: emporium.EINTERNAL, Op: op, Message: "reading random bytes", Err: err}
		}
		var raw [recoveryLen]byte
		for i, b := range buf {
			// 256 is a multiple of 32, so masking keeps every letter
			// equally likely.
			raw[i] = recoveryAlphabet[b&31]
		}
		code := string(raw[:])
		if seen[code] {
			continue
		}
		seen[code] = true
		plain = append(plain, code[:4]+"-"+code[4:8]+"-"+code[8:])
		hashes = append(hashes, hashRecovery(code))
	}
	return plain, hashes, nil
}

// HashRecoveryCode returns the stored form of a recovery code: the hex
// SHA-256 of its normalized spelling behind a fixed domain prefix (so these
// hashes cannot be confused with token hashes), or "" for a string that
// cannot be a recovery code.
func HashRecoveryCode(code string) string {
	norm, ok := normalizeRecoveryCode(code)
	if !ok {
		return ""
	}
	return hashRecovery(norm)
}

// MatchRecoveryCode finds code among the stored hashes and returns the index
// of the match. The code is normalized first: case, spaces and dashes do not
// matter, and o, i and l are read as 0, 1 and 1 as Crockford's alphabet
// intends. Every hash is compared, in constant time, so the time taken does
// not tell which one matched.
func MatchRecoveryCode(code string, hashes []string) (index int, ok bool) {
	norm, valid := normalizeRecoveryCode(code)
	if !valid {
		return -1, false
	}
	h := []byte(hashRecovery(norm))
	index = -1
	for i, stored := range hashes {
		if subtle.ConstantTimeCompare(h, []byte(stored)) == 1 && index < 0 {
			index = i
		}
	}
	return index, index >= 0
}

func hashRecovery(norm string) string {
	sum := sha256.Sum256([]byte("emporium-recovery-code:" + norm))
	return hex.EncodeToString(sum[:])
}

// normalizeRecoveryCode lower-cases code, drops spaces and dashes, maps the
// letters that Crockford's alphabet leaves out to the digits they resemble,
// and checks that what remains is a code of the right length.
func normalizeRecoveryCode(code string) (string, bool) {
	if len(code) > MaxCodeLength { // a generous bound before any work
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToLower(code) {
		switch {
		case r == ' ' || r == '-' || r == '\t':
			continue
		case r == 'o':
			r = '0'
		case r == 'i' || r == 'l':
			r = '1'
		}
		if r > 0x7f || !strings.ContainsRune(recoveryAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != recoveryLen {
		return "", false
	}
	return b.String(), true
}
