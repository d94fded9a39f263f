package user_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
)

func TestForgotAndResetPassword(t *testing.T) {
	ctx := t.Context()
	email, tokens, _ := verifiedUser(t, "reset")
	other, err := svc.Login(ctx, email, password, client)
	require.NoError(t, err)

	// The mail goes out after the answer, when the request's context is
	// gone: the flow must not send its grain calls with it.
	req, done := context.WithCancel(ctx)
	require.NoError(t, svc.ForgotPassword(req, email, client))
	done()
	m, tok := mailToken(t, email)
	assert.Contains(t, m.Text, "https://shop.test/reset-password?token=")
	require.NoError(t, svc.ForgotPassword(ctx, "nobody.reset@example.com", client), "unknown emails answer the same")

	err = svc.ResetPassword(ctx, tok, "password", client)
	assert.Equal(t, emporium.EINVALID, code(t, err), "the policy applies")
	const newPassword = "a brand new passphrase"
	require.NoError(t, svc.ResetPassword(ctx, tok, newPassword, client))
	assert.Equal(t, emporium.EINVALID, code(t, svc.ResetPassword(ctx, tok, newPassword, client)), "the token works once")
	notice, err := outbox.Wait(waitCtx(t), email)
	require.NoError(t, err)
	assert.Equal(t, "Your password was changed", notice.Subject, "the address hears of the reset")
	assert.Contains(t, notice.Text, clock.Now().UTC().Format("2 January 2006 at 15:04 UTC"), "with the time")
	assert.Contains(t, notice.Text, "If it was not you", "and what to do")
	assert.Contains(t, notice.Text, "https://shop.test")
	assert.NotContains(t, notice.Text, "token=")

	for _, rt := range []string{tokens.RefreshToken, other.Tokens.RefreshToken} {
		_, err := svc.Refresh(ctx, rt, client)
		assert.Equal(t, emporium.EUNAUTHENTICATED, code(t, err), "every session ended")
	}
	_, err = svc.Login(ctx, email, password, client)
	assert.Equal(t, emporium.EUNAUTHENTICATED, code(t, err))
	login, err := svc.Login(ctx, email, newPassword, client)
	require.NoError(t, err)
	assert.NotNil(t, login.Tokens)

	// Reset tokens expire after an hour.
	require.NoError(t, svc.ForgotPassword(ctx, email, client))
	_, tok = mailToken(t, email)
	advance(61 * time.Minute)
	assert.Equal(t, emporium.EINVALID, code(t, svc.ResetPassword(ctx, tok, "yet another passphrase", client)))
}

// TestResetMailsPerIP asks for reset mails for many addresses from one
// place: after 20 in an hour the form answers 429 with a retry hint, and
// another address still gets its mail.
func TestResetMailsPerIP(t *testing.T) {
	ctx := t.Context()
	flooder := emporium.Client{IP: "192.0.2.66", UserAgent: "flooder"}
	for i := range 20 {
		require.NoError(t, svc.ForgotPassword(ctx, fmt.Sprintf("inbox.%d.flood@example.com", i), flooder), "request %d", i+1)
	}
	err := svc.ForgotPassword(ctx, "inbox.last.flood@example.com", flooder)
	assert.Equal(t, emporium.ERATELIMITED, code(t, err), "the 21st request from one address")
	assert.Positive(t, emporium.ErrorRetryAfter(err))
	require.NoError(t, svc.ForgotPassword(ctx, "inbox.last.flood@example.com", emporium.Client{IP: "192.0.2.67"}))
	advance(61 * time.Minute)
	require.NoError(t, svc.ForgotPassword(ctx, "inbox.again.flood@example.com", flooder))
}

// TestResetLiftsLockout locks an account out by failed logins, from one
// address and from everywhere, and resets its password: the owner who
// proved control of the email logs in at once.
func TestResetLiftsLockout(t *testing.T) {
	ctx := t.Context()
	home := emporium.Client{IP: "198.18.14.1", UserAgent: "owner"}
	email, _, _ := verifiedUser(t, "unlock")
	for ip := 1; ip <= 10; ip++ {
		c := emporium.Client{IP: fmt.Sprintf("198.18.14.%d", ip), UserAgent: "guesser"}
		for i := range 10 {
			// The account's window counts every attempt (verifiedUser's
			// login too), so the last guesses may be refused already.
			_, err := svc.Login(ctx, email, fmt.Sprint("guess ", ip, " ", i), c)
			require.Contains(t, []string{emporium.EUNAUTHENTICATED, emporium.ERATELIMITED}, code(t, err))
		}
	}
	_, err := svc.Login(ctx, email, password, home)
	require.Equal(t, emporium.ERATELIMITED, code(t, err), "locked from the owner's address")
	fresh := emporium.Client{IP: "198.18.15.1", UserAgent: "owner's phone"}
	_, err = svc.Login(ctx, email, password, fresh)
	require.Equal(t, emporium.ERATELIMITED, code(t, err), "locked from everywhere")

	require.NoError(t, svc.ForgotPassword(ctx, email, home))
	_, tok := mailToken(t, email)
	const newPassword = "the owner's new passphrase"
	require.NoError(t, svc.ResetPassword(ctx, tok, newPassword, home))
	_, err = svc.Login(ctx, email, newPassword, home)
	require.NoError(t, err, "the reset lifts the lockout where it came from")
	_, err = svc.Login(ctx, email, newPassword, fresh)
	require.NoError(t, err, "and the account's window")
	_, err = svc.Login(ctx, email, newPassword, emporium.Client{IP: "198.18.14.2"})
	assert.Equal(t, emporium.ERATELIMITED, code(t, err), "another guesser's address stays held for its window")
}
