package user_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
)

func TestProfileAndEmailChange(t *testing.T) {
	ctx := t.Context()
	email, _, p := verifiedUser(t, "profile")
	name, phone := "Ada Lovelace", "+44 20 7946 0958"
	acc, err := svc.UpdateAccount(ctx, p, emporium.AccountUpdate{Name: &name, Phone: &phone})
	require.NoError(t, err)
	assert.Equal(t, name, acc.Name)
	assert.Equal(t, "+442079460958", acc.Phone)

	bad := "12"
	_, err = svc.UpdateAccount(ctx, p, emporium.AccountUpdate{Phone: &bad})
	assert.Equal(t, emporium.EINVALID, code(t, err))

	_, newEmail := newUser("profile-new")
	_, err = svc.UpdateAccount(ctx, p, emporium.AccountUpdate{Email: &newEmail})
	assert.Equal(t, emporium.EINVALID, code(t, err), "an email change needs the password")
	assert.Equal(t, "current_password", emporium.ErrorFields(err)[0].Field)
	acc, err = svc.UpdateAccount(ctx, p, emporium.AccountUpdate{Email: &newEmail, CurrentPassword: password})
	require.NoError(t, err)
	assert.Equal(t, email, acc.Email, "the old email stays until the new one is confirmed")
	assert.Equal(t, newEmail, acc.PendingEmail)
	_, tok := mailToken(t, newEmail)
	notice, err := outbox.Wait(waitCtx(t), email)
	require.NoError(t, err)
	assert.Contains(t, notice.Text, newEmail, "the current address hears of the change")
	assert.NotContains(t, notice.Text, "token=", "and gets no link that would confirm it")
	assert.Contains(t, notice.Text, clock.Now().UTC().Format("2 January 2006 at 15:04 UTC"), "with the time")
	assert.Contains(t, notice.Text, "If you did not ask for this", "and what to do")

	// The new address is claimed: nobody else can sign up with it... but
	// the answer does not say so.
	otherName, _ := newUser("profile")
	require.NoError(t, svc.Signup(ctx, emporium.Signup{Username: otherName, Email: newEmail, Password: password}))
	_, err = outbox.Wait(waitCtx(t), newEmail) // the owner's note
	require.NoError(t, err)

	// Login still uses the old address.
	_, err = svc.Login(ctx, newEmail, password, client)
	assert.Equal(t, emporium.EUNAUTHENTICATED, code(t, err))

	require.NoError(t, svc.VerifyEmail(ctx, tok))
	acc, err = svc.Account(ctx, p)
	require.NoError(t, err)
	assert.Equal(t, newEmail, acc.Email)
	assert.Empty(t, acc.PendingEmail)
	_, err = svc.Login(ctx, newEmail, password, client)
	require.NoError(t, err)
	_, err = svc.Login(ctx, email, password, client)
	assert.Equal(t, emporium.EUNAUTHENTICATED, code(t, err))

	// The old address was released: it can sign up again.
	freeName, _ := newUser("profile")
	require.NoError(t, svc.Signup(ctx, emporium.Signup{Username: freeName, Email: email, Password: password}))
	m, err := outbox.Wait(waitCtx(t), email)
	require.NoError(t, err)
	assert.Contains(t, m.Text, "verify-email?token=")

	// An email another account has is refused for a signed-in user.
	_, err = svc.UpdateAccount(ctx, p, emporium.AccountUpdate{Email: &email, CurrentPassword: password})
	require.Equal(t, emporium.EINVALID, code(t, err))
	assert.Equal(t, "email", emporium.ErrorFields(err)[0].Field)
}

func TestOtherUsersDataIsNotFound(t *testing.T) {
	ctx := t.Context()
	_, _, alice := verifiedUser(t, "alice")
	_, _, bob := verifiedUser(t, "bob")
	a, err := svc.AddAddress(ctx, alice, addr("Alice"), "")
	require.NoError(t, err)

	_, err = svc.Address(ctx, bob, a.ID)
	assert.Equal(t, emporium.ENOTFOUND, code(t, err))
	assert.Equal(t, emporium.ENOTFOUND, code(t, svc.RemoveAddress(ctx, bob, a.ID)))
	_, err = svc.ReplaceAddress(ctx, bob, a.ID, addr("Bob"))
	assert.Equal(t, emporium.ENOTFOUND, code(t, err))
	assert.Equal(t, emporium.ENOTFOUND, code(t, svc.RevokeSession(ctx, bob, alice.SessionID)))
	_, err = svc.Address(ctx, alice, a.ID)
	require.NoError(t, err, "alice's address is untouched")

	sessions, err := svc.Sessions(ctx, alice)
	require.NoError(t, err)
	require.Len(t, sessions, 1)
	assert.True(t, sessions[0].Current)
	assert.Equal(t, "test-agent", sessions[0].Device)
	assert.Equal(t, "203.0.113.7", sessions[0].IP)
	require.NoError(t, svc.RevokeSession(ctx, alice, alice.SessionID))
	_, err = svc.Account(ctx, alice)
	require.NoError(t, err, "Account takes the principal as given")
}
