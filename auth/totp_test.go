package auth

import (
	"encoding/base32"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
)

// rfcSecret is the SHA-1 seed of RFC 6238 appendix B ("12345678901234567890")
// in base32. A fixed secret and fixed times keep these tests deterministic:
// with a random secret two neighbouring steps could share a code.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// codeAt is the code an authenticator app shows for secret at step.
func codeAt(t *testing.T, secret string, step int64) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, time.Unix(step*30, 0), totp.ValidateOpts{Period: 30, Digits: totpDigits, Algorithm: totpAlgorithm})
	require.NoError(t, err)
	return code
}

func requireInvalidCode(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(err))
	assert.Equal(t, "invalid code", emporium.ErrorMessage(err))
}

func TestNewTOTP(t *testing.T) {
	secret, raw, err := NewTOTP("Emporium", "alice@example.com")
	require.NoError(t, err)
	decoded, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	require.NoError(t, err)
	assert.Len(t, decoded, 20, "a 160-bit secret")

	u, err := url.Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, "otpauth", u.Scheme)
	assert.Equal(t, "totp", u.Host)
	assert.Equal(t, "/Emporium:alice@example.com", u.Path)
	q := u.Query()
	assert.Equal(t, secret, q.Get("secret"))
	assert.Equal(t, "Emporium", q.Get("issuer"))
	assert.Equal(t, "SHA1", q.Get("algorithm"))
	assert.Equal(t, "6", q.Get("digits"))
	assert.Equal(t, "30", q.Get("period"))

	other, _, err := NewTOTP("Emporium", "alice@example.com")
	require.NoError(t, err)
	assert.NotEqual(t, secret, other)

	// A code from the new secret is accepted now.
	now := time.Now()
	step, err := CheckTOTP(secret, codeAt(t, secret, TOTPStep(now)), now, 0)
	require.NoError(t, err)
	assert.Equal(t, TOTPStep(now), step)

	for _, bad := range [][2]string{{"", "alice"}, {"Emporium", ""}, {"Emp:orium", "alice"}, {"Emporium", "a:b"}} {
		_, _, err := NewTOTP(bad[0], bad[1])
		assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "%q", bad)
	}
}

func TestCheckTOTPRFCVector(t *testing.T) {
	// RFC 6238 appendix B: at T=59 s the SHA-1 8-digit code is 94287082,
	// whose last six digits are the 6-digit code.
	step, err := CheckTOTP(rfcSecret, "287082", time.Unix(59, 0), 0)
	require.NoError(t, err)
	assert.Equal(t, int64(1), step)
	// T=1111111109 -> 07081804.
	_, err = CheckTOTP(rfcSecret, "081804", time.Unix(1111111109, 0), 0)
	require.NoError(t, err)
}

func TestCheckTOTPWindow(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)
	cur := TOTPStep(now)
	assert.Equal(t, now.Unix()/30, cur)

	for delta, ok := range map[int64]bool{-3: false, -2: false, -1: true, 0: true, 1: true, 2: false, 3: false} {
		step, err := CheckTOTP(rfcSecret, codeAt(t, rfcSecret, cur+delta), now, 0)
		if ok {
			require.NoError(t, err, "step %+d", delta)
			assert.Equal(t, cur+delta, step, "the step of the code is returned, not the current one")
		} else {
			requireInvalidCode(t, err)
		}
	}
	// Spaces as apps show them are fine.
	code := codeAt(t, rfcSecret, cur)
	_, err := CheckTOTP(rfcSecret, code[:3]+" "+code[3:], now, 0)
	require.NoError(t, err)
}

func TestCheckTOTPReplay(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)
	cur := TOTPStep(now)
	code := codeAt(t, rfcSecret, cur)

	used, err := CheckTOTP(rfcSecret, code, now, 0)
	require.NoError(t, err)
	require.Equal(t, cur, used)

	// The same code again, even seconds later within the same step or from
	// the next step's window, is refused.
	for _, later := range []time.Duration{0, 5 * time.Second, 30 * time.Second} {
		_, err = CheckTOTP(rfcSecret, code, now.Add(later), used)
		requireInvalidCode(t, err)
		assert.True(t, errors.Is(err, ErrTOTPReplayed), "a replay is told apart for logs")
	}
	// An older code still inside the window cannot follow a newer one.
	_, err = CheckTOTP(rfcSecret, codeAt(t, rfcSecret, cur-1), now, used)
	requireInvalidCode(t, err)
	// The next step's code is accepted once and moves the mark on.
	next, err := CheckTOTP(rfcSecret, codeAt(t, rfcSecret, cur+1), now.Add(30*time.Second), used)
	require.NoError(t, err)
	assert.Equal(t, cur+1, next)
	_, err = CheckTOTP(rfcSecret, codeAt(t, rfcSecret, cur+1), now.Add(30*time.Second), next)
	requireInvalidCode(t, err)

	// A wrong code is not a replay.
	_, err = CheckTOTP(rfcSecret, "000000", now, used)
	requireInvalidCode(t, err)
	if codeAt(t, rfcSecret, cur) != "000000" && codeAt(t, rfcSecret, cur+1) != "000000" && codeAt(t, rfcSecret, cur-1) != "000000" {
		assert.False(t, errors.Is(err, ErrTOTPReplayed))
	}
}

func TestCheckTOTPBadInput(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)
	code := codeAt(t, rfcSecret, TOTPStep(now))
	for name, bad := range map[string]string{
		"empty":            "",
		"five digits":      code[:5],
		"seven digits":     code + "0",
		"letters":          "12a456",
		"sign":             "-12345",
		"full-width":       "１２３４５６",
		"dashes":           code[:3] + "-" + code[3:],
		"right code, tail": code + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := CheckTOTP(rfcSecret, bad, now, 0)
			requireInvalidCode(t, err)
		})
	}
	_, err := CheckTOTP("not base32!", code, now, 0)
	require.Error(t, err)
	assert.Equal(t, emporium.EINTERNAL, emporium.ErrorCode(err), "a damaged secret is our fault, not the user's")
	assert.NotContains(t, err.Error(), "not base32!", "the error must not carry the secret")
}

var recoveryPattern = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{2}$`)

func TestRecoveryCodes(t *testing.T) {
	plain, hashes, err := NewRecoveryCodes(10)
	require.NoError(t, err)
	require.Len(t, plain, 10)
	require.Len(t, hashes, 10)
	unique := make(map[string]bool)
	for i, code := range plain {
		assert.Regexp(t, recoveryPattern, code)
		assert.False(t, unique[code], "codes of a batch are distinct")
		unique[code] = true
		assert.Equal(t, HashRecoveryCode(code), hashes[i])
		assert.NotContains(t, hashes[i], strings.ReplaceAll(code, "-", ""))
	}

	// Case, spaces and dashes do not matter.
	code := plain[3]
	for _, typed := range []string{
		code,
		strings.ToUpper(code),
		strings.ReplaceAll(code, "-", ""),
		" " + strings.ReplaceAll(strings.ToUpper(code), "-", " ") + " ",
	} {
		i, ok := MatchRecoveryCode(typed, hashes)
		assert.True(t, ok, "%q", typed)
		assert.Equal(t, 3, i)
	}

	// Single use: the caller removes the matched hash, and the code is gone.
	i, ok := MatchRecoveryCode(code, hashes)
	require.True(t, ok)
	hashes = append(hashes[:i], hashes[i+1:]...)
	_, ok = MatchRecoveryCode(code, hashes)
	assert.False(t, ok, "a used code no longer matches")
	j, ok := MatchRecoveryCode(plain[4], hashes)
	assert.True(t, ok, "the other codes still work")
	assert.Equal(t, 3, j)

	for _, bad := range []string{"", "abcd-efgh-jk", "uuuu-uuuu-uu", code[:11], code + "0", strings.Repeat(code, 10)} {
		_, ok := MatchRecoveryCode(bad, hashes)
		assert.False(t, ok, "%q", bad)
	}
	_, ok = MatchRecoveryCode(code, nil)
	assert.False(t, ok)
}

func TestRecoveryCodeLookalikes(t *testing.T) {
	// Crockford's alphabet has no o, i or l; typed, they mean 0, 1 and 1.
	hashes := []string{HashRecoveryCode("0a1b-2c3d-41")}
	for _, typed := range []string{"0a1b-2c3d-41", "OA1B 2C3D 4I", "oalb2c3d4l"} {
		_, ok := MatchRecoveryCode(typed, hashes)
		assert.True(t, ok, "%q", typed)
	}
	assert.Empty(t, HashRecoveryCode("not a code"))
}

func TestNewRecoveryCodesCount(t *testing.T) {
	for _, n := range []int{0, -1, 101} {
		_, _, err := NewRecoveryCodes(n)
		assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "n=%d", n)
	}
	plain, hashes, err := NewRecoveryCodes(1)
	require.NoError(t, err)
	assert.Len(t, plain, 1)
	assert.Len(t, hashes, 1)
}
