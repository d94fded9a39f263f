package user

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// TestDecideSignup checks decide on Register, IssueVerification and VerifyEmail.
func TestDecideSignup(t *testing.T) {
	runDecide(t, []decideCase{
		// Register.
		{name: "register", cmd: registerCmd(), want: []proto.Message{&pb.Registered{
			CommandId: "reg", Username: "Alice_1", UsernameKey: "alice_l", Email: "Alice@Example.com",
			EmailKey: "alice@example.com", PasswordHash: pw1, VerifyTokenHash: tok(1),
			VerifyExpiresAt: ts(t0.Add(24 * time.Hour)), At: at0,
		}}, check: func(t *testing.T, s *pb.State) {
			assert.Equal(t, []string{RoleCustomer}, s.Roles)
			assert.False(t, s.EmailVerified)
			assert.Equal(t, at0.AsTime(), s.CreatedAt.AsTime())
			assert.Equal(t, at0.AsTime(), s.PasswordChangedAt.AsTime())
		}},
		{name: "register retried", given: unverified, cmd: registerCmd()},
		{name: "register again", given: unverified, cmd: func() proto.Message {
			c := registerCmd()
			c.CommandId = "other"
			return c
		}(), errCode: emporium.ECONFLICT},
		{name: "register without command id", cmd: &pb.RegisterRequest{Username: "bob", Email: "b@x.io", PasswordHash: pw1,
			VerifyTokenHash: tok(1), VerifyExpiresAt: ts(t0.Add(time.Hour))},
			errCode: emporium.EINVALID, field: "command_id", fieldCode: emporium.FieldRequired},
		{name: "register bad username", cmd: &pb.RegisterRequest{CommandId: "r", Username: "bob smith", Email: "b@x.io",
			PasswordHash: pw1, VerifyTokenHash: tok(1), VerifyExpiresAt: ts(t0.Add(time.Hour))},
			errCode: emporium.EINVALID, field: "username", fieldCode: emporium.FieldInvalid},
		{name: "register short username", cmd: &pb.RegisterRequest{CommandId: "r", Username: "bo", Email: "b@x.io",
			PasswordHash: pw1, VerifyTokenHash: tok(1), VerifyExpiresAt: ts(t0.Add(time.Hour))},
			errCode: emporium.EINVALID, field: "username", fieldCode: emporium.FieldTooShort},
		{name: "register bad email", cmd: &pb.RegisterRequest{CommandId: "r", Username: "bob", Email: "Bob <b@x.io>",
			PasswordHash: pw1, VerifyTokenHash: tok(1), VerifyExpiresAt: ts(t0.Add(time.Hour))},
			errCode: emporium.EINVALID, field: "email", fieldCode: emporium.FieldInvalid},
		{name: "register plain password", cmd: &pb.RegisterRequest{CommandId: "r", Username: "bob", Email: "b@x.io",
			PasswordHash: "hunter2hunter2", VerifyTokenHash: tok(1), VerifyExpiresAt: ts(t0.Add(time.Hour))},
			errCode: emporium.EINVALID, field: "password_hash", fieldCode: emporium.FieldInvalid},
		{name: "register expired token", cmd: &pb.RegisterRequest{CommandId: "r", Username: "bob", Email: "b@x.io",
			PasswordHash: pw1, VerifyTokenHash: tok(1), VerifyExpiresAt: ts(t0)},
			errCode: emporium.EINVALID, field: "verify_expires_at", fieldCode: emporium.FieldOutOfRange},
		{name: "register token living too long", cmd: &pb.RegisterRequest{CommandId: "r", Username: "bob", Email: "b@x.io",
			PasswordHash: pw1, VerifyTokenHash: tok(1), VerifyExpiresAt: ts(t0.Add(25 * time.Hour))},
			errCode: emporium.EINVALID, field: "verify_expires_at", fieldCode: emporium.FieldOutOfRange},
		{name: "register without token", cmd: &pb.RegisterRequest{CommandId: "r", Username: "bob", Email: "b@x.io",
			PasswordHash: pw1, VerifyExpiresAt: ts(t0.Add(time.Hour))},
			errCode: emporium.EINVALID, field: "verify_token_hash", fieldCode: emporium.FieldRequired},

		// IssueVerification.
		{name: "issue verification", given: unverified,
			cmd:   &pb.IssueVerificationRequest{CommandId: "iv", TokenHash: tok(2), ExpiresAt: ts(t0.Add(24 * time.Hour))},
			want:  []proto.Message{&pb.VerificationIssued{CommandId: "iv", TokenHash: tok(2), ExpiresAt: ts(t0.Add(24 * time.Hour))}},
			check: func(t *testing.T, s *pb.State) { assert.Equal(t, tok(2), s.Verification.TokenHash) }},
		{name: "issue verification retried",
			given: with(unverified, &pb.VerificationIssued{CommandId: "iv", TokenHash: tok(2), ExpiresAt: ts(t0.Add(time.Hour))}),
			cmd:   &pb.IssueVerificationRequest{CommandId: "iv", TokenHash: tok(2), ExpiresAt: ts(t0.Add(time.Hour))}},
		{name: "issue verification on verified account", given: verified,
			cmd: &pb.IssueVerificationRequest{CommandId: "iv", TokenHash: tok(2), ExpiresAt: ts(t0.Add(time.Hour))}},
		{name: "issue verification in the past", given: unverified,
			cmd:     &pb.IssueVerificationRequest{CommandId: "iv", TokenHash: tok(2), ExpiresAt: ts(t0.Add(-time.Second))},
			errCode: emporium.EINVALID, field: "expires_at", fieldCode: emporium.FieldOutOfRange},
		{name: "issue verification without expiry", given: unverified,
			cmd:     &pb.IssueVerificationRequest{CommandId: "iv", TokenHash: tok(2)},
			errCode: emporium.EINVALID, field: "expires_at", fieldCode: emporium.FieldRequired},
		{name: "issue verification without hash", given: unverified,
			cmd:     &pb.IssueVerificationRequest{CommandId: "iv", ExpiresAt: ts(t0.Add(time.Hour))},
			errCode: emporium.EINVALID, field: "token_hash", fieldCode: emporium.FieldRequired},
		{name: "issue verification without command id", given: unverified,
			cmd:     &pb.IssueVerificationRequest{TokenHash: tok(2), ExpiresAt: ts(t0.Add(time.Hour))},
			errCode: emporium.EINVALID, field: "command_id"},

		// VerifyEmail.
		{name: "verify email", given: unverified, cmd: &pb.VerifyEmailRequest{CommandId: "ve", TokenHash: tok(1)},
			want: []proto.Message{&pb.EmailVerified{CommandId: "ve", At: at0}},
			check: func(t *testing.T, s *pb.State) {
				assert.True(t, s.EmailVerified)
				assert.Nil(t, s.Verification, "the token is single-use")
			}},
		{name: "verify email retried", given: with(unverified, &pb.EmailVerified{CommandId: "ve", At: at0}),
			cmd: &pb.VerifyEmailRequest{CommandId: "ve", TokenHash: tok(1)}},
		{name: "verify email with a used token", given: with(unverified, &pb.EmailVerified{CommandId: "ve", At: at0}),
			cmd:     &pb.VerifyEmailRequest{CommandId: "ve2", TokenHash: tok(1)},
			errCode: emporium.EINVALID, field: "token", fieldCode: emporium.FieldInvalidOrExpired},
		{name: "verify email with a wrong token", given: unverified, cmd: &pb.VerifyEmailRequest{CommandId: "ve", TokenHash: tok(9)},
			errCode: emporium.EINVALID, field: "token", fieldCode: emporium.FieldInvalidOrExpired},
		{name: "verify email with no token", given: unverified, cmd: &pb.VerifyEmailRequest{CommandId: "ve"},
			errCode: emporium.EINVALID, field: "token", fieldCode: emporium.FieldInvalidOrExpired},
		{name: "verify email with a replaced token",
			given:   with(unverified, &pb.VerificationIssued{CommandId: "iv", TokenHash: tok(2), ExpiresAt: ts(t0.Add(time.Hour))}),
			cmd:     &pb.VerifyEmailRequest{CommandId: "ve", TokenHash: tok(1)},
			errCode: emporium.EINVALID, field: "token", fieldCode: emporium.FieldInvalidOrExpired},
		{name: "verify email with an expired token",
			given:   with(unverified, &pb.VerificationIssued{CommandId: "iv", TokenHash: tok(2), ExpiresAt: at0}),
			cmd:     &pb.VerifyEmailRequest{CommandId: "ve", TokenHash: tok(2)},
			errCode: emporium.EINVALID, field: "token", fieldCode: emporium.FieldInvalidOrExpired},
		{name: "confirm email change", given: changing, cmd: &pb.VerifyEmailRequest{CommandId: "ve", TokenHash: tok(3)},
			want: []proto.Message{&pb.EmailChanged{CommandId: "ve", NewEmail: "Bob@Example.org", NewEmailKey: "bob@example.org", At: at0}},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, "Bob@Example.org", s.Email)
				assert.Equal(t, "bob@example.org", s.EmailKey)
				assert.True(t, s.EmailVerified)
				assert.Nil(t, s.EmailChange)
			}},
		{name: "email change keeps the old email until confirmed", given: changing, cmd: &pb.GetRequest{},
			check: func(t *testing.T, s *pb.State) {
				v := account(s, 0, t0)
				assert.Equal(t, "Alice@Example.com", v.Email)
				assert.Equal(t, "Bob@Example.org", v.PendingEmail)
				assert.True(t, v.EmailVerified)
			}},
		{name: "confirm email change retried",
			given: with(changing, &pb.EmailChanged{CommandId: "ve", NewEmail: "Bob@Example.org", NewEmailKey: "bob@example.org", At: at0}),
			cmd:   &pb.VerifyEmailRequest{CommandId: "ve", TokenHash: tok(3)}},
		{name: "email change token used twice",
			given:   with(changing, &pb.EmailChanged{CommandId: "ve", NewEmail: "Bob@Example.org", NewEmailKey: "bob@example.org", At: at0}),
			cmd:     &pb.VerifyEmailRequest{CommandId: "ve2", TokenHash: tok(3)},
			errCode: emporium.EINVALID, field: "token", fieldCode: emporium.FieldInvalidOrExpired},
	})
}

// TestTokenExpiryEdges: a token works until the instant before expires_at
// and not from expires_at on; issued expiries are bounded.
func TestTokenExpiryEdges(t *testing.T) {
	exp := t0.Add(time.Hour)
	base := []proto.Message{registeredEv(), &pb.VerificationIssued{CommandId: "iv", TokenHash: tok(2), ExpiresAt: ts(exp)}}
	verifiedBase := []proto.Message{registeredEv(), &pb.EmailVerified{CommandId: "v", At: ts(created)}}
	cases := []struct {
		name  string
		given []proto.Message
		cmd   proto.Message
	}{
		{"verification", base, &pb.VerifyEmailRequest{CommandId: "x", TokenHash: tok(2)}},
		{"email change", with(verifiedBase, &pb.EmailChangeRequested{CommandId: "ec", NewEmail: "b@x.io", NewEmailKey: "b@x.io",
			TokenHash: tok(3), ExpiresAt: ts(exp), At: ts(created)}), &pb.VerifyEmailRequest{CommandId: "x", TokenHash: tok(3)}},
		{"password reset", with(verifiedBase, &pb.PasswordResetIssued{CommandId: "pr", TokenHash: tok(4), ExpiresAt: ts(exp)}),
			&pb.ResetPasswordRequest{CommandId: "x", TokenHash: tok(4), PasswordHash: pw2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := given(c.given...)
			events, err := decideAsShell(s, c.cmd, exp.Add(-time.Nanosecond))
			require.NoError(t, err)
			assert.NotEmpty(t, events, "valid until the instant before expiry")
			for _, at := range []time.Time{exp, exp.Add(time.Nanosecond), exp.Add(time.Hour)} {
				_, err := decideAsShell(s, c.cmd, at)
				assert.True(t, hasField(err, "token", emporium.FieldInvalidOrExpired), "at %v: %v", at, err)
			}
		})
	}
	t.Run("pending email hidden once expired", func(t *testing.T) {
		s := given(cases[1].given...)
		assert.Equal(t, "b@x.io", account(s, 0, exp.Add(-time.Nanosecond)).PendingEmail)
		assert.Empty(t, account(s, 0, exp).PendingEmail)
	})
	t.Run("issue bounds", func(t *testing.T) {
		s := given(registeredEv())
		issue := func(ttl time.Duration) error {
			_, err := decideAsShell(s, &pb.IssueVerificationRequest{CommandId: "iv", TokenHash: tok(2), ExpiresAt: ts(t0.Add(ttl))}, t0)
			return err
		}
		reset := func(ttl time.Duration) error {
			_, err := decideAsShell(s, &pb.StartPasswordResetRequest{CommandId: "pr", TokenHash: tok(2), ExpiresAt: ts(t0.Add(ttl))}, t0)
			return err
		}
		assert.Error(t, issue(0))
		assert.NoError(t, issue(time.Nanosecond))
		assert.NoError(t, issue(MaxVerificationTTL))
		assert.NoError(t, issue(MaxVerificationTTL+clockSkew), "another node's clock may run ahead")
		assert.Error(t, issue(MaxVerificationTTL+clockSkew+time.Nanosecond))
		assert.NoError(t, reset(MaxResetTTL+clockSkew))
		assert.Error(t, reset(MaxResetTTL+clockSkew+time.Nanosecond))
		_, err := decideAsShell(s, &pb.IssueVerificationRequest{CommandId: "iv", TokenHash: tok(2),
			ExpiresAt: &timestamppb.Timestamp{Seconds: 1, Nanos: -1}}, t0)
		assert.True(t, hasField(err, "expires_at", emporium.FieldOutOfRange), "an invalid timestamp: %v", err)
	})
}
