package user_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/actors/session"
	"github.com/emporium-shop/emporium/actors/user"
	"github.com/emporium-shop/emporium/auth"
	"github.com/emporium-shop/emporium/mail"
	"github.com/emporium-shop/emporium/persistence"
	pb "github.com/emporium-shop/emporium/protos/userpb"
	"github.com/emporium-shop/emporium/ratelimit"
)

var (
	member *cluster.Cluster
	store  *persistence.Store
	clock  = actorstest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	mr     *miniredis.Miniredis
	outbox *mail.Outbox
	svc    *user.Service
	claims *actors.DocumentClaims
	// journal is the UserGrain's: the store's, with failures tests inject.
	journal *faultyJournal
)

func TestMain(m *testing.M) {
	os.Exit(actorstest.Main(m, "user", func(s *persistence.Store, logger *slog.Logger, cleanup func(func())) (err error) {
		store = s
		claims = &actors.DocumentClaims{Collection: func(c string) actors.ClaimDocuments { return store.Documents(c) }, Now: clock.Now}
		journal = &faultyJournal{Journal: store.Journal()}
		member, err = actors.StartMember(actors.ClusterConfig{Provider: actors.ProviderLocal, Addr: "127.0.0.1:0", Logger: logger},
			user.NewKind(user.Config{Journal: journal, Snapshots: store.Snapshots(), Clock: clock, Logger: logger},
				user.WithClaims(claims), user.WithViews(store.Projections())),
			session.NewKind(session.Config{Journal: store.Journal(), Snapshots: store.Snapshots(), Clock: clock, Logger: logger}))
		if err != nil {
			return err
		}
		cleanup(func() { member.Shutdown(false) })

		mr = miniredis.NewMiniRedis()
		if err := mr.Start(); err != nil {
			return err
		}
		cleanup(mr.Close)
		mr.SetTime(clock.Now())
		mr.ClockTTL(true)
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		cleanup(func() { _ = rdb.Close() })
		limiter := ratelimit.New(rdb, "emporium:rl:")
		limiter.Clock = clock.Now

		key, err := auth.GenerateKey()
		if err != nil {
			return err
		}
		keys, err := auth.NewKeySet(key)
		if err != nil {
			return err
		}
		issuer, err := auth.NewIssuer(auth.IssuerConfig{Keys: keys, Issuer: "https://shop.test", Audience: "emporium-api", Now: clock.Now})
		if err != nil {
			return err
		}
		outbox = mail.NewOutbox(nil, 1000)
		svc, err = user.NewService(user.ServiceConfig{
			Cluster:   member,
			Claims:    claims,
			Redis:     rdb,
			Mailer:    outbox,
			Issuer:    issuer,
			Limiter:   limiter.Counters(),
			PublicURL: "https://shop.test",
			Clock:     clock,
			Logger:    logger,
		})
		if err != nil {
			return err
		}
		cleanup(svc.Wait)
		return nil
	}))
}

// advance moves the shared clock and Redis's with it.
func advance(d time.Duration) {
	clock.Advance(d)
	mr.SetTime(clock.Now())
}

var seq atomic.Int64

// newUser returns a fresh username and email.
func newUser(prefix string) (username, email string) {
	n := seq.Add(1)
	return fmt.Sprintf("%s_%d", prefix, n), fmt.Sprintf("%s.%d@example.com", prefix, n)
}

const password = "correct horse battery"

var client = emporium.Client{IP: "203.0.113.7", UserAgent: "test-agent"}

var tokenPattern = regexp.MustCompile(`[?&]token=([A-Za-z0-9_-]+)`)

// mailToken waits for the next mail to addr and returns it and its token.
func mailToken(t *testing.T, addr string) (mail.Message, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	m, err := outbox.Wait(ctx, addr)
	require.NoError(t, err)
	match := tokenPattern.FindStringSubmatch(m.Text)
	require.NotNil(t, match, "a link with a token in %q", m.Text)
	return m, match[1]
}

// verifiedUser signs up and verifies a user and logs in.
func verifiedUser(t *testing.T, prefix string) (email string, tokens emporium.Tokens, p emporium.Principal) {
	t.Helper()
	ctx := t.Context()
	username, email := newUser(prefix)
	require.NoError(t, svc.Signup(ctx, emporium.Signup{Username: username, Email: email, Password: password, Client: client}))
	_, tok := mailToken(t, email)
	require.NoError(t, svc.VerifyEmail(ctx, tok))
	login, err := svc.Login(ctx, email, password, client)
	require.NoError(t, err)
	require.NotNil(t, login.Tokens)
	p, err = svc.Authenticate(ctx, login.Tokens.AccessToken)
	require.NoError(t, err)
	return email, *login.Tokens, p
}

func code(t *testing.T, err error) string {
	t.Helper()
	require.Error(t, err)
	return emporium.ErrorCode(err)
}

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
	require.NoError(t, svc.ResendVerification(ctx, email, client))
	_, second := mailToken(t, email)
	assert.Equal(t, emporium.EINVALID, code(t, svc.VerifyEmail(ctx, first)), "the resent token replaces the first")
	require.NoError(t, svc.VerifyEmail(ctx, second))
	// Unknown addresses answer the same.
	require.NoError(t, svc.ResendVerification(ctx, "nobody.resend@example.com", client))
}

func TestLoginFailures(t *testing.T) {
	ctx := t.Context()
	email, _, _ := verifiedUser(t, "lockout")

	_, unknown := svc.Login(ctx, "nobody.here@example.com", password, client)
	_, wrong := svc.Login(ctx, email, "wrong password 1", client)
	require.Error(t, unknown)
	require.Error(t, wrong)
	assert.Equal(t, emporium.ErrorCode(wrong), emporium.ErrorCode(unknown))
	assert.Equal(t, emporium.ErrorMessage(wrong), emporium.ErrorMessage(unknown))
	assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(wrong))

	for i := 2; i <= 10; i++ {
		_, err := svc.Login(ctx, email, fmt.Sprint("wrong password ", i), client)
		assert.Equal(t, emporium.EUNAUTHENTICATED, code(t, err), "failure %d", i)
	}
	_, err := svc.Login(ctx, email, password, client)
	assert.Equal(t, emporium.ERATELIMITED, code(t, err), "the 11th attempt is refused even with the right password")

	// Another address is not locked out by this one.
	other := emporium.Client{IP: "198.51.100.9", UserAgent: "other"}
	_, err = svc.Login(ctx, email, password, other)
	require.NoError(t, err)

	// The window passes.
	advance(16 * time.Minute)
	_, err = svc.Login(ctx, email, password, client)
	require.NoError(t, err)
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

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

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

func TestForgotAndResetPassword(t *testing.T) {
	ctx := t.Context()
	email, tokens, _ := verifiedUser(t, "reset")
	other, err := svc.Login(ctx, email, password, client)
	require.NoError(t, err)

	require.NoError(t, svc.ForgotPassword(ctx, email, client))
	m, tok := mailToken(t, email)
	assert.Contains(t, m.Text, "https://shop.test/reset-password?token=")
	require.NoError(t, svc.ForgotPassword(ctx, "nobody.reset@example.com", client), "unknown emails answer the same")

	err = svc.ResetPassword(ctx, tok, "password")
	assert.Equal(t, emporium.EINVALID, code(t, err), "the policy applies")
	const newPassword = "a brand new passphrase"
	require.NoError(t, svc.ResetPassword(ctx, tok, newPassword))
	assert.Equal(t, emporium.EINVALID, code(t, svc.ResetPassword(ctx, tok, newPassword)), "the token works once")

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
	assert.Equal(t, emporium.EINVALID, code(t, svc.ResetPassword(ctx, tok, "yet another passphrase")))
}

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

func addr(name string) emporium.Address {
	return emporium.Address{FullName: name, Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "us"}
}

func TestAddresses(t *testing.T) {
	ctx := t.Context()
	_, _, p := verifiedUser(t, "addr")

	first, err := svc.AddAddress(ctx, p, addr("First"), "")
	require.NoError(t, err)
	assert.True(t, first.IsDefaultShipping)
	assert.True(t, first.IsDefaultBilling)
	assert.Equal(t, "US", first.Country)

	second := addr("Second")
	second.IsDefaultShipping = true
	got, err := svc.AddAddress(ctx, p, second, "key-2")
	require.NoError(t, err)
	again, err := svc.AddAddress(ctx, p, second, "key-2")
	require.NoError(t, err)
	assert.Equal(t, got.ID, again.ID, "a retry with the same key answers the same address")
	list, err := svc.Addresses(ctx, p)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.False(t, list[0].IsDefaultShipping)
	assert.True(t, list[0].IsDefaultBilling)
	assert.True(t, list[1].IsDefaultShipping)

	upd := addr("Second Renamed")
	upd.IsDefaultBilling = true
	got, err = svc.ReplaceAddress(ctx, p, got.ID, upd)
	require.NoError(t, err)
	assert.Equal(t, "Second Renamed", got.FullName)
	assert.True(t, got.IsDefaultShipping, "false keeps the flag")
	assert.True(t, got.IsDefaultBilling)

	require.NoError(t, svc.RemoveAddress(ctx, p, got.ID))
	one, err := svc.Address(ctx, p, first.ID)
	require.NoError(t, err)
	assert.True(t, one.IsDefaultShipping && one.IsDefaultBilling, "the defaults pass to the remaining address")
	_, err = svc.Address(ctx, p, got.ID)
	assert.Equal(t, emporium.ENOTFOUND, code(t, err))

	bad := addr("")
	bad.Country = "XX"
	_, err = svc.AddAddress(ctx, p, bad, "")
	assert.Equal(t, emporium.EINVALID, code(t, err))
	assert.Len(t, emporium.ErrorFields(err), 2)

	for i := 2; i <= 20; i++ {
		_, err := svc.AddAddress(ctx, p, addr(fmt.Sprint("Address ", i)), "")
		require.NoError(t, err, "address %d", i)
	}
	_, err = svc.AddAddress(ctx, p, addr("Twenty-first"), "")
	assert.Equal(t, emporium.EINVALID, code(t, err), "at most 20")
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

// TestGrainReplay checks that the journal holds what the grain answers.
func TestGrainReplay(t *testing.T) {
	_, _, p := verifiedUser(t, "replay")
	pid := member.Get(p.UserID, user.Kind)
	require.NoError(t, member.ActorSystem.Root.PoisonFuture(pid).Wait())
	acc, err := pb.GetUserGrainGrainClient(member, p.UserID).Get(&pb.GetRequest{})
	require.NoError(t, err)
	assert.True(t, acc.EmailVerified)
	st, err := user.Replay(t.Context(), store.Journal(), p.UserID)
	require.NoError(t, err)
	assert.Equal(t, acc.Username, st.Username)
	assert.True(t, st.EmailVerified)

	_, err = pb.GetUserGrainGrainClient(member, "nobody").Get(&pb.GetRequest{})
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(emporium.GrainCall("get", err)))
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

// TestParallelGuessesAreLimited fires concurrent wrong passwords at one
// account: no more than the account+IP window lets through are checked.
func TestParallelGuessesAreLimited(t *testing.T) {
	email, _, _ := verifiedUser(t, "parallel")
	var wg sync.WaitGroup
	var checked, limited atomic.Int64
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := svc.Login(t.Context(), email, fmt.Sprint("guess number ", i), client)
			switch emporium.ErrorCode(err) {
			case emporium.EUNAUTHENTICATED:
				checked.Add(1)
			case emporium.ERATELIMITED:
				limited.Add(1)
			default:
				t.Errorf("guess %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	// verifiedUser's own successful login reset the account+IP window.
	assert.LessOrEqual(t, checked.Load(), int64(10), "passwords checked")
	assert.Equal(t, int64(40), checked.Load()+limited.Load())
}
