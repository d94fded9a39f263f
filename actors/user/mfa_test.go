package user_test

import (
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
)

func totpCode(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	require.NoError(t, err)
	return c
}

func TestMFA(t *testing.T) {
	ctx := t.Context()
	email, _, p := verifiedUser(t, "mfa")

	_, err := svc.BeginTOTP(ctx, p, "not the password")
	assert.Equal(t, emporium.EINVALID, code(t, err), "enrolment needs the password")
	enr, err := svc.BeginTOTP(ctx, p, password)
	require.NoError(t, err)
	assert.Contains(t, enr.OTPAuthURL, "otpauth://totp/")
	_, err = svc.ConfirmTOTP(ctx, p, "000000")
	assert.Equal(t, emporium.EUNAUTHENTICATED, code(t, err))
	codes, err := svc.ConfirmTOTP(ctx, p, totpCode(t, enr.Secret))
	require.NoError(t, err)
	require.Len(t, codes, 10)
	acc, err := svc.Account(ctx, p)
	require.NoError(t, err)
	assert.True(t, acc.MFAEnabled)

	// Login now needs the second step.
	advance(31 * time.Second)
	login, err := svc.Login(ctx, email, password, client)
	require.NoError(t, err)
	assert.True(t, login.MFARequired)
	assert.Nil(t, login.Tokens)
	require.NotEmpty(t, login.MFAToken)

	// A wrong code keeps the challenge; the right one finishes the login.
	_, err = svc.LoginMFA(ctx, login.MFAToken, "000000", client)
	assert.Equal(t, emporium.EUNAUTHENTICATED, code(t, err))
	c := totpCode(t, enr.Secret)
	tokens, err := svc.LoginMFA(ctx, login.MFAToken, c, client)
	require.NoError(t, err)
	_, err = svc.Authenticate(ctx, tokens.AccessToken)
	require.NoError(t, err)
	_, err = svc.LoginMFA(ctx, login.MFAToken, c, client)
	assert.Equal(t, emporium.EUNAUTHENTICATED, code(t, err), "the challenge is single-use")

	// The same code again, in a new challenge: a replay.
	login, err = svc.Login(ctx, email, password, client)
	require.NoError(t, err)
	_, err = svc.LoginMFA(ctx, login.MFAToken, c, client)
	assert.Equal(t, emporium.EUNAUTHENTICATED, code(t, err), "a TOTP code works once")

	// A recovery code works once.
	advance(31 * time.Second)
	_, err = svc.LoginMFA(ctx, login.MFAToken, codes[3], client)
	require.NoError(t, err)
	login, err = svc.Login(ctx, email, password, client)
	require.NoError(t, err)
	_, err = svc.LoginMFA(ctx, login.MFAToken, codes[3], client)
	assert.Equal(t, emporium.EUNAUTHENTICATED, code(t, err), "a recovery code works once")

	// The challenge expires after 5 minutes.
	advance(6 * time.Minute)
	_, err = svc.LoginMFA(ctx, login.MFAToken, totpCode(t, enr.Secret), client)
	assert.Equal(t, emporium.EUNAUTHENTICATED, code(t, err))

	// Disabling needs the password and a fresh code.
	err = svc.DisableTOTP(ctx, p, "wrong password", totpCode(t, enr.Secret))
	assert.Equal(t, emporium.EUNAUTHENTICATED, code(t, err))
	advance(31 * time.Second)
	require.NoError(t, svc.DisableTOTP(ctx, p, password, totpCode(t, enr.Secret)))
	login, err = svc.Login(ctx, email, password, client)
	require.NoError(t, err)
	assert.NotNil(t, login.Tokens)
}

func TestTOTPTriesLimited(t *testing.T) {
	ctx := t.Context()
	email, _, p := verifiedUser(t, "tries")
	enr, err := svc.BeginTOTP(ctx, p, password)
	require.NoError(t, err)
	_, err = svc.ConfirmTOTP(ctx, p, totpCode(t, enr.Secret))
	require.NoError(t, err)
	advance(31 * time.Second)
	login, err := svc.Login(ctx, email, password, client)
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		_, err := svc.LoginMFA(ctx, login.MFAToken, "000000", client)
		assert.Equal(t, emporium.EUNAUTHENTICATED, code(t, err))
	}
	_, err = svc.LoginMFA(ctx, login.MFAToken, totpCode(t, enr.Secret), client)
	assert.Equal(t, emporium.ERATELIMITED, code(t, err))
}

// TestMFALockedAfterWrongCodes guesses TOTP codes at login: the 10th wrong
// code in a row locks MFA login (even the right code is refused) and mails
// the owner an unlock link; a recovery code or the link lifts the lock.
func TestMFALockedAfterWrongCodes(t *testing.T) {
	ctx := t.Context()
	email, _, p := verifiedUser(t, "mfalock")
	enr, err := svc.BeginTOTP(ctx, p, password)
	require.NoError(t, err)
	codes, err := svc.ConfirmTOTP(ctx, p, totpCode(t, enr.Secret))
	require.NoError(t, err)
	guess := func(mfaToken string) {
		t.Helper()
		for round := range 2 {
			advance(31 * time.Second) // past the TOTP tries window
			for i := range 5 {
				_, err := svc.LoginMFA(ctx, mfaToken, "000000", client)
				require.Equal(t, emporium.EUNAUTHENTICATED, code(t, err), "wrong code %d", round*5+i+1)
			}
		}
		advance(31 * time.Second)
	}
	login, err := svc.Login(ctx, email, password, client)
	require.NoError(t, err)
	guess(login.MFAToken)
	_, err = svc.LoginMFA(ctx, login.MFAToken, totpCode(t, enr.Secret), client)
	require.Equal(t, emporium.EFORBIDDEN, code(t, err), "locked: even the right code is refused")
	_, err = svc.LoginMFA(ctx, login.MFAToken, "000000", client)
	require.Equal(t, emporium.EFORBIDDEN, code(t, err))
	warning, tok := mailToken(t, email)
	assert.Contains(t, warning.Text, "knows your Emporium password")
	assert.Contains(t, warning.Text, "https://shop.test/unlock-mfa?token=")

	// A recovery code finishes the login and lifts the lock.
	_, err = svc.LoginMFA(ctx, login.MFAToken, codes[0], client)
	require.NoError(t, err)
	advance(31 * time.Second)
	login, err = svc.Login(ctx, email, password, client)
	require.NoError(t, err)
	_, err = svc.LoginMFA(ctx, login.MFAToken, totpCode(t, enr.Secret), client)
	require.NoError(t, err, "the recovery code lifted the lock")

	// Locked again; the mailed link lifts it, once.
	login, err = svc.Login(ctx, email, password, client)
	require.NoError(t, err)
	guess(login.MFAToken)
	_, err = svc.LoginMFA(ctx, login.MFAToken, totpCode(t, enr.Secret), client)
	require.Equal(t, emporium.EFORBIDDEN, code(t, err))
	_, tok2 := mailToken(t, email)
	assert.Equal(t, emporium.EINVALID, code(t, svc.UnlockMFA(ctx, tok+"x")), "an unknown link")
	require.NoError(t, svc.UnlockMFA(ctx, tok2))
	assert.Equal(t, emporium.EINVALID, code(t, svc.UnlockMFA(ctx, tok2)), "the link works once")
	advance(31 * time.Second)
	_, err = svc.LoginMFA(ctx, login.MFAToken, totpCode(t, enr.Secret), client)
	require.NoError(t, err, "the link lifted the lock")
}
