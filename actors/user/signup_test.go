package user_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors/user"
)

func TestSignupVerifyLoginRefreshLogout(t *testing.T) {
	ctx := t.Context()
	username, email := newUser("flow")
	require.NoError(t, svc.Signup(ctx, emporium.Signup{Username: username, Email: email, Password: password, Client: client}))
	m, tok := mailToken(t, email)
	assert.Contains(t, m.Text, "https://shop.test/verify-email?token=")

	// Unverified: the password is right, but login is refused.
	_, err := svc.Login(ctx, email, password, client)
	assert.Equal(t, emporium.EUNVERIFIED, code(t, err))
	assert.Equal(t, "verify your email address first: follow the link we mailed you, or ask for a new one", emporium.ErrorMessage(err))

	require.NoError(t, svc.VerifyEmail(ctx, tok))
	assert.Equal(t, emporium.EINVALID, code(t, svc.VerifyEmail(ctx, tok)), "a token works once")

	login, err := svc.Login(ctx, email, password, client)
	require.NoError(t, err)
	require.NotNil(t, login.Tokens)
	assert.False(t, login.MFARequired)
	assert.Equal(t, 15*time.Minute, login.Tokens.ExpiresIn)
	p, err := svc.Authenticate(ctx, login.Tokens.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, []string{emporium.RoleCustomer}, p.Roles)
	acc, err := svc.Account(ctx, p)
	require.NoError(t, err)
	assert.Equal(t, username, acc.Username)
	assert.True(t, acc.EmailVerified)
	assert.Equal(t, p.UserID, acc.ID)

	advance(time.Minute)
	r1, err := svc.Refresh(ctx, login.Tokens.RefreshToken, client)
	require.NoError(t, err)
	assert.NotEqual(t, login.Tokens.RefreshToken, r1.RefreshToken)
	p1, err := svc.Authenticate(ctx, r1.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, p.SessionID, p1.SessionID)
	r2, err := svc.Refresh(ctx, r1.RefreshToken, client)
	require.NoError(t, err)

	// Reuse of a rotated token revokes the family: the newest fails too.
	_, err = svc.Refresh(ctx, login.Tokens.RefreshToken, client)
	assert.Equal(t, emporium.EUNAUTHENTICATED, code(t, err))
	_, err = svc.Refresh(ctx, r2.RefreshToken, client)
	assert.Equal(t, emporium.EUNAUTHENTICATED, code(t, err))
	_, err = svc.Authenticate(ctx, r2.AccessToken)
	assert.Equal(t, emporium.EUNAUTHENTICATED, code(t, err), "the session's access tokens die with it")

	// A fresh session logs out; logging out again succeeds.
	login, err = svc.Login(ctx, email, password, client)
	require.NoError(t, err)
	require.NoError(t, svc.Logout(ctx, login.Tokens.RefreshToken))
	require.NoError(t, svc.Logout(ctx, login.Tokens.RefreshToken))
	_, err = svc.Refresh(ctx, login.Tokens.RefreshToken, client)
	assert.Equal(t, emporium.EUNAUTHENTICATED, code(t, err))

	// Malformed refresh tokens never reach a grain.
	for _, bad := range []string{"", "x", "rt1.a.b", "rt2.a.b.cccccccccccccccccccccccccccccccccccccccc"} {
		_, err := svc.Refresh(ctx, bad, client)
		assert.Equal(t, emporium.EUNAUTHENTICATED, code(t, err), bad)
	}
}

func TestResendVerification(t *testing.T) {
	ctx := t.Context()
	username, email := newUser("resend")
	require.NoError(t, svc.Signup(ctx, emporium.Signup{Username: username, Email: email, Password: password, Client: client}))
	_, first := mailToken(t, email)
	req, done := context.WithCancel(ctx)
	require.NoError(t, svc.ResendVerification(req, email, client))
	done() // the mail goes out after the request has gone
	_, second := mailToken(t, email)
	assert.Equal(t, emporium.EINVALID, code(t, svc.VerifyEmail(ctx, first)), "the resent token replaces the first")
	require.NoError(t, svc.VerifyEmail(ctx, second))
	// Unknown addresses answer the same.
	require.NoError(t, svc.ResendVerification(ctx, "nobody.resend@example.com", client))
}

func TestDuplicates(t *testing.T) {
	ctx := t.Context()
	username, email := newUser("dup")
	require.NoError(t, svc.Signup(ctx, emporium.Signup{Username: username, Email: email, Password: password}))
	mailToken(t, email)

	_, otherEmail := newUser("dup")
	err := svc.Signup(ctx, emporium.Signup{Username: "DUP" + username[3:], Email: otherEmail, Password: password})
	require.Equal(t, emporium.EINVALID, code(t, err))
	fields := emporium.ErrorFields(err)
	require.Len(t, fields, 1)
	assert.Equal(t, "username", fields[0].Field)
	assert.Equal(t, emporium.FieldTaken, fields[0].Code)

	// A taken email answers nil; its owner gets a note, no second account.
	otherName, _ := newUser("dup")
	require.NoError(t, svc.Signup(ctx, emporium.Signup{Username: otherName, Email: upper(email), Password: password}))
	m, err := outbox.Wait(waitCtx(t), email)
	require.NoError(t, err)
	assert.Contains(t, m.Subject, "Sign-up attempt")
	assert.NotContains(t, m.Text, "token=")
	// The username of the refused signup was released.
	_, freeEmail := newUser("dup")
	require.NoError(t, svc.Signup(ctx, emporium.Signup{Username: otherName, Email: freeEmail, Password: password}))
	mailToken(t, freeEmail)

	// Validation errors come together.
	err = svc.Signup(ctx, emporium.Signup{Username: "x", Email: "not-an-email", Password: "password"})
	require.Equal(t, emporium.EINVALID, code(t, err))
	assert.Len(t, emporium.ErrorFields(err), 3)
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// TestStaleClaimIsTakenOver: an email change never confirmed does not keep
// its address from another user for good.
func TestStaleClaimIsTakenOver(t *testing.T) {
	ctx := t.Context()
	_, _, p := verifiedUser(t, "stale")
	_, wanted := newUser("stale-wanted")
	_, err := svc.UpdateAccount(ctx, p, emporium.AccountUpdate{Email: &wanted, CurrentPassword: password})
	require.NoError(t, err)
	mailToken(t, wanted)

	advance(25 * time.Hour) // the change expired unconfirmed
	acc, err := svc.Account(ctx, p)
	require.NoError(t, err)
	assert.Empty(t, acc.PendingEmail)
	name, _ := newUser("stale")
	require.NoError(t, svc.Signup(ctx, emporium.Signup{Username: name, Email: wanted, Password: password}))
	m, tok := mailToken(t, wanted)
	assert.Contains(t, m.Text, "verify-email")
	require.NoError(t, svc.VerifyEmail(ctx, tok))
	_, err = svc.Login(ctx, wanted, password, client)
	require.NoError(t, err)
}

// TestLookalikeUsernamesAreOne: usernames compare by their confusables
// skeleton, so a digit one for an l, or a zero for an o, is the same
// username; the legacy lower-case key of an account named before the change
// still holds its name, and RekeyUsernames claims its new key so that its
// lookalikes are refused too.
func TestLookalikeUsernamesAreOne(t *testing.T) {
	ctx := t.Context()
	n := seq.Add(1)
	username := fmt.Sprintf("paypal_%d", n)
	_, email := newUser("look")
	require.NoError(t, svc.Signup(ctx, emporium.Signup{Username: username, Email: email, Password: password}))
	mailToken(t, email)
	for _, lookalike := range []string{fmt.Sprintf("paypa1_%d", n), fmt.Sprintf("PAYPA1_%d", n)} {
		_, other := newUser("look")
		err := svc.Signup(ctx, emporium.Signup{Username: lookalike, Email: other, Password: password})
		require.Equal(t, emporium.EINVALID, code(t, err), "%s after %s", lookalike, username)
		assert.Equal(t, emporium.FieldTaken, emporium.ErrorFields(err)[0].Code)
	}

	// An account named before the change: its claim is under the legacy
	// key only.
	m := seq.Add(1)
	old, legacyOwner := fmt.Sprintf("bi11_%d", m), fmt.Sprintf("legacy-owner-%d", m)
	require.NoError(t, claims.Claim(ctx, user.UsernamesCollection, user.LegacyUsernameKey(old), legacyOwner))
	_, other := newUser("look")
	err := svc.Signup(ctx, emporium.Signup{Username: strings.ToUpper(old), Email: other, Password: password})
	require.Equal(t, emporium.EINVALID, code(t, err), "the legacy key still holds the name")
	claimed, err := svc.RekeyUsernames(ctx, store.Projections())
	require.NoError(t, err)
	assert.Positive(t, claimed)
	owner, _, err := claims.Owner(ctx, user.UsernamesCollection, user.UsernameKey(old))
	require.NoError(t, err)
	assert.Equal(t, legacyOwner, owner, "the new key is the old account's")
	_, other = newUser("look")
	err = svc.Signup(ctx, emporium.Signup{Username: fmt.Sprintf("bill_%d", m), Email: other, Password: password})
	require.Equal(t, emporium.EINVALID, code(t, err), "a lookalike of the old name is refused once re-keyed")
	again, err := svc.RekeyUsernames(ctx, store.Projections())
	require.NoError(t, err)
	assert.Zero(t, again, "idempotent")
}
