package user

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

var (
	t0      = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	created = t0.Add(-time.Hour)
)

const (
	pw1    = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdDE$aGFzaDE"
	pw2    = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdDI$aGFzaDI"
	secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
)

// tok is a token hash as auth.HashToken makes them.
func tok(n int) string { return fmt.Sprintf("%064x", n) }

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func recoveryHashes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("r%063x", i)
	}
	return out
}

// given builds a state by applying events, the way a replay does.
func given(events ...proto.Message) *pb.State {
	s := newState("u1")
	for _, ev := range events {
		apply(s, ev)
	}
	return s
}

// with returns base followed by more, without sharing base's array.
func with(base []proto.Message, more ...proto.Message) []proto.Message {
	return append(slices.Clone(base), more...)
}

func registeredEv() *pb.Registered {
	return &pb.Registered{
		CommandId: "reg", Username: "Alice_1", UsernameKey: "alice_1",
		Email: "Alice@Example.com", EmailKey: "alice@example.com", PasswordHash: pw1,
		VerifyTokenHash: tok(1), VerifyExpiresAt: ts(created.Add(24 * time.Hour)), At: ts(created),
	}
}

func registerCmd() *pb.RegisterRequest {
	return &pb.RegisterRequest{
		CommandId: "reg", Username: "Alice_1", Email: "Alice@Example.com", PasswordHash: pw1,
		VerifyTokenHash: tok(1), VerifyExpiresAt: ts(t0.Add(24 * time.Hour)),
	}
}

func fields(name string) *pb.AddressFields {
	return &pb.AddressFields{FullName: name, Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "us"}
}

func addr(id, name string, ship, bill bool, at time.Time) *pb.Address {
	return &pb.Address{
		Id: id, FullName: name, Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US",
		IsDefaultShipping: ship, IsDefaultBilling: bill, CreatedAt: ts(at), UpdatedAt: ts(at),
	}
}

func added(cmd string, a *pb.Address) *pb.AddressAdded {
	return &pb.AddressAdded{CommandId: cmd, Address: a, At: a.CreatedAt}
}

type decideCase struct {
	name    string
	given   []proto.Message
	cmd     proto.Message
	want    []proto.Message
	errCode string
	// field and fieldCode, when set, must be among the error's fields.
	field, fieldCode string
	// check, when set, inspects the state after the events were applied.
	check func(t *testing.T, s *pb.State)
}

func TestDecide(t *testing.T) {
	unverified := []proto.Message{registeredEv()}
	verified := with(unverified, &pb.EmailVerified{CommandId: "v", At: ts(created)})
	resetting := with(verified, &pb.PasswordResetIssued{CommandId: "pr", TokenHash: tok(4), ExpiresAt: ts(t0.Add(30 * time.Minute))})
	changing := with(verified, &pb.EmailChangeRequested{
		CommandId: "ec", NewEmail: "Bob@Example.org", NewEmailKey: "bob@example.org", TokenHash: tok(3),
		ExpiresAt: ts(t0.Add(time.Hour)), At: ts(created),
	})
	enrolling := with(verified, &pb.TOTPEnrollmentStarted{CommandId: "tb", Secret: secret})
	mfa := with(enrolling, &pb.TOTPEnabled{CommandId: "tc", LastStep: 100, RecoveryCodeHashes: recoveryHashes(10), At: ts(created)})
	withAddrs := with(verified,
		added("a1", addr("a1", "Home", true, true, created)),
		added("a2", addr("a2", "Work", false, false, created)),
	)
	a1Removed := with(withAddrs, &pb.AddressRemoved{AddressId: "a1", DefaultShippingTo: "a2", DefaultBillingTo: "a2", At: ts(created)})
	full := slices.Clone(verified)
	for i := range MaxAddresses {
		id := fmt.Sprintf("f%d", i)
		full = append(full, added(id, addr(id, "Home", i == 0, i == 0, created)))
	}
	vendor := with(verified,
		&pb.StoreOpened{CommandId: "bv", StoreName: "Acme  Tools", StoreNameKey: "acmetools", Description: "Tools.", At: ts(created)},
		&pb.RoleGranted{Role: RoleVendor, At: ts(created)})
	lists := with(verified, wishlistCreated("w1", "Birthday"), wishlistCreated("w2", "Kitchen"),
		&pb.WishlistItemAdded{CommandId: "i1", WishlistId: "w1", ProductId: "p1", At: ts(created)},
		&pb.WishlistItemAdded{CommandId: "i2", WishlistId: "w1", ProductId: "p2", Sku: "P2-RED", At: ts(created)})
	fullLists := slices.Clone(verified)
	for i := range emporium.MaxWishlists {
		fullLists = append(fullLists, wishlistCreated(fmt.Sprintf("f%d", i), fmt.Sprintf("List %d", i)))
	}
	fullItems := with(verified, wishlistCreated("w1", "Everything"))
	for i := range emporium.MaxWishlistItems {
		fullItems = append(fullItems, &pb.WishlistItemAdded{CommandId: fmt.Sprintf("i%d", i), WishlistId: "w1",
			ProductId: fmt.Sprintf("p%d", i), At: ts(created)})
	}
	at := ts(t0)

	tests := []decideCase{
		// Register.
		{name: "register", cmd: registerCmd(), want: []proto.Message{&pb.Registered{
			CommandId: "reg", Username: "Alice_1", UsernameKey: "alice_1", Email: "Alice@Example.com",
			EmailKey: "alice@example.com", PasswordHash: pw1, VerifyTokenHash: tok(1),
			VerifyExpiresAt: ts(t0.Add(24 * time.Hour)), At: at,
		}}, check: func(t *testing.T, s *pb.State) {
			assert.Equal(t, []string{RoleCustomer}, s.Roles)
			assert.False(t, s.EmailVerified)
			assert.Equal(t, at.AsTime(), s.CreatedAt.AsTime())
			assert.Equal(t, at.AsTime(), s.PasswordChangedAt.AsTime())
		}},
		{name: "register retried", given: unverified, cmd: registerCmd()},
		{name: "register again", given: unverified, cmd: func() proto.Message {
			c := registerCmd()
			c.CommandId = "other"
			return c
		}(), errCode: emporium.ECONFLICT},
		{name: "register without command id", cmd: &pb.RegisterRequest{Username: "bob", Email: "b@x.io", PasswordHash: pw1,
			VerifyTokenHash: tok(1), VerifyExpiresAt: ts(t0.Add(time.Hour))},
			errCode: emporium.EINVALID, field: "command_id", fieldCode: CodeRequired},
		{name: "register bad username", cmd: &pb.RegisterRequest{CommandId: "r", Username: "bob smith", Email: "b@x.io",
			PasswordHash: pw1, VerifyTokenHash: tok(1), VerifyExpiresAt: ts(t0.Add(time.Hour))},
			errCode: emporium.EINVALID, field: "username", fieldCode: CodeInvalid},
		{name: "register short username", cmd: &pb.RegisterRequest{CommandId: "r", Username: "bo", Email: "b@x.io",
			PasswordHash: pw1, VerifyTokenHash: tok(1), VerifyExpiresAt: ts(t0.Add(time.Hour))},
			errCode: emporium.EINVALID, field: "username", fieldCode: CodeTooShort},
		{name: "register bad email", cmd: &pb.RegisterRequest{CommandId: "r", Username: "bob", Email: "Bob <b@x.io>",
			PasswordHash: pw1, VerifyTokenHash: tok(1), VerifyExpiresAt: ts(t0.Add(time.Hour))},
			errCode: emporium.EINVALID, field: "email", fieldCode: CodeInvalid},
		{name: "register plain password", cmd: &pb.RegisterRequest{CommandId: "r", Username: "bob", Email: "b@x.io",
			PasswordHash: "hunter2hunter2", VerifyTokenHash: tok(1), VerifyExpiresAt: ts(t0.Add(time.Hour))},
			errCode: emporium.EINVALID, field: "password_hash", fieldCode: CodeInvalid},
		{name: "register expired token", cmd: &pb.RegisterRequest{CommandId: "r", Username: "bob", Email: "b@x.io",
			PasswordHash: pw1, VerifyTokenHash: tok(1), VerifyExpiresAt: ts(t0)},
			errCode: emporium.EINVALID, field: "verify_expires_at", fieldCode: CodeOutOfRange},
		{name: "register token living too long", cmd: &pb.RegisterRequest{CommandId: "r", Username: "bob", Email: "b@x.io",
			PasswordHash: pw1, VerifyTokenHash: tok(1), VerifyExpiresAt: ts(t0.Add(25 * time.Hour))},
			errCode: emporium.EINVALID, field: "verify_expires_at", fieldCode: CodeOutOfRange},
		{name: "register without token", cmd: &pb.RegisterRequest{CommandId: "r", Username: "bob", Email: "b@x.io",
			PasswordHash: pw1, VerifyExpiresAt: ts(t0.Add(time.Hour))},
			errCode: emporium.EINVALID, field: "verify_token_hash", fieldCode: CodeRequired},

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
			errCode: emporium.EINVALID, field: "expires_at", fieldCode: CodeOutOfRange},
		{name: "issue verification without expiry", given: unverified,
			cmd:     &pb.IssueVerificationRequest{CommandId: "iv", TokenHash: tok(2)},
			errCode: emporium.EINVALID, field: "expires_at", fieldCode: CodeRequired},
		{name: "issue verification without hash", given: unverified,
			cmd:     &pb.IssueVerificationRequest{CommandId: "iv", ExpiresAt: ts(t0.Add(time.Hour))},
			errCode: emporium.EINVALID, field: "token_hash", fieldCode: CodeRequired},
		{name: "issue verification without command id", given: unverified,
			cmd:     &pb.IssueVerificationRequest{TokenHash: tok(2), ExpiresAt: ts(t0.Add(time.Hour))},
			errCode: emporium.EINVALID, field: "command_id"},

		// VerifyEmail.
		{name: "verify email", given: unverified, cmd: &pb.VerifyEmailRequest{CommandId: "ve", TokenHash: tok(1)},
			want: []proto.Message{&pb.EmailVerified{CommandId: "ve", At: at}},
			check: func(t *testing.T, s *pb.State) {
				assert.True(t, s.EmailVerified)
				assert.Nil(t, s.Verification, "the token is single-use")
			}},
		{name: "verify email retried", given: with(unverified, &pb.EmailVerified{CommandId: "ve", At: at}),
			cmd: &pb.VerifyEmailRequest{CommandId: "ve", TokenHash: tok(1)}},
		{name: "verify email with a used token", given: with(unverified, &pb.EmailVerified{CommandId: "ve", At: at}),
			cmd:     &pb.VerifyEmailRequest{CommandId: "ve2", TokenHash: tok(1)},
			errCode: emporium.EINVALID, field: "token", fieldCode: CodeInvalidOrExpired},
		{name: "verify email with a wrong token", given: unverified, cmd: &pb.VerifyEmailRequest{CommandId: "ve", TokenHash: tok(9)},
			errCode: emporium.EINVALID, field: "token", fieldCode: CodeInvalidOrExpired},
		{name: "verify email with no token", given: unverified, cmd: &pb.VerifyEmailRequest{CommandId: "ve"},
			errCode: emporium.EINVALID, field: "token", fieldCode: CodeInvalidOrExpired},
		{name: "verify email with a replaced token",
			given:   with(unverified, &pb.VerificationIssued{CommandId: "iv", TokenHash: tok(2), ExpiresAt: ts(t0.Add(time.Hour))}),
			cmd:     &pb.VerifyEmailRequest{CommandId: "ve", TokenHash: tok(1)},
			errCode: emporium.EINVALID, field: "token", fieldCode: CodeInvalidOrExpired},
		{name: "verify email with an expired token",
			given:   with(unverified, &pb.VerificationIssued{CommandId: "iv", TokenHash: tok(2), ExpiresAt: at}),
			cmd:     &pb.VerifyEmailRequest{CommandId: "ve", TokenHash: tok(2)},
			errCode: emporium.EINVALID, field: "token", fieldCode: CodeInvalidOrExpired},
		{name: "confirm email change", given: changing, cmd: &pb.VerifyEmailRequest{CommandId: "ve", TokenHash: tok(3)},
			want: []proto.Message{&pb.EmailChanged{CommandId: "ve", NewEmail: "Bob@Example.org", NewEmailKey: "bob@example.org", At: at}},
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
			given: with(changing, &pb.EmailChanged{CommandId: "ve", NewEmail: "Bob@Example.org", NewEmailKey: "bob@example.org", At: at}),
			cmd:   &pb.VerifyEmailRequest{CommandId: "ve", TokenHash: tok(3)}},
		{name: "email change token used twice",
			given:   with(changing, &pb.EmailChanged{CommandId: "ve", NewEmail: "Bob@Example.org", NewEmailKey: "bob@example.org", At: at}),
			cmd:     &pb.VerifyEmailRequest{CommandId: "ve2", TokenHash: tok(3)},
			errCode: emporium.EINVALID, field: "token", fieldCode: CodeInvalidOrExpired},

		// StartPasswordReset.
		{name: "start password reset", given: verified,
			cmd:  &pb.StartPasswordResetRequest{CommandId: "pr", TokenHash: tok(4), ExpiresAt: ts(t0.Add(time.Hour))},
			want: []proto.Message{&pb.PasswordResetIssued{CommandId: "pr", TokenHash: tok(4), ExpiresAt: ts(t0.Add(time.Hour))}}},
		{name: "start password reset on unverified account", given: unverified,
			cmd:  &pb.StartPasswordResetRequest{CommandId: "pr", TokenHash: tok(4), ExpiresAt: ts(t0.Add(time.Hour))},
			want: []proto.Message{&pb.PasswordResetIssued{CommandId: "pr", TokenHash: tok(4), ExpiresAt: ts(t0.Add(time.Hour))}}},
		{name: "start password reset retried", given: resetting,
			cmd: &pb.StartPasswordResetRequest{CommandId: "pr", TokenHash: tok(4), ExpiresAt: ts(t0.Add(30 * time.Minute))}},
		{name: "start password reset living too long", given: verified,
			cmd:     &pb.StartPasswordResetRequest{CommandId: "pr", TokenHash: tok(4), ExpiresAt: ts(t0.Add(2 * time.Hour))},
			errCode: emporium.EINVALID, field: "expires_at", fieldCode: CodeOutOfRange},

		// ResetPassword.
		{name: "reset password", given: with(changing, resetting[len(resetting)-1]),
			cmd:  &pb.ResetPasswordRequest{CommandId: "rp", TokenHash: tok(4), PasswordHash: pw2},
			want: []proto.Message{&pb.PasswordChanged{CommandId: "rp", PasswordHash: pw2, ByReset: true, At: at}},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, pw2, s.PasswordHash)
				assert.Nil(t, s.PasswordReset, "the token is single-use")
				assert.Nil(t, s.EmailChange, "a reset cancels a pending email change")
				assert.Equal(t, at.AsTime(), s.PasswordChangedAt.AsTime())
			}},
		{name: "reset password verifies the email",
			given: with(unverified, &pb.PasswordResetIssued{CommandId: "pr", TokenHash: tok(4), ExpiresAt: ts(t0.Add(time.Hour))}),
			cmd:   &pb.ResetPasswordRequest{CommandId: "rp", TokenHash: tok(4), PasswordHash: pw2},
			want: []proto.Message{
				&pb.PasswordChanged{CommandId: "rp", PasswordHash: pw2, ByReset: true, At: at},
				&pb.EmailVerified{At: at},
			},
			check: func(t *testing.T, s *pb.State) {
				assert.True(t, s.EmailVerified)
				assert.Nil(t, s.Verification)
			}},
		{name: "reset password retried",
			given: with(resetting, &pb.PasswordChanged{CommandId: "rp", PasswordHash: pw2, ByReset: true, At: at}),
			cmd:   &pb.ResetPasswordRequest{CommandId: "rp", TokenHash: tok(4), PasswordHash: pw2}},
		{name: "reset password with a used token",
			given:   with(resetting, &pb.PasswordChanged{CommandId: "rp", PasswordHash: pw2, ByReset: true, At: at}),
			cmd:     &pb.ResetPasswordRequest{CommandId: "rp2", TokenHash: tok(4), PasswordHash: pw1},
			errCode: emporium.EINVALID, field: "token", fieldCode: CodeInvalidOrExpired},
		{name: "reset password with a wrong token", given: resetting,
			cmd:     &pb.ResetPasswordRequest{CommandId: "rp", TokenHash: tok(5), PasswordHash: pw2},
			errCode: emporium.EINVALID, field: "token", fieldCode: CodeInvalidOrExpired},
		{name: "reset password without a reset", given: verified,
			cmd:     &pb.ResetPasswordRequest{CommandId: "rp", TokenHash: tok(4), PasswordHash: pw2},
			errCode: emporium.EINVALID, field: "token", fieldCode: CodeInvalidOrExpired},
		{name: "reset password after a password change",
			given:   with(resetting, &pb.PasswordChanged{CommandId: "cp", PasswordHash: pw2, At: at}),
			cmd:     &pb.ResetPasswordRequest{CommandId: "rp", TokenHash: tok(4), PasswordHash: pw1},
			errCode: emporium.EINVALID, field: "token", fieldCode: CodeInvalidOrExpired},
		{name: "reset password with a plain password", given: resetting,
			cmd:     &pb.ResetPasswordRequest{CommandId: "rp", TokenHash: tok(4), PasswordHash: "correct horse"},
			errCode: emporium.EINVALID, field: "password_hash", fieldCode: CodeInvalid},

		// ChangePassword.
		{name: "change password", given: verified,
			cmd:  &pb.ChangePasswordRequest{CommandId: "cp", CurrentPasswordOk: true, PasswordHash: pw2},
			want: []proto.Message{&pb.PasswordChanged{CommandId: "cp", PasswordHash: pw2, At: at}}},
		{name: "change password with a wrong current password", given: verified,
			cmd:     &pb.ChangePasswordRequest{CommandId: "cp", PasswordHash: pw2},
			errCode: emporium.EUNAUTHENTICATED, field: "current_password", fieldCode: CodeInvalid},
		{name: "change password retried", given: with(verified, &pb.PasswordChanged{CommandId: "cp", PasswordHash: pw2, At: at}),
			cmd: &pb.ChangePasswordRequest{CommandId: "cp", CurrentPasswordOk: true, PasswordHash: pw2}},
		{name: "change password to a plain password", given: verified,
			cmd:     &pb.ChangePasswordRequest{CommandId: "cp", CurrentPasswordOk: true, PasswordHash: ""},
			errCode: emporium.EINVALID, field: "password_hash"},

		// UpdateProfile.
		{name: "update profile", given: verified,
			cmd: &pb.UpdateProfileRequest{CommandId: "up", Name: wrapperspb.String("  Alice Liddell "), Phone: wrapperspb.String("+1 415-555.0123")},
			want: []proto.Message{&pb.ProfileUpdated{CommandId: "up", Name: wrapperspb.String("Alice Liddell"),
				Phone: wrapperspb.String("+14155550123"), At: at}},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, "Alice Liddell", s.Name)
				assert.Equal(t, "+14155550123", s.Phone)
				assert.Equal(t, at.AsTime(), s.UpdatedAt.AsTime())
			}},
		{name: "update profile name only",
			given: with(verified, &pb.ProfileUpdated{CommandId: "up", Phone: wrapperspb.String("+14155550123"), At: ts(created)}),
			cmd:   &pb.UpdateProfileRequest{CommandId: "up2", Name: wrapperspb.String("Ally")},
			want:  []proto.Message{&pb.ProfileUpdated{CommandId: "up2", Name: wrapperspb.String("Ally"), At: at}},
			check: func(t *testing.T, s *pb.State) { assert.Equal(t, "+14155550123", s.Phone, "absent phone kept") }},
		{name: "update profile clears phone",
			given: with(verified, &pb.ProfileUpdated{CommandId: "up", Phone: wrapperspb.String("+14155550123"), At: ts(created)}),
			cmd:   &pb.UpdateProfileRequest{CommandId: "up2", Phone: wrapperspb.String("")},
			want:  []proto.Message{&pb.ProfileUpdated{CommandId: "up2", Phone: wrapperspb.String(""), At: at}}},
		{name: "update profile unchanged",
			given: with(verified, &pb.ProfileUpdated{CommandId: "up", Name: wrapperspb.String("Ally"), At: ts(created)}),
			cmd:   &pb.UpdateProfileRequest{CommandId: "up2", Name: wrapperspb.String("Ally")}},
		{name: "update profile with nothing", given: verified, cmd: &pb.UpdateProfileRequest{CommandId: "up"}},
		{name: "update profile retried",
			given: with(verified, &pb.ProfileUpdated{CommandId: "up", Name: wrapperspb.String("Ally"), At: ts(created)}),
			cmd:   &pb.UpdateProfileRequest{CommandId: "up", Name: wrapperspb.String("Ally")}},
		{name: "update profile name too long", given: verified,
			cmd:     &pb.UpdateProfileRequest{CommandId: "up", Name: wrapperspb.String(strings.Repeat("é", MaxNameLength+1))},
			errCode: emporium.EINVALID, field: "name", fieldCode: CodeTooLong},
		{name: "update profile name of 100 characters", given: verified,
			cmd:  &pb.UpdateProfileRequest{CommandId: "up", Name: wrapperspb.String(strings.Repeat("é", MaxNameLength))},
			want: []proto.Message{&pb.ProfileUpdated{CommandId: "up", Name: wrapperspb.String(strings.Repeat("é", MaxNameLength)), At: at}}},
		{name: "update profile name with a newline", given: verified,
			cmd:     &pb.UpdateProfileRequest{CommandId: "up", Name: wrapperspb.String("Al\nice")},
			errCode: emporium.EINVALID, field: "name", fieldCode: CodeInvalid},
		{name: "update profile bad phone", given: verified,
			cmd:     &pb.UpdateProfileRequest{CommandId: "up", Name: wrapperspb.String("Ally"), Phone: wrapperspb.String("555-0123")},
			errCode: emporium.EINVALID, field: "phone", fieldCode: CodeInvalid},

		// RequestEmailChange.
		{name: "request email change", given: verified,
			cmd: &pb.RequestEmailChangeRequest{CommandId: "ec", NewEmail: "Bob@Example.org", TokenHash: tok(3), ExpiresAt: ts(t0.Add(time.Hour))},
			want: []proto.Message{&pb.EmailChangeRequested{CommandId: "ec", NewEmail: "Bob@Example.org", NewEmailKey: "bob@example.org",
				TokenHash: tok(3), ExpiresAt: ts(t0.Add(time.Hour)), At: at}}},
		{name: "request email change to the same address", given: verified,
			cmd:     &pb.RequestEmailChangeRequest{CommandId: "ec", NewEmail: "alice@EXAMPLE.com", TokenHash: tok(3), ExpiresAt: ts(t0.Add(time.Hour))},
			errCode: emporium.EINVALID, field: "new_email", fieldCode: CodeUnchanged},
		{name: "request email change to a bad address", given: verified,
			cmd:     &pb.RequestEmailChangeRequest{CommandId: "ec", NewEmail: "bob@localhost", TokenHash: tok(3), ExpiresAt: ts(t0.Add(time.Hour))},
			errCode: emporium.EINVALID, field: "new_email", fieldCode: CodeInvalid},
		{name: "request email change retried", given: changing,
			cmd: &pb.RequestEmailChangeRequest{CommandId: "ec", NewEmail: "Bob@Example.org", TokenHash: tok(3), ExpiresAt: ts(t0.Add(time.Hour))}},
		{name: "request email change replaces the pending one", given: changing,
			cmd: &pb.RequestEmailChangeRequest{CommandId: "ec2", NewEmail: "carol@example.org", TokenHash: tok(6), ExpiresAt: ts(t0.Add(time.Hour))},
			want: []proto.Message{&pb.EmailChangeRequested{CommandId: "ec2", NewEmail: "carol@example.org", NewEmailKey: "carol@example.org",
				TokenHash: tok(6), ExpiresAt: ts(t0.Add(time.Hour)), At: at}},
			check: func(t *testing.T, s *pb.State) {
				_, err := decide(s, &pb.VerifyEmailRequest{CommandId: "x", TokenHash: tok(3)}, t0)
				assert.True(t, emporium.IsCode(err, emporium.EINVALID), "the replaced token no longer works")
			}},
		{name: "request email change without expiry", given: verified,
			cmd:     &pb.RequestEmailChangeRequest{CommandId: "ec", NewEmail: "bob@example.org", TokenHash: tok(3)},
			errCode: emporium.EINVALID, field: "expires_at", fieldCode: CodeRequired},

		// BeginTOTP.
		{name: "begin totp", given: verified, cmd: &pb.BeginTOTPRequest{CommandId: "tb", Secret: secret},
			want: []proto.Message{&pb.TOTPEnrollmentStarted{CommandId: "tb", Secret: secret}},
			check: func(t *testing.T, s *pb.State) {
				assert.False(t, s.MfaEnabled, "not enabled before a code confirms it")
				assert.Equal(t, secret, s.PendingTotpSecret)
			}},
		{name: "begin totp again replaces the secret", given: enrolling, cmd: &pb.BeginTOTPRequest{CommandId: "tb2", Secret: "ABCDEFGHIJKLMNOP"},
			want: []proto.Message{&pb.TOTPEnrollmentStarted{CommandId: "tb2", Secret: "ABCDEFGHIJKLMNOP"}}},
		{name: "begin totp retried", given: enrolling, cmd: &pb.BeginTOTPRequest{CommandId: "tb", Secret: secret}},
		{name: "begin totp while enabled", given: mfa, cmd: &pb.BeginTOTPRequest{CommandId: "tb2", Secret: secret},
			errCode: emporium.ECONFLICT},
		{name: "begin totp bad secret", given: verified, cmd: &pb.BeginTOTPRequest{CommandId: "tb", Secret: "not-base32!"},
			errCode: emporium.EINVALID, field: "secret", fieldCode: CodeInvalid},

		// ConfirmTOTP.
		{name: "confirm totp", given: enrolling,
			cmd:  &pb.ConfirmTOTPRequest{CommandId: "tc", CodeStep: 100, CodeOk: true, RecoveryCodeHashes: recoveryHashes(10)},
			want: []proto.Message{&pb.TOTPEnabled{CommandId: "tc", LastStep: 100, RecoveryCodeHashes: recoveryHashes(10), At: at}},
			check: func(t *testing.T, s *pb.State) {
				assert.True(t, s.MfaEnabled)
				assert.Equal(t, secret, s.TotpSecret)
				assert.Empty(t, s.PendingTotpSecret)
				assert.Equal(t, int64(100), s.LastStep)
			}},
		{name: "confirm totp retried", given: mfa,
			cmd: &pb.ConfirmTOTPRequest{CommandId: "tc", CodeStep: 100, CodeOk: true, RecoveryCodeHashes: recoveryHashes(10)}},
		{name: "confirm totp without enrolment", given: verified,
			cmd:     &pb.ConfirmTOTPRequest{CommandId: "tc", CodeStep: 100, CodeOk: true, RecoveryCodeHashes: recoveryHashes(10)},
			errCode: emporium.ECONFLICT},
		{name: "confirm totp when enabled", given: mfa,
			cmd:     &pb.ConfirmTOTPRequest{CommandId: "tc2", CodeStep: 101, CodeOk: true, RecoveryCodeHashes: recoveryHashes(10)},
			errCode: emporium.ECONFLICT},
		{name: "confirm totp wrong code", given: enrolling,
			cmd:     &pb.ConfirmTOTPRequest{CommandId: "tc", CodeStep: 100, RecoveryCodeHashes: recoveryHashes(10)},
			errCode: emporium.EUNAUTHENTICATED, field: "code", fieldCode: CodeInvalid},
		{name: "confirm totp without recovery codes", given: enrolling,
			cmd:     &pb.ConfirmTOTPRequest{CommandId: "tc", CodeStep: 100, CodeOk: true},
			errCode: emporium.EINVALID, field: "recovery_code_hashes", fieldCode: CodeInvalid},
		{name: "confirm totp with repeated recovery codes", given: enrolling,
			cmd:     &pb.ConfirmTOTPRequest{CommandId: "tc", CodeStep: 100, CodeOk: true, RecoveryCodeHashes: []string{tok(1), tok(1)}},
			errCode: emporium.EINVALID, field: "recovery_code_hashes", fieldCode: CodeInvalid},

		// UseTOTP.
		{name: "use totp", given: mfa, cmd: &pb.UseTOTPRequest{CommandId: "l1", Step: 101},
			want:  []proto.Message{&pb.TOTPUsed{CommandId: "l1", Step: 101}},
			check: func(t *testing.T, s *pb.State) { assert.Equal(t, int64(101), s.LastStep) }},
		{name: "use totp replayed", given: mfa, cmd: &pb.UseTOTPRequest{CommandId: "l1", Step: 100},
			errCode: emporium.EUNAUTHENTICATED, field: "code", fieldCode: CodeInvalid},
		{name: "use totp older step", given: mfa, cmd: &pb.UseTOTPRequest{CommandId: "l1", Step: 99},
			errCode: emporium.EUNAUTHENTICATED, field: "code"},
		{name: "use totp retried", given: with(mfa, &pb.TOTPUsed{CommandId: "l1", Step: 101}),
			cmd: &pb.UseTOTPRequest{CommandId: "l1", Step: 101}},
		{name: "use totp without mfa", given: verified, cmd: &pb.UseTOTPRequest{CommandId: "l1", Step: 101},
			errCode: emporium.EUNAUTHENTICATED, field: "code"},
		{name: "use totp without command id", given: mfa, cmd: &pb.UseTOTPRequest{Step: 101},
			errCode: emporium.EINVALID, field: "command_id"},

		// UseRecoveryCode.
		{name: "use recovery code", given: mfa, cmd: &pb.UseRecoveryCodeRequest{CommandId: "l1", Index: 2},
			want: []proto.Message{&pb.RecoveryCodeUsed{CommandId: "l1", Index: 2}},
			check: func(t *testing.T, s *pb.State) {
				assert.Empty(t, s.RecoveryCodeHashes[2])
				assert.Len(t, s.RecoveryCodeHashes, 10, "indexes do not shift")
				assert.Equal(t, int32(9), account(s, 0, t0).RecoveryCodesLeft)
			}},
		{name: "use recovery code twice", given: with(mfa, &pb.RecoveryCodeUsed{CommandId: "l1", Index: 2}),
			cmd: &pb.UseRecoveryCodeRequest{CommandId: "l2", Index: 2}, errCode: emporium.EUNAUTHENTICATED, field: "code"},
		{name: "use recovery code retried", given: with(mfa, &pb.RecoveryCodeUsed{CommandId: "l1", Index: 2}),
			cmd: &pb.UseRecoveryCodeRequest{CommandId: "l1", Index: 2}},
		{name: "use recovery code out of range", given: mfa, cmd: &pb.UseRecoveryCodeRequest{CommandId: "l1", Index: 10},
			errCode: emporium.EUNAUTHENTICATED, field: "code"},
		{name: "use recovery code negative", given: mfa, cmd: &pb.UseRecoveryCodeRequest{CommandId: "l1", Index: -1},
			errCode: emporium.EUNAUTHENTICATED, field: "code"},
		{name: "use recovery code without mfa", given: verified, cmd: &pb.UseRecoveryCodeRequest{CommandId: "l1"},
			errCode: emporium.EUNAUTHENTICATED, field: "code"},

		// DisableTOTP.
		{name: "disable totp", given: mfa,
			cmd:  &pb.DisableTOTPRequest{CommandId: "td", PasswordOk: true, CodeStep: 101, CodeOk: true},
			want: []proto.Message{&pb.TOTPDisabled{CommandId: "td", At: at}},
			check: func(t *testing.T, s *pb.State) {
				assert.False(t, s.MfaEnabled)
				assert.Empty(t, s.TotpSecret)
				assert.Empty(t, s.RecoveryCodeHashes)
				assert.Zero(t, s.LastStep)
			}},
		{name: "disable totp wrong password", given: mfa,
			cmd:     &pb.DisableTOTPRequest{CommandId: "td", CodeStep: 101, CodeOk: true},
			errCode: emporium.EUNAUTHENTICATED, field: "password", fieldCode: CodeInvalid},
		{name: "disable totp wrong code", given: mfa,
			cmd:     &pb.DisableTOTPRequest{CommandId: "td", PasswordOk: true, CodeStep: 101},
			errCode: emporium.EUNAUTHENTICATED, field: "code", fieldCode: CodeInvalid},
		{name: "disable totp replayed code", given: mfa,
			cmd:     &pb.DisableTOTPRequest{CommandId: "td", PasswordOk: true, CodeStep: 100, CodeOk: true},
			errCode: emporium.EUNAUTHENTICATED, field: "code", fieldCode: CodeInvalid},
		{name: "disable totp when off", given: verified,
			cmd:     &pb.DisableTOTPRequest{CommandId: "td", PasswordOk: true, CodeStep: 101, CodeOk: true},
			errCode: emporium.ECONFLICT},
		{name: "disable totp retried", given: with(mfa, &pb.TOTPDisabled{CommandId: "td", At: at}),
			cmd: &pb.DisableTOTPRequest{CommandId: "td", PasswordOk: true, CodeStep: 101, CodeOk: true}},

		// AddAddress.
		{name: "add first address", given: verified, cmd: &pb.AddAddressRequest{CommandId: "a1", AddressId: "a1", Address: fields("Home")},
			want: []proto.Message{added("a1", addr("a1", "Home", true, true, t0))}},
		{name: "add first address refusing the defaults", given: verified,
			cmd: &pb.AddAddressRequest{CommandId: "a1", AddressId: "a1", Address: func() *pb.AddressFields {
				f := fields("Home")
				f.IsDefaultShipping, f.IsDefaultBilling = wrapperspb.Bool(false), wrapperspb.Bool(false)
				return f
			}()},
			want: []proto.Message{added("a1", addr("a1", "Home", true, true, t0))}},
		{name: "add second address", given: withAddrs[:len(withAddrs)-1],
			cmd:  &pb.AddAddressRequest{CommandId: "a2", AddressId: "a2", Address: fields("Work")},
			want: []proto.Message{added("a2", addr("a2", "Work", false, false, t0))}},
		{name: "add address as default shipping", given: withAddrs,
			cmd: &pb.AddAddressRequest{CommandId: "a3", AddressId: "a3", Address: func() *pb.AddressFields {
				f := fields("Cabin")
				f.IsDefaultShipping = wrapperspb.Bool(true)
				return f
			}()},
			want: []proto.Message{added("a3", addr("a3", "Cabin", true, false, t0))},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, []string{"a3"}, defaults(s, true))
				assert.Equal(t, []string{"a1"}, defaults(s, false))
			}},
		{name: "add address with every field", given: verified,
			cmd: &pb.AddAddressRequest{CommandId: "a1", AddressId: "a1", Address: &pb.AddressFields{
				FullName: " Jean Dupont ", Line1: "5 rue de la Paix", Line2: "Bât. B", City: "Paris", Region: "Île-de-France",
				PostalCode: "75002", Country: "fr", Phone: "+33 1 23 45 67 89",
			}},
			want: []proto.Message{added("a1", &pb.Address{
				Id: "a1", FullName: "Jean Dupont", Line1: "5 rue de la Paix", Line2: "Bât. B", City: "Paris", Region: "Île-de-France",
				PostalCode: "75002", Country: "FR", Phone: "+33123456789", IsDefaultShipping: true, IsDefaultBilling: true,
				CreatedAt: at, UpdatedAt: at,
			})}},
		{name: "add address retried", given: withAddrs, cmd: &pb.AddAddressRequest{CommandId: "a2", AddressId: "a2", Address: fields("Work")}},
		{name: "add address with a used id", given: withAddrs,
			cmd:     &pb.AddAddressRequest{CommandId: "a9", AddressId: "a2", Address: fields("Work")},
			errCode: emporium.ECONFLICT, field: "address_id", fieldCode: CodeTaken},
		{name: "add address with a removed id", given: a1Removed,
			cmd:     &pb.AddAddressRequest{CommandId: "a9", AddressId: "a1", Address: fields("Home")},
			errCode: emporium.ECONFLICT, field: "address_id", fieldCode: CodeTaken},
		{name: "add address with a bad id", given: verified,
			cmd:     &pb.AddAddressRequest{CommandId: "a9", AddressId: "a/1", Address: fields("Home")},
			errCode: emporium.EINVALID, field: "address_id", fieldCode: CodeInvalid},
		{name: "add 21st address", given: full,
			cmd:     &pb.AddAddressRequest{CommandId: "a9", AddressId: "a9", Address: fields("Home")},
			errCode: emporium.EINVALID, field: "addresses", fieldCode: CodeTooMany},
		{name: "add address without fields", given: verified, cmd: &pb.AddAddressRequest{CommandId: "a1", AddressId: "a1"},
			errCode: emporium.EINVALID, field: "address", fieldCode: CodeRequired},
		{name: "add address without full name", given: verified,
			cmd:     &pb.AddAddressRequest{CommandId: "a1", AddressId: "a1", Address: fields("   ")},
			errCode: emporium.EINVALID, field: "full_name", fieldCode: CodeRequired},
		{name: "add address in an unassigned country", given: verified,
			cmd: &pb.AddAddressRequest{CommandId: "a1", AddressId: "a1", Address: func() *pb.AddressFields {
				f := fields("Home")
				f.Country = "UK"
				return f
			}()},
			errCode: emporium.EINVALID, field: "country", fieldCode: CodeInvalid},
		{name: "add address with a bad postal code", given: verified,
			cmd: &pb.AddAddressRequest{CommandId: "a1", AddressId: "a1", Address: func() *pb.AddressFields {
				f := fields("Home")
				f.PostalCode = "1"
				return f
			}()},
			errCode: emporium.EINVALID, field: "postal_code", fieldCode: CodeInvalid},
		{name: "add address reports every bad field", given: verified,
			cmd: &pb.AddAddressRequest{CommandId: "a1", AddressId: "a1", Address: &pb.AddressFields{
				FullName: strings.Repeat("x", MaxNameLength+1), PostalCode: "12345#", Country: "XX", Phone: "+0123456789",
			}},
			errCode: emporium.EINVALID, field: "line1", fieldCode: CodeRequired},

		// UpdateAddress.
		{name: "update address", given: withAddrs,
			cmd: &pb.UpdateAddressRequest{AddressId: "a1", Address: func() *pb.AddressFields {
				f := fields("Home")
				f.Line1 = "2 Main St"
				return f
			}()},
			want: []proto.Message{&pb.AddressUpdated{Address: func() *pb.Address {
				a := addr("a1", "Home", true, true, created)
				a.Line1, a.UpdatedAt = "2 Main St", at
				return a
			}(), At: at}}},
		{name: "update address unchanged", given: withAddrs, cmd: &pb.UpdateAddressRequest{AddressId: "a1", Address: fields("Home")}},
		{name: "update address to default billing", given: withAddrs,
			cmd: &pb.UpdateAddressRequest{AddressId: "a2", Address: func() *pb.AddressFields {
				f := fields("Work")
				f.IsDefaultBilling = wrapperspb.Bool(true)
				return f
			}()},
			want: []proto.Message{&pb.AddressUpdated{Address: func() *pb.Address {
				a := addr("a2", "Work", false, true, created)
				a.UpdatedAt = at
				return a
			}(), At: at}},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, []string{"a1"}, defaults(s, true))
				assert.Equal(t, []string{"a2"}, defaults(s, false))
			}},
		{name: "update address clearing the default", given: withAddrs,
			cmd: &pb.UpdateAddressRequest{AddressId: "a1", Address: func() *pb.AddressFields {
				f := fields("Home")
				f.IsDefaultShipping = wrapperspb.Bool(false)
				return f
			}()},
			errCode: emporium.EINVALID, field: "is_default_shipping", fieldCode: CodeDefaultRequired},
		{name: "update address clearing what is not set", given: withAddrs,
			cmd: &pb.UpdateAddressRequest{AddressId: "a2", Address: func() *pb.AddressFields {
				f := fields("Work")
				f.IsDefaultShipping, f.IsDefaultBilling = wrapperspb.Bool(false), wrapperspb.Bool(false)
				return f
			}()}},
		{name: "update unknown address", given: withAddrs, cmd: &pb.UpdateAddressRequest{AddressId: "a9", Address: fields("Home")},
			errCode: emporium.ENOTFOUND},
		{name: "update removed address", given: a1Removed, cmd: &pb.UpdateAddressRequest{AddressId: "a1", Address: fields("Home")},
			errCode: emporium.ENOTFOUND},
		{name: "update address with bad fields", given: withAddrs,
			cmd:     &pb.UpdateAddressRequest{AddressId: "a1", Address: &pb.AddressFields{FullName: "Home"}},
			errCode: emporium.EINVALID, field: "city", fieldCode: CodeRequired},

		// RemoveAddress.
		{name: "remove address", given: withAddrs, cmd: &pb.RemoveAddressRequest{AddressId: "a2"},
			want: []proto.Message{&pb.AddressRemoved{AddressId: "a2", At: at}}},
		{name: "remove default address", given: withAddrs, cmd: &pb.RemoveAddressRequest{AddressId: "a1"},
			want: []proto.Message{&pb.AddressRemoved{AddressId: "a1", DefaultShippingTo: "a2", DefaultBillingTo: "a2", At: at}},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, []string{"a2"}, defaults(s, true))
				assert.Equal(t, []string{"a2"}, defaults(s, false))
			}},
		{name: "remove last address", given: a1Removed, cmd: &pb.RemoveAddressRequest{AddressId: "a2"},
			want:  []proto.Message{&pb.AddressRemoved{AddressId: "a2", At: at}},
			check: func(t *testing.T, s *pb.State) { assert.Empty(t, s.Addresses) }},
		{name: "remove address retried", given: a1Removed, cmd: &pb.RemoveAddressRequest{AddressId: "a1"}},
		{name: "remove unknown address", given: withAddrs, cmd: &pb.RemoveAddressRequest{AddressId: "a9"},
			errCode: emporium.ENOTFOUND},
		{name: "remove address without id", given: withAddrs, cmd: &pb.RemoveAddressRequest{},
			errCode: emporium.ENOTFOUND},

		// GrantRole.
		{name: "grant role", given: verified, cmd: &pb.GrantRoleRequest{CommandId: "g", Role: RoleVendor},
			want:  []proto.Message{&pb.RoleGranted{CommandId: "g", Role: RoleVendor, At: at}},
			check: func(t *testing.T, s *pb.State) { assert.Equal(t, []string{RoleCustomer, RoleVendor}, s.Roles) }},
		{name: "grant role held", given: verified, cmd: &pb.GrantRoleRequest{CommandId: "g", Role: RoleCustomer}},
		{name: "grant role retried", given: with(verified, &pb.RoleGranted{CommandId: "g", Role: RoleAdmin, At: at}),
			cmd: &pb.GrantRoleRequest{CommandId: "g", Role: RoleAdmin}},
		{name: "grant unknown role", given: verified, cmd: &pb.GrantRoleRequest{CommandId: "g", Role: "root"},
			errCode: emporium.EINVALID, field: "role", fieldCode: CodeInvalid},

		// BecomeVendor.
		{name: "become vendor", given: verified, cmd: becomeVendor("bv", "  Acme Tools ", " Hammers.\n\tAnd nails. "),
			want: []proto.Message{
				&pb.StoreOpened{CommandId: "bv", StoreName: "Acme Tools", StoreNameKey: "acmetools", Description: "Hammers.\n\tAnd nails.", At: at},
				&pb.RoleGranted{Role: RoleVendor, At: at},
			}, check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, []string{RoleCustomer, RoleVendor}, s.Roles)
				assert.Equal(t, "Acme Tools", s.Store.StoreName)
				assert.Equal(t, "acmetools", s.StoreNameKey)
				assert.Equal(t, t0, s.Store.JoinedAt.AsTime())
				assert.Equal(t, t0, s.Store.UpdatedAt.AsTime())
				assert.Equal(t, t0, s.UpdatedAt.AsTime())
				assert.True(t, seenCommand(s, "bv"))
				acc := account(s, 3, t0)
				assert.True(t, proto.Equal(s.Store, acc.Store), "the account shows the store")
			}},
		{name: "become vendor with no description", given: verified, cmd: becomeVendor("bv", "Acme", ""),
			want: []proto.Message{
				&pb.StoreOpened{CommandId: "bv", StoreName: "Acme", StoreNameKey: "acme", At: at},
				&pb.RoleGranted{Role: RoleVendor, At: at},
			}},
		{name: "become vendor holding the role", given: with(verified, &pb.RoleGranted{CommandId: "g", Role: RoleVendor, At: ts(created)}),
			cmd:  becomeVendor("bv", "Acme", "d"),
			want: []proto.Message{&pb.StoreOpened{CommandId: "bv", StoreName: "Acme", StoreNameKey: "acme", Description: "d", At: at}},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, []string{RoleCustomer, RoleVendor}, s.Roles, "the role is not granted twice")
			}},
		{name: "become vendor retried", given: vendor, cmd: becomeVendor("bv", "Other name", "other")},
		{name: "become vendor again, same values", given: vendor, cmd: becomeVendor("bv2", " Acme  Tools", "Tools.")},
		{name: "rename store", given: vendor, cmd: becomeVendor("bv2", "Acme Hardware", "Tools."),
			want: []proto.Message{&pb.StoreUpdated{CommandId: "bv2", StoreName: "Acme Hardware", StoreNameKey: "acmehardware", Description: "Tools.", At: at}},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, created, s.Store.JoinedAt.AsTime(), "joined_at is the first opening")
				assert.Equal(t, t0, s.Store.UpdatedAt.AsTime())
				assert.Equal(t, "acmehardware", s.StoreNameKey)
				assert.Equal(t, []string{RoleCustomer, RoleVendor}, s.Roles)
			}},
		{name: "restyle store name", given: vendor, cmd: becomeVendor("bv2", "ACME TOOLS", "Tools."),
			want: []proto.Message{&pb.StoreUpdated{CommandId: "bv2", StoreName: "ACME TOOLS", StoreNameKey: "acmetools", Description: "Tools.", At: at}}},
		{name: "describe store", given: vendor, cmd: becomeVendor("bv2", "Acme  Tools", ""),
			want:  []proto.Message{&pb.StoreUpdated{CommandId: "bv2", StoreName: "Acme  Tools", StoreNameKey: "acmetools", At: at}},
			check: func(t *testing.T, s *pb.State) { assert.Empty(t, s.Store.Description) }},
		{name: "store without the role", given: with(verified, &pb.StoreOpened{CommandId: "bv", StoreName: "Acme", StoreNameKey: "acme", At: ts(created)}),
			cmd:  becomeVendor("bv2", "Acme", ""),
			want: []proto.Message{&pb.RoleGranted{CommandId: "bv2", Role: RoleVendor, At: at}}},
		{name: "become vendor unverified", given: unverified, cmd: becomeVendor("bv", "Acme", ""), errCode: emporium.EUNVERIFIED},
		{name: "become vendor without command id", given: verified, cmd: becomeVendor("", "Acme", ""),
			errCode: emporium.EINVALID, field: "command_id", fieldCode: CodeRequired},
		{name: "store name missing", given: verified, cmd: becomeVendor("bv", "   ", ""),
			errCode: emporium.EINVALID, field: "store_name", fieldCode: CodeRequired},
		{name: "store name too short", given: verified, cmd: becomeVendor("bv", " A ", ""),
			errCode: emporium.EINVALID, field: "store_name", fieldCode: CodeTooShort},
		{name: "store name too long", given: verified, cmd: becomeVendor("bv", strings.Repeat("ü", MaxStoreName+1), ""),
			errCode: emporium.EINVALID, field: "store_name", fieldCode: CodeTooLong},
		{name: "store name on two lines", given: verified, cmd: becomeVendor("bv", "Acme\nTools", ""),
			errCode: emporium.EINVALID, field: "store_name", fieldCode: CodeInvalid},
		{name: "description too long", given: verified, cmd: becomeVendor("bv", "Acme", strings.Repeat("ü", MaxStoreDescription+1)),
			errCode: emporium.EINVALID, field: "description", fieldCode: CodeTooLong},
		{name: "description with a control character", given: verified, cmd: becomeVendor("bv", "Acme", "bell\a"),
			errCode: emporium.EINVALID, field: "description", fieldCode: CodeInvalid},
		{name: "bad rename keeps the store", given: vendor, cmd: becomeVendor("bv2", "x", ""),
			errCode: emporium.EINVALID, field: "store_name", fieldCode: CodeTooShort},

		// Wishlists.
		{name: "create wishlist", given: verified, cmd: createWishlist("c1", "w1", "  Birthday ideas "),
			want: []proto.Message{&pb.WishlistCreated{CommandId: "c1", WishlistId: "w1", Name: "Birthday ideas", At: at}},
			check: func(t *testing.T, s *pb.State) {
				require.Len(t, s.Wishlists, 1)
				assert.True(t, proto.Equal(&pb.Wishlist{Id: "w1", Name: "Birthday ideas", CreatedAt: at, UpdatedAt: at}, s.Wishlists[0]))
				assert.Equal(t, created, s.UpdatedAt.AsTime(), "the account view did not change")
			}},
		{name: "create wishlist of 60 characters", given: verified, cmd: createWishlist("c1", "w1", strings.Repeat("ü", MaxWishlistName)),
			want: []proto.Message{&pb.WishlistCreated{CommandId: "c1", WishlistId: "w1", Name: strings.Repeat("ü", MaxWishlistName), At: at}}},
		{name: "create wishlist retried", given: lists, cmd: createWishlist("w1", "w1", "Other")},
		{name: "create wishlist id in use", given: lists, cmd: createWishlist("c1", "w2", "New"),
			errCode: emporium.ECONFLICT, field: "wishlist_id", fieldCode: CodeTaken},
		{name: "create wishlist name taken", given: lists, cmd: createWishlist("c1", "w3", " BIRTHDAY "),
			errCode: emporium.EINVALID, field: "name", fieldCode: CodeTaken},
		{name: "create wishlist name missing", given: verified, cmd: createWishlist("c1", "w1", "  "),
			errCode: emporium.EINVALID, field: "name", fieldCode: CodeRequired},
		{name: "create wishlist name too long", given: verified, cmd: createWishlist("c1", "w1", strings.Repeat("ü", MaxWishlistName+1)),
			errCode: emporium.EINVALID, field: "name", fieldCode: CodeTooLong},
		{name: "create wishlist name on two lines", given: verified, cmd: createWishlist("c1", "w1", "a\nb"),
			errCode: emporium.EINVALID, field: "name", fieldCode: CodeInvalid},
		{name: "create wishlist bad id", given: verified, cmd: createWishlist("c1", "w 1", "A"),
			errCode: emporium.EINVALID, field: "wishlist_id", fieldCode: CodeInvalid},
		{name: "create wishlist without id", given: verified, cmd: createWishlist("c1", "", "A"),
			errCode: emporium.EINVALID, field: "wishlist_id", fieldCode: CodeInvalid},
		{name: "create wishlist id too long", given: verified, cmd: createWishlist("c1", strings.Repeat("w", 65), "A"),
			errCode: emporium.EINVALID, field: "wishlist_id", fieldCode: CodeInvalid},
		{name: "create wishlist without command id", given: verified, cmd: createWishlist("", "w1", "A"),
			errCode: emporium.EINVALID, field: "command_id", fieldCode: CodeRequired},
		{name: "create too many wishlists", given: fullLists, cmd: createWishlist("c1", "w1", "One more"),
			errCode: emporium.EINVALID, field: "wishlists", fieldCode: CodeTooMany},
		{name: "create wishlist after one was deleted", given: with(fullLists, &pb.WishlistDeleted{CommandId: "d", WishlistId: "f3", At: ts(created)}),
			cmd:  createWishlist("c1", "w1", "List 3"),
			want: []proto.Message{&pb.WishlistCreated{CommandId: "c1", WishlistId: "w1", Name: "List 3", At: at}}},
		{name: "rename wishlist", given: lists, cmd: renameWishlist("r1", "w1", "Birthday 2027 "),
			want: []proto.Message{&pb.WishlistRenamed{CommandId: "r1", WishlistId: "w1", Name: "Birthday 2027", At: at}},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, "Birthday 2027", s.Wishlists[0].Name)
				assert.Equal(t, created, s.Wishlists[0].CreatedAt.AsTime())
				assert.Equal(t, t0, s.Wishlists[0].UpdatedAt.AsTime())
				assert.Len(t, s.Wishlists[0].Items, 2, "the items stay")
			}},
		{name: "rename wishlist to its name", given: lists, cmd: renameWishlist("r1", "w1", " Birthday ")},
		{name: "restyle wishlist name", given: lists, cmd: renameWishlist("r1", "w1", "BIRTHDAY"),
			want: []proto.Message{&pb.WishlistRenamed{CommandId: "r1", WishlistId: "w1", Name: "BIRTHDAY", At: at}}},
		{name: "rename wishlist to another's name", given: lists, cmd: renameWishlist("r1", "w1", "kitchen"),
			errCode: emporium.EINVALID, field: "name", fieldCode: CodeTaken},
		{name: "rename wishlist name missing", given: lists, cmd: renameWishlist("r1", "w1", ""),
			errCode: emporium.EINVALID, field: "name", fieldCode: CodeRequired},
		{name: "rename unknown wishlist", given: lists, cmd: renameWishlist("r1", "w9", "New"), errCode: emporium.ENOTFOUND},
		{name: "rename wishlist retried", given: with(lists, &pb.WishlistRenamed{CommandId: "r1", WishlistId: "w1", Name: "B", At: ts(created)}),
			cmd: renameWishlist("r1", "w1", "Other")},
		{name: "rename wishlist without command id", given: lists, cmd: renameWishlist("", "w1", "New"),
			errCode: emporium.EINVALID, field: "command_id", fieldCode: CodeRequired},
		{name: "delete wishlist", given: lists, cmd: &pb.DeleteWishlistRequest{CommandId: "d1", WishlistId: "w1"},
			want: []proto.Message{&pb.WishlistDeleted{CommandId: "d1", WishlistId: "w1", At: at}},
			check: func(t *testing.T, s *pb.State) {
				require.Len(t, s.Wishlists, 1)
				assert.Equal(t, "w2", s.Wishlists[0].Id)
			}},
		{name: "delete unknown wishlist", given: lists, cmd: &pb.DeleteWishlistRequest{CommandId: "d1", WishlistId: "w9"}, errCode: emporium.ENOTFOUND},
		{name: "delete wishlist retried", given: with(lists, &pb.WishlistDeleted{CommandId: "d1", WishlistId: "w1", At: ts(created)}),
			cmd: &pb.DeleteWishlistRequest{CommandId: "d1", WishlistId: "w1"}},
		{name: "delete wishlist without command id", given: lists, cmd: &pb.DeleteWishlistRequest{WishlistId: "w1"},
			errCode: emporium.EINVALID, field: "command_id", fieldCode: CodeRequired},
		{name: "add wishlist item", given: lists, cmd: addWishlistItem("a1", "w2", "p1", ""),
			want: []proto.Message{&pb.WishlistItemAdded{CommandId: "a1", WishlistId: "w2", ProductId: "p1", At: at}},
			check: func(t *testing.T, s *pb.State) {
				require.Len(t, s.Wishlists[1].Items, 1)
				assert.True(t, proto.Equal(&pb.WishlistItem{ProductId: "p1", AddedAt: at}, s.Wishlists[1].Items[0]))
				assert.Equal(t, t0, s.Wishlists[1].UpdatedAt.AsTime())
				assert.Len(t, s.Wishlists[0].Items, 2, "the other list is untouched")
			}},
		{name: "add wishlist item with a variant", given: lists, cmd: addWishlistItem("a1", "w1", "p3", "P3.XL_v-2"),
			want: []proto.Message{&pb.WishlistItemAdded{CommandId: "a1", WishlistId: "w1", ProductId: "p3", Sku: "P3.XL_v-2", At: at}},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, []string{"p1", "p2", "p3"}, itemProducts(s.Wishlists[0]), "added last")
			}},
		{name: "add wishlist item it holds", given: lists, cmd: addWishlistItem("a1", "w1", "p2", "P2-RED")},
		{name: "choose a variant of a wishlist item", given: lists, cmd: addWishlistItem("a1", "w1", "p1", "P1-BLUE"),
			want: []proto.Message{&pb.WishlistItemUpdated{CommandId: "a1", WishlistId: "w1", ProductId: "p1", Sku: "P1-BLUE", At: at}},
			check: func(t *testing.T, s *pb.State) {
				w := s.Wishlists[0]
				assert.Equal(t, []string{"p1", "p2"}, itemProducts(w), "no duplicate, same place")
				assert.Equal(t, "P1-BLUE", w.Items[0].Sku)
				assert.Equal(t, created, w.Items[0].AddedAt.AsTime(), "added_at stays")
				assert.Equal(t, t0, w.UpdatedAt.AsTime())
			}},
		{name: "clear the variant of a wishlist item", given: lists, cmd: addWishlistItem("a1", "w1", "p2", ""),
			want:  []proto.Message{&pb.WishlistItemUpdated{CommandId: "a1", WishlistId: "w1", ProductId: "p2", At: at}},
			check: func(t *testing.T, s *pb.State) { assert.Empty(t, s.Wishlists[0].Items[1].Sku) }},
		{name: "add wishlist item retried", given: lists, cmd: addWishlistItem("i1", "w2", "p9", "")},
		{name: "add item to unknown wishlist", given: lists, cmd: addWishlistItem("a1", "w9", "p1", ""), errCode: emporium.ENOTFOUND},
		{name: "add wishlist item without product", given: lists, cmd: addWishlistItem("a1", "w1", "", ""),
			errCode: emporium.EINVALID, field: "product_id", fieldCode: CodeRequired},
		{name: "add wishlist item bad product id", given: lists, cmd: addWishlistItem("a1", "w1", "p 1", ""),
			errCode: emporium.EINVALID, field: "product_id", fieldCode: CodeInvalid},
		{name: "add wishlist item bad sku", given: lists, cmd: addWishlistItem("a1", "w1", "p1", strings.Repeat("S", 65)),
			errCode: emporium.EINVALID, field: "sku", fieldCode: CodeInvalid},
		{name: "add wishlist item without command id", given: lists, cmd: addWishlistItem("", "w1", "p3", ""),
			errCode: emporium.EINVALID, field: "command_id", fieldCode: CodeRequired},
		{name: "add too many wishlist items", given: fullItems, cmd: addWishlistItem("a1", "w1", "p-new", ""),
			errCode: emporium.EINVALID, field: "items", fieldCode: CodeTooMany},
		{name: "choose a variant in a full wishlist", given: fullItems, cmd: addWishlistItem("a1", "w1", "p7", "P7-S"),
			want: []proto.Message{&pb.WishlistItemUpdated{CommandId: "a1", WishlistId: "w1", ProductId: "p7", Sku: "P7-S", At: at}}},
		{name: "remove wishlist item", given: lists, cmd: removeWishlistItem("x1", "w1", "p1"),
			want: []proto.Message{&pb.WishlistItemRemoved{CommandId: "x1", WishlistId: "w1", ProductId: "p1", At: at}},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, []string{"p2"}, itemProducts(s.Wishlists[0]))
				assert.Equal(t, t0, s.Wishlists[0].UpdatedAt.AsTime())
			}},
		{name: "remove wishlist item it lacks", given: lists, cmd: removeWishlistItem("x1", "w2", "p1"), errCode: emporium.ENOTFOUND},
		{name: "remove item of unknown wishlist", given: lists, cmd: removeWishlistItem("x1", "w9", "p1"), errCode: emporium.ENOTFOUND},
		{name: "remove wishlist item retried", given: with(lists, &pb.WishlistItemRemoved{CommandId: "x1", WishlistId: "w1", ProductId: "p1", At: ts(created)}),
			cmd: removeWishlistItem("x1", "w1", "p1")},
		{name: "remove wishlist item without command id", given: lists, cmd: removeWishlistItem("", "w1", "p1"),
			errCode: emporium.EINVALID, field: "command_id", fieldCode: CodeRequired},
		{name: "get wishlists", given: lists, cmd: &pb.GetWishlistsRequest{}},
		{name: "get one wishlist", given: lists, cmd: &pb.GetWishlistsRequest{WishlistId: "w2"}},
		{name: "get unknown wishlist", given: lists, cmd: &pb.GetWishlistsRequest{WishlistId: "w9"}, errCode: emporium.ENOTFOUND},

		// Reads and the unknown.
		{name: "get", given: verified, cmd: &pb.GetRequest{}},
		{name: "get credentials", given: verified, cmd: &pb.GetCredentialsRequest{}},
		{name: "unknown command", given: verified, cmd: &pb.Account{}, errCode: emporium.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := given(tt.given...)
			before := proto.Clone(s)
			got, err := decide(s, tt.cmd, t0)
			assert.True(t, proto.Equal(before, s), "decide changed the state")
			if tt.errCode != "" {
				require.Error(t, err)
				assert.Equal(t, tt.errCode, emporium.ErrorCode(err), "error: %v", err)
				assert.NotEmpty(t, emporium.ErrorMessage(err))
				assert.Empty(t, got, "a refusal has no events")
				if tt.field != "" {
					assert.True(t, hasField(err, tt.field, tt.fieldCode), "want field %s (%s) in %+v", tt.field, tt.fieldCode, emporium.ErrorFields(err))
				}
				if tt.errCode == emporium.EINVALID {
					assert.NotEmpty(t, emporium.ErrorFields(err), "validation errors name their fields")
				}
				return
			}
			require.NoError(t, err)
			assert.Empty(t, cmpEvents(tt.want, got))
			for _, ev := range got {
				apply(s, ev)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

func wishlistCreated(id, name string) *pb.WishlistCreated {
	return &pb.WishlistCreated{CommandId: id, WishlistId: id, Name: name, At: ts(created)}
}

func createWishlist(cmd, id, name string) *pb.CreateWishlistRequest {
	return &pb.CreateWishlistRequest{CommandId: cmd, WishlistId: id, Name: name}
}

func renameWishlist(cmd, id, name string) *pb.RenameWishlistRequest {
	return &pb.RenameWishlistRequest{CommandId: cmd, WishlistId: id, Name: name}
}

func addWishlistItem(cmd, id, productID, sku string) *pb.AddWishlistItemRequest {
	return &pb.AddWishlistItemRequest{CommandId: cmd, WishlistId: id, ProductId: productID, Sku: sku}
}

func removeWishlistItem(cmd, id, productID string) *pb.RemoveWishlistItemRequest {
	return &pb.RemoveWishlistItemRequest{CommandId: cmd, WishlistId: id, ProductId: productID}
}

func itemProducts(w *pb.Wishlist) []string {
	var ids []string
	for _, it := range w.Items {
		ids = append(ids, it.ProductId)
	}
	return ids
}

// TestWishlistNameRules: names are unique ignoring case only, and the
// limits count characters.
func TestWishlistNameRules(t *testing.T) {
	for _, in := range []string{"a", "Gifts", strings.Repeat("ü", MaxWishlistName), " Zoë's list "} {
		_, fe := cleanWishlistName(in)
		assert.Nil(t, fe, "%q", in)
	}
	for _, in := range []string{"", " ", strings.Repeat("x", MaxWishlistName+1), "a\tb", "a\x00b", "\xff"} {
		_, fe := cleanWishlistName(in)
		assert.NotNil(t, fe, "%q", in)
	}
	assert.Equal(t, WishlistNameKey("GIFTS for Mum"), WishlistNameKey("gifts FOR mum"))
	assert.Equal(t, WishlistNameKey("\u212aelvin"), WishlistNameKey("kelvin"), "the Kelvin sign folds to k")
	assert.Equal(t, WishlistNameKey("Zoë"), WishlistNameKey("ZOË"))
	assert.NotEqual(t, WishlistNameKey("Gifts for mum"), WishlistNameKey("Gifts  for mum"), "only case is ignored")
	assert.NoError(t, CheckWishlistItem("0193a5c2-7f7e-7d3e-9c1a-1b2c3d4e5f60", "TEE-RED.XL_2"))
	assert.NoError(t, CheckWishlistItem("p1", ""))
	err := CheckWishlistItem("", "a b")
	assert.True(t, hasField(err, "product_id", CodeRequired))
	assert.True(t, hasField(err, "sku", CodeInvalid))
	assert.True(t, hasField(CheckWishlistItem(strings.Repeat("p", 65), ""), "product_id", CodeInvalid))
}

// TestWishlistsView: one list or all, copies of the state's.
func TestWishlistsView(t *testing.T) {
	s := given(registeredEv(), wishlistCreated("w1", "A"), wishlistCreated("w2", "B"),
		&pb.WishlistItemAdded{CommandId: "i", WishlistId: "w2", ProductId: "p1", At: ts(created)})
	all := wishlistsView(s, 7, "")
	assert.Equal(t, uint64(7), all.Seq)
	require.Len(t, all.Wishlists, 2)
	assert.Equal(t, []string{"w1", "w2"}, []string{all.Wishlists[0].Id, all.Wishlists[1].Id})
	one := wishlistsView(s, 7, "w2")
	require.Len(t, one.Wishlists, 1)
	assert.True(t, proto.Equal(s.Wishlists[1], one.Wishlists[0]))
	assert.Empty(t, wishlistsView(s, 7, "w9").Wishlists)

	before := proto.Clone(s)
	one.Wishlists[0].Name = "changed"
	one.Wishlists[0].Items[0].Sku = "changed"
	assert.True(t, proto.Equal(before, s), "the view shares the state's messages")
}

func becomeVendor(id, name, description string) *pb.BecomeVendorRequest {
	return &pb.BecomeVendorRequest{CommandId: id, StoreName: name, Description: description}
}

// TestBecomeVendorReportsEveryBadField: both fields are named at once.
func TestBecomeVendorReportsEveryBadField(t *testing.T) {
	s := given(registeredEv(), &pb.EmailVerified{CommandId: "v", At: ts(created)})
	_, err := decide(s, becomeVendor("bv", "", strings.Repeat("x", MaxStoreDescription+1)), t0)
	require.True(t, emporium.IsCode(err, emporium.EINVALID))
	assert.True(t, hasField(err, "store_name", CodeRequired))
	assert.True(t, hasField(err, "description", CodeTooLong))
}

// TestStoreNameRules: the limits count characters, not bytes, and the key
// ignores case, white space and invisible characters.
func TestStoreNameRules(t *testing.T) {
	for _, in := range []string{"ab", "Acme Tools", strings.Repeat("ü", MaxStoreName), " Zoë's Ateliér "} {
		_, fe := cleanStoreName(in)
		assert.Nil(t, fe, "%q", in)
	}
	for _, in := range []string{"", " ", "a", "ü", strings.Repeat("x", MaxStoreName+1), "a\tb", "a\x00b", "\xff\xfe"} {
		_, fe := cleanStoreName(in)
		assert.NotNil(t, fe, "%q", in)
	}
	for _, in := range []string{"", "line one\r\nline two\n\ttabbed", strings.Repeat("ü", MaxStoreDescription)} {
		_, fe := cleanDescription(in)
		assert.Nil(t, fe, "%q", in)
	}
	for _, in := range []string{"a\x00", "esc\x1b[31m", strings.Repeat("x", MaxStoreDescription+1), "\xff"} {
		_, fe := cleanDescription(in)
		assert.NotNil(t, fe, "%q", in)
	}
	same := []string{"Acme Tools", "acme tools", "ACME  TOOLS", " AcmeTools ", "Acme\u00a0Tools", "Ac\u200bme Tools", "Acme\u3000Tools"}
	for _, n := range same {
		assert.Equal(t, "acmetools", StoreNameKey(n), "%q", n)
	}
	assert.Equal(t, StoreNameKey("STRASSE"), StoreNameKey("strasse"))
	assert.Equal(t, StoreNameKey("\u212aelvin"), StoreNameKey("Kelvin"), "the Kelvin sign folds to k")
	assert.Equal(t, StoreNameKey("Zoë"), StoreNameKey("ZOË"))
	assert.NotEqual(t, StoreNameKey("Acme Tools"), StoreNameKey("Acme Tool"))
}

func hasField(err error, field, code string) bool {
	for _, f := range emporium.ErrorFields(err) {
		if f.Field == field && (code == "" || f.Code == code) {
			return true
		}
	}
	return false
}

// defaults returns the ids of the default shipping (or billing) addresses.
func defaults(s *pb.State, shipping bool) []string {
	var ids []string
	for _, a := range s.Addresses {
		if shipping && a.IsDefaultShipping || !shipping && a.IsDefaultBilling {
			ids = append(ids, a.Id)
		}
	}
	return ids
}

func TestDisableTOTPNamesEveryFailedFactor(t *testing.T) {
	s := given(registeredEv(), &pb.TOTPEnrollmentStarted{CommandId: "tb", Secret: secret},
		&pb.TOTPEnabled{CommandId: "tc", LastStep: 100, RecoveryCodeHashes: recoveryHashes(3), At: ts(created)})
	_, err := decide(s, &pb.DisableTOTPRequest{CommandId: "td", CodeStep: 101}, t0)
	require.True(t, emporium.IsCode(err, emporium.EUNAUTHENTICATED))
	assert.True(t, hasField(err, "password", CodeInvalid))
	assert.True(t, hasField(err, "code", CodeInvalid))
}

func TestAddressReportsEveryBadField(t *testing.T) {
	s := given(registeredEv())
	_, err := decide(s, &pb.AddAddressRequest{CommandId: "a1", AddressId: "a1", Address: &pb.AddressFields{
		FullName: strings.Repeat("x", MaxNameLength+1), PostalCode: "12345#", Country: "XX", Phone: "+0123456789",
	}}, t0)
	require.True(t, emporium.IsCode(err, emporium.EINVALID))
	got := map[string]string{}
	for _, f := range emporium.ErrorFields(err) {
		got[f.Field] = f.Code
	}
	assert.Equal(t, map[string]string{
		"full_name": CodeTooLong, "line1": CodeRequired, "city": CodeRequired,
		"postal_code": CodeInvalid, "country": CodeInvalid, "phone": CodeInvalid,
	}, got)
}

// TestUnregisteredAccountIsNotFound: everything but Register is not_found
// before the account exists.
func TestUnregisteredAccountIsNotFound(t *testing.T) {
	cmds := []proto.Message{
		&pb.IssueVerificationRequest{CommandId: "c", TokenHash: tok(1), ExpiresAt: ts(t0.Add(time.Hour))},
		&pb.VerifyEmailRequest{CommandId: "c", TokenHash: tok(1)},
		&pb.StartPasswordResetRequest{CommandId: "c", TokenHash: tok(1), ExpiresAt: ts(t0.Add(time.Hour))},
		&pb.ResetPasswordRequest{CommandId: "c", TokenHash: tok(1), PasswordHash: pw1},
		&pb.ChangePasswordRequest{CommandId: "c", CurrentPasswordOk: true, PasswordHash: pw1},
		&pb.UpdateProfileRequest{CommandId: "c", Name: wrapperspb.String("x")},
		&pb.RequestEmailChangeRequest{CommandId: "c", NewEmail: "a@b.io", TokenHash: tok(1), ExpiresAt: ts(t0.Add(time.Hour))},
		&pb.BeginTOTPRequest{CommandId: "c", Secret: secret},
		&pb.ConfirmTOTPRequest{CommandId: "c", CodeStep: 1, CodeOk: true, RecoveryCodeHashes: recoveryHashes(1)},
		&pb.UseTOTPRequest{CommandId: "c", Step: 1},
		&pb.UseRecoveryCodeRequest{CommandId: "c"},
		&pb.DisableTOTPRequest{CommandId: "c", PasswordOk: true, CodeOk: true, CodeStep: 1},
		&pb.AddAddressRequest{CommandId: "c", AddressId: "a", Address: fields("x")},
		&pb.UpdateAddressRequest{AddressId: "a", Address: fields("x")},
		&pb.RemoveAddressRequest{AddressId: "a"},
		&pb.GrantRoleRequest{CommandId: "c", Role: RoleAdmin},
		becomeVendor("c", "Acme", ""),
		createWishlist("c", "w", "A"),
		renameWishlist("c", "w", "B"),
		&pb.DeleteWishlistRequest{CommandId: "c", WishlistId: "w"},
		addWishlistItem("c", "w", "p", ""),
		removeWishlistItem("c", "w", "p"),
		&pb.GetWishlistsRequest{},
		&pb.GetRequest{},
		&pb.GetCredentialsRequest{},
	}
	// Every rpc of the service is covered.
	assert.Len(t, cmds, pb.File_userpb_user_proto.Services().ByName("UserGrain").Methods().Len()-1)
	for _, cmd := range cmds {
		events, err := decide(newState("u1"), cmd, t0)
		assert.Empty(t, events)
		assert.True(t, emporium.IsCode(err, emporium.ENOTFOUND), "%T: %v", cmd, err)
	}
	events, err := decide(newState("u1"), registerCmd(), t0)
	require.NoError(t, err)
	assert.Len(t, events, 1)
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
			events, err := decide(s, c.cmd, exp.Add(-time.Nanosecond))
			require.NoError(t, err)
			assert.NotEmpty(t, events, "valid until the instant before expiry")
			for _, at := range []time.Time{exp, exp.Add(time.Nanosecond), exp.Add(time.Hour)} {
				_, err := decide(s, c.cmd, at)
				assert.True(t, hasField(err, "token", CodeInvalidOrExpired), "at %v: %v", at, err)
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
			_, err := decide(s, &pb.IssueVerificationRequest{CommandId: "iv", TokenHash: tok(2), ExpiresAt: ts(t0.Add(ttl))}, t0)
			return err
		}
		reset := func(ttl time.Duration) error {
			_, err := decide(s, &pb.StartPasswordResetRequest{CommandId: "pr", TokenHash: tok(2), ExpiresAt: ts(t0.Add(ttl))}, t0)
			return err
		}
		assert.Error(t, issue(0))
		assert.NoError(t, issue(time.Nanosecond))
		assert.NoError(t, issue(MaxVerificationTTL))
		assert.NoError(t, issue(MaxVerificationTTL+clockSkew), "another node's clock may run ahead")
		assert.Error(t, issue(MaxVerificationTTL+clockSkew+time.Nanosecond))
		assert.NoError(t, reset(MaxResetTTL+clockSkew))
		assert.Error(t, reset(MaxResetTTL+clockSkew+time.Nanosecond))
		_, err := decide(s, &pb.IssueVerificationRequest{CommandId: "iv", TokenHash: tok(2),
			ExpiresAt: &timestamppb.Timestamp{Seconds: 1, Nanos: -1}}, t0)
		assert.True(t, hasField(err, "expires_at", CodeOutOfRange), "an invalid timestamp: %v", err)
	})
}

// TestTOTPReplay: each code works once, and an older code cannot follow a
// newer one; a retry of the accepted login is answered without error.
func TestTOTPReplay(t *testing.T) {
	s := given(registeredEv(), &pb.EmailVerified{CommandId: "v", At: ts(created)})
	run := func(cmd proto.Message) error {
		events, err := decide(s, cmd, t0)
		for _, ev := range events {
			apply(s, ev)
		}
		return err
	}
	require.NoError(t, run(&pb.BeginTOTPRequest{CommandId: "b", Secret: secret}))
	require.NoError(t, run(&pb.ConfirmTOTPRequest{CommandId: "c", CodeStep: 100, CodeOk: true, RecoveryCodeHashes: recoveryHashes(10)}))
	assert.Error(t, run(&pb.UseTOTPRequest{CommandId: "l1", Step: 100}), "the confirming code is used")
	require.NoError(t, run(&pb.UseTOTPRequest{CommandId: "l2", Step: 101}))
	require.NoError(t, run(&pb.UseTOTPRequest{CommandId: "l2", Step: 101}), "a retry of the same login")
	assert.Equal(t, int64(101), s.LastStep)
	err := run(&pb.UseTOTPRequest{CommandId: "l3", Step: 101})
	assert.True(t, emporium.IsCode(err, emporium.EUNAUTHENTICATED) && hasField(err, "code", CodeInvalid), "replay: %v", err)
	assert.Error(t, run(&pb.UseTOTPRequest{CommandId: "l4", Step: 100}), "an older code after a newer one")
	require.NoError(t, run(&pb.UseTOTPRequest{CommandId: "l5", Step: 103}))
	assert.Error(t, run(&pb.DisableTOTPRequest{CommandId: "d1", PasswordOk: true, CodeOk: true, CodeStep: 103}),
		"disabling needs a fresh code")
	require.NoError(t, run(&pb.DisableTOTPRequest{CommandId: "d2", PasswordOk: true, CodeOk: true, CodeStep: 104}))
	assert.Error(t, run(&pb.UseTOTPRequest{CommandId: "l6", Step: 200}), "no TOTP once disabled")
}

// TestRecoveryCodesAreSingleUse: a used code fails however it is presented,
// the others keep working, and indexes never shift.
func TestRecoveryCodesAreSingleUse(t *testing.T) {
	hashes := recoveryHashes(10)
	s := given(registeredEv(), &pb.TOTPEnrollmentStarted{CommandId: "b", Secret: secret},
		&pb.TOTPEnabled{CommandId: "c", LastStep: 100, RecoveryCodeHashes: hashes, At: ts(created)})
	use := func(cmdID string, i int32) error {
		events, err := decide(s, &pb.UseRecoveryCodeRequest{CommandId: cmdID, Index: i}, t0)
		for _, ev := range events {
			apply(s, ev)
		}
		return err
	}
	for i := range int32(10) {
		require.NoError(t, use(fmt.Sprintf("u%d", i), i))
		require.NoError(t, use(fmt.Sprintf("u%d", i), i), "a retry")
		assert.Error(t, use(fmt.Sprintf("again%d", i), i), "code %d twice", i)
		assert.Equal(t, int32(9-i), account(s, 0, t0).RecoveryCodesLeft)
		for j := i + 1; j < 10; j++ {
			assert.Equal(t, hashes[j], s.RecoveryCodeHashes[j], "code %d keeps its place", j)
		}
	}
	assert.Equal(t, hashes, recoveryHashes(10), "the event's hashes were not touched")
	assert.Len(t, credentials(s, 0).RecoveryCodeHashes, 10)
}

func TestAddressDefaultsFollowTheOldest(t *testing.T) {
	s := given(registeredEv())
	run := func(cmd proto.Message) {
		t.Helper()
		events, err := decide(s, cmd, t0)
		require.NoError(t, err)
		for _, ev := range events {
			apply(s, ev)
		}
	}
	shipping := func(f *pb.AddressFields) *pb.AddressFields {
		f.IsDefaultShipping = wrapperspb.Bool(true)
		return f
	}
	run(&pb.AddAddressRequest{CommandId: "1", AddressId: "a", Address: fields("A")})
	run(&pb.AddAddressRequest{CommandId: "2", AddressId: "b", Address: fields("B")})
	run(&pb.AddAddressRequest{CommandId: "3", AddressId: "c", Address: shipping(fields("C"))})
	assert.Equal(t, []string{"c"}, defaults(s, true))
	assert.Equal(t, []string{"a"}, defaults(s, false))
	run(&pb.RemoveAddressRequest{AddressId: "c"})
	assert.Equal(t, []string{"a"}, defaults(s, true), "the oldest remaining takes the flag")
	run(&pb.RemoveAddressRequest{AddressId: "a"})
	assert.Equal(t, []string{"b"}, defaults(s, true))
	assert.Equal(t, []string{"b"}, defaults(s, false))
	run(&pb.RemoveAddressRequest{AddressId: "a"}) // a retry
	run(&pb.RemoveAddressRequest{AddressId: "b"})
	assert.Empty(t, s.Addresses)
	run(&pb.AddAddressRequest{CommandId: "4", AddressId: "d", Address: fields("D")})
	assert.Equal(t, []string{"d"}, defaults(s, true), "a first address again is both defaults")
	assert.Equal(t, []string{"d"}, defaults(s, false))
}

// TestAccountViewHasNoSecrets checks the view's schema: no field of Account
// or of anything it holds can carry a password hash, a token hash, a TOTP
// secret or a recovery code hash. The property test checks its values.
func TestAccountViewHasNoSecrets(t *testing.T) {
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		for i := range md.Fields().Len() {
			f := md.Fields().Get(i)
			name := string(f.Name())
			for _, bad := range []string{"hash", "secret", "token", "password"} {
				assert.NotContains(t, name, bad, "%s.%s", md.FullName(), name)
			}
			if f.Message() != nil {
				walk(f.Message())
			}
		}
	}
	walk((&pb.Account{}).ProtoReflect().Descriptor())
	assert.True(t, seen["emporium.user.v1.Address"], "the walk reached the addresses")
}

func TestMemoryIsBounded(t *testing.T) {
	s := given(registeredEv())
	for i := range recentCommandsKept + removedAddressesKept + 10 {
		id := fmt.Sprintf("x%d", i)
		apply(s, added(id, addr(id, "Home", true, true, t0)))
		apply(s, &pb.AddressRemoved{AddressId: id, At: ts(t0)})
	}
	assert.Len(t, s.RecentCommands, recentCommandsKept)
	assert.Len(t, s.RemovedAddresses, removedAddressesKept)
	events, err := decide(s, registerCmd(), t0)
	assert.NoError(t, err, "a late retry of Register is still recognised")
	assert.Empty(t, events)
}

func TestValidators(t *testing.T) {
	for _, u := range []string{"bob", "Alice_1", "a-b", strings.Repeat("x", 32)} {
		assert.NoError(t, CheckUsername(u), u)
	}
	for _, u := range []string{"", "ab", strings.Repeat("x", 33), "bob smith", "bøb", "bob!", "bob@x"} {
		assert.Error(t, CheckUsername(u), u)
	}
	for _, e := range []string{"a@b.io", "Alice.Smith+shop@Example.co.uk", "x@sub.example-host.com"} {
		assert.NoError(t, CheckEmail("email", e), e)
	}
	for _, e := range []string{"", "a", "a@b", "@b.io", "a@.io", "a@b..io", "a@-b.io", "a b@c.io", " a@b.io", "A <a@b.io>",
		"a@b.io,c@d.io", `"a"@b.io`, "a@@b.io", strings.Repeat("x", 65) + "@b.io", "a@" + strings.Repeat("x", 250) + ".io", "a@b.io\n"} {
		assert.Error(t, CheckEmail("email", e), "%q", e)
	}
	assert.Equal(t, "bob@example.com", EmailKey("Bob@Example.COM"))
	assert.Equal(t, "alice_1", UsernameKey("Alice_1"))
	for in, want := range map[string]string{"+14155550123": "+14155550123", "+44 20 7946 0958": "+442079460958",
		"+49-30-1234567": "+49301234567", " +1.415.555.0123 ": "+14155550123", "": ""} {
		got, fe := cleanPhone("phone", in)
		assert.Nil(t, fe, in)
		assert.Equal(t, want, got)
	}
	for _, in := range []string{"14155550123", "+123456", "+1234567890123456", "+0123456789", "+1 (415) 555-0123",
		"+1--4155550123", "+14155550123-", "+ 14155550123", "+1415555012x", "++14155550123"} {
		_, fe := cleanPhone("phone", in)
		assert.NotNil(t, fe, "%q", in)
	}
	for _, in := range []string{"12", "SW1A 1AA", "75002", "1234-567", "K1A 0B1", "123456789012"} {
		_, fe := cleanPostalCode(in)
		assert.Nil(t, fe, in)
	}
	for _, in := range []string{"", "1", "1234567890123", "12#45", "12_45", "１２３４５"} {
		_, fe := cleanPostalCode(in)
		assert.NotNil(t, fe, "%q", in)
	}
	assert.Len(t, countries, 249, "the officially assigned ISO 3166-1 alpha-2 codes")
	for _, c := range []string{"us", "DE", " gb ", "AQ", "SS", "XK"} {
		_, fe := cleanCountry(c)
		assert.Equal(t, c != "XK", fe == nil, c)
	}
	for _, c := range []string{"UK", "EU", "ZZ", "USA", "U"} {
		_, fe := cleanCountry(c)
		assert.NotNil(t, fe, c)
	}
	assert.True(t, validTOTPSecret(secret))
	assert.False(t, validTOTPSecret("jbswy3dpehpk3pxp"), "lower case is not what auth.NewTOTP makes")
	assert.False(t, validTOTPSecret("JBSWY3DPEHPK3PX"), "too short")
}

// cmpEvents describes how got differs from want, or returns "" when equal.
func cmpEvents(want, got []proto.Message) string {
	if len(want) != len(got) {
		return fmt.Sprintf("want %d events %v, got %d %v", len(want), want, len(got), got)
	}
	for i := range want {
		if !proto.Equal(want[i], got[i]) {
			return fmt.Sprintf("event %d: want %v, got %v", i, want[i], got[i])
		}
	}
	return ""
}

// TestRandomCommandsKeepInvariants drives the core with random commands,
// many of them aimed at the state the way a shell would (the pending token,
// an existing address or wishlist), some repeated as Proto.Actor's retries
// would be, and checks after each that the rules hold: exactly one default
// shipping and one default billing address whenever any exists, at most 20
// addresses, customer always a role, the wishlist rules (checkWishlists), the
// view free of secrets, retries of applied commands answered from state, and
// replaying the events gives the same state.
func TestRandomCommandsKeepInvariants(t *testing.T) {
	knownCodes := []string{emporium.EINVALID, emporium.EUNAUTHENTICATED, emporium.ENOTFOUND, emporium.ECONFLICT, emporium.EUNVERIFIED}
	kinds := map[string]int{} // events seen, by type, so the test proves it reached every rule
	fullRuns := 0             // runs that reached MaxAddresses
	for seed := range uint64(24) {
		r := rand.New(rand.NewPCG(seed, 2))
		s := newState("u-rand")
		var journal, snapshots []proto.Message
		var sent []proto.Message
		applied := map[string]bool{} // command ids that produced events
		mostAddresses := 0
		var joined *timestamppb.Timestamp // the store's first opening
		now := t0
		for step := range 700 {
			now = now.Add(time.Duration(r.IntN(20)) * time.Minute)
			var cmd proto.Message
			retry := step > 0 && r.IntN(8) == 0 && len(sent) > 0
			if retry {
				cmd = sent[len(sent)-1-r.IntN(min(len(sent), 5))]
			} else {
				cmd = randomCommand(r, s, step, now)
			}
			sent = append(sent, cmd)
			before := proto.Clone(s)
			events, err := decide(s, cmd, now)
			require.True(t, proto.Equal(before, s), "seed %d step %d: decide changed the state", seed, step)
			if err != nil {
				require.Empty(t, events)
				code := emporium.ErrorCode(err)
				require.Contains(t, knownCodes, code, "seed %d step %d %T: %v", seed, step, cmd, err)
				if code == emporium.EINVALID {
					require.NotEmpty(t, emporium.ErrorFields(err))
				}
			}
			if id := commandID(cmd); retry && id != "" && applied[id] {
				require.NoError(t, err, "seed %d step %d: retry of %T %s", seed, step, cmd, id)
				require.Empty(t, events, "seed %d step %d: retry of %T %s applied twice", seed, step, cmd, id)
			}
			for _, ev := range events {
				apply(s, ev)
				journal = append(journal, ev)
				snapshots = append(snapshots, proto.Clone(ev))
				kinds[string(ev.ProtoReflect().Descriptor().Name())]++
			}
			if id := commandID(cmd); len(events) > 0 && id != "" {
				applied[id] = true
			}
			if s.Store != nil {
				if joined == nil {
					joined = proto.CloneOf(s.Store.JoinedAt)
				}
				require.True(t, proto.Equal(joined, s.Store.JoinedAt), "seed %d step %d: joined_at moved", seed, step)
			}
			checkInvariants(t, s, now, step%10 == 0, fmt.Sprintf("seed %d step %d after %T", seed, step, cmd))
			mostAddresses = max(mostAddresses, len(s.Addresses))
		}
		fullRuns += min(mostAddresses/MaxAddresses, 1)
		for i := range journal {
			require.True(t, proto.Equal(snapshots[i], journal[i]), "seed %d: apply changed event %d", seed, i)
		}
		replayed := newState("u-rand")
		for _, ev := range journal {
			apply(replayed, ev)
		}
		require.True(t, proto.Equal(s, replayed), "seed %d: replay differs", seed)
		require.True(t, registered(s), "seed %d registered", seed)
	}
	msgs := pb.File_userpb_user_proto.Messages()
	for i := range msgs.Len() {
		name := string(msgs.Get(i).Name())
		if msgs.Get(i).Fields().ByName("at") != nil || strings.HasSuffix(name, "Issued") || strings.HasPrefix(name, "TOTP") ||
			name == "RecoveryCodeUsed" {
			assert.Positive(t, kinds[name], "no %s event in any run", name)
		}
	}
	assert.Positive(t, fullRuns, "no run reached %d addresses", MaxAddresses)
	t.Logf("events: %v; %d runs reached %d addresses", kinds, fullRuns, MaxAddresses)
}

// checkInvariants checks the rules on s; deep adds the costlier checks.
func checkInvariants(t *testing.T, s *pb.State, now time.Time, deep bool, where string) {
	t.Helper()
	require.LessOrEqual(t, len(s.Addresses), MaxAddresses, where)
	if len(s.Addresses) > 0 {
		require.Len(t, defaults(s, true), 1, "%s: default shipping", where)
		require.Len(t, defaults(s, false), 1, "%s: default billing", where)
	}
	ids := map[string]bool{}
	for _, a := range s.Addresses {
		if ids[a.Id] || slices.Contains(s.RemovedAddresses, a.Id) {
			require.Failf(t, "address id reused", "%s: %s", where, a.Id)
		}
		ids[a.Id] = true
	}
	require.LessOrEqual(t, len(s.RecentCommands), recentCommandsKept, where)
	if !registered(s) {
		return
	}
	require.Contains(t, s.Roles, RoleCustomer, where)
	require.Equal(t, len(s.Roles), len(slices.Compact(slices.Sorted(slices.Values(s.Roles)))), "%s: roles repeat", where)
	require.Equal(t, s.MfaEnabled, s.TotpSecret != "", where)
	if s.Store != nil {
		require.Contains(t, s.Roles, RoleVendor, "%s: a store without the vendor role", where)
		require.Equal(t, StoreNameKey(s.Store.StoreName), s.StoreNameKey, where)
		_, fe := cleanStoreName(s.Store.StoreName)
		require.Nil(t, fe, "%s: stored store name %q", where, s.Store.StoreName)
		require.False(t, s.Store.JoinedAt.AsTime().After(s.Store.UpdatedAt.AsTime()), where)
		v, ok := vendorView(s)
		require.True(t, ok, where)
		require.Equal(t, VendorView{StoreName: s.Store.StoreName, Description: s.Store.Description, JoinedAt: s.Store.JoinedAt.AsTime()}, v, where)
	} else {
		require.Empty(t, s.StoreNameKey, where)
	}
	checkWishlists(t, s, deep, where)
	// No secret of the state appears anywhere in the view.
	secrets := []string{s.PasswordHash, s.TotpSecret, s.PendingTotpSecret}
	secrets = append(secrets, s.RecoveryCodeHashes...)
	for _, tk := range []*pb.OneTimeToken{s.Verification, s.PasswordReset} {
		secrets = append(secrets, tk.GetTokenHash())
	}
	secrets = append(secrets, s.EmailChange.GetTokenHash())
	view := account(s, 1, now)
	forEachString(view.ProtoReflect(), func(v string) {
		for _, sec := range secrets {
			if sec != "" && strings.Contains(v, sec) {
				require.Failf(t, "the view shows a secret", "%s: %q holds %q", where, v, sec)
			}
		}
	})
	if !deep {
		return
	}
	// The view is a copy: changing it leaves the state alone.
	before := proto.Clone(s)
	for _, a := range view.Addresses {
		a.FullName = "changed"
	}
	view.Roles = append(view.Roles[:0], "changed")
	for _, w := range wishlistsView(s, 1, "").Wishlists {
		w.Name = "changed"
		for _, it := range w.Items {
			it.Sku = "changed"
		}
	}
	require.True(t, proto.Equal(before, s), "%s: the view shares the state's messages", where)
}

// checkWishlists checks the wishlist rules on s: the limits, unique ids and
// names (ignoring case), one item per product, clean stored values, times
// in order; deep adds that the view shows them all as they are.
func checkWishlists(t *testing.T, s *pb.State, deep bool, where string) {
	t.Helper()
	require.LessOrEqual(t, len(s.Wishlists), emporium.MaxWishlists, where)
	ids, keys := map[string]bool{}, map[string]bool{}
	for _, w := range s.Wishlists {
		require.True(t, validKey(w.Id, maxWishlistIDLen, "_-"), "%s: wishlist id %q", where, w.Id)
		require.False(t, ids[w.Id], "%s: wishlist id %s twice", where, w.Id)
		ids[w.Id] = true
		name, fe := cleanWishlistName(w.Name)
		require.Nil(t, fe, "%s: stored name %q", where, w.Name)
		require.Equal(t, name, w.Name, "%s: stored name not trimmed", where)
		require.False(t, keys[WishlistNameKey(w.Name)], "%s: name %q twice", where, w.Name)
		keys[WishlistNameKey(w.Name)] = true
		require.False(t, w.CreatedAt.AsTime().After(w.UpdatedAt.AsTime()), where)
		require.LessOrEqual(t, len(w.Items), emporium.MaxWishlistItems, where)
		products := map[string]bool{}
		for _, it := range w.Items {
			require.NoError(t, CheckWishlistItem(it.ProductId, it.Sku), where)
			require.False(t, products[it.ProductId], "%s: product %s twice in %s", where, it.ProductId, w.Id)
			products[it.ProductId] = true
			require.False(t, it.AddedAt.AsTime().After(w.UpdatedAt.AsTime()), where)
			require.False(t, it.AddedAt.AsTime().Before(w.CreatedAt.AsTime()), where)
		}
	}
	if !deep {
		return
	}
	view := wishlistsView(s, 1, "")
	require.Len(t, view.Wishlists, len(s.Wishlists), where)
	for i, w := range view.Wishlists {
		require.True(t, proto.Equal(s.Wishlists[i], w), where)
	}
}

// forEachString calls fn with every string value in m, nested or repeated.
func forEachString(m protoreflect.Message, fn func(string)) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				if fd.Message() != nil {
					forEachString(l.Get(i).Message(), fn)
				} else if fd.Kind() == protoreflect.StringKind {
					fn(l.Get(i).String())
				}
			}
		case fd.Message() != nil:
			forEachString(v.Message(), fn)
		case fd.Kind() == protoreflect.StringKind:
			fn(v.String())
		}
		return true
	})
}

func commandID(cmd proto.Message) string {
	if c, ok := cmd.(interface{ GetCommandId() string }); ok {
		return c.GetCommandId()
	}
	return ""
}

// randomCommand makes a command as a shell might send it, aimed at the
// state often enough for the happy paths to run.
func randomCommand(r *rand.Rand, s *pb.State, step int, now time.Time) proto.Message {
	id := fmt.Sprintf("c%d", step)
	exp := func(max time.Duration) *timestamppb.Timestamp {
		if r.IntN(10) == 0 {
			return ts(now.Add(-time.Minute)) // refused
		}
		return ts(now.Add(time.Duration(1 + r.Int64N(int64(max)))).Truncate(time.Second))
	}
	pick := func(options ...string) string { return options[r.IntN(len(options))] }
	pendingHash := func() string {
		switch r.IntN(4) {
		case 0:
			return s.GetVerification().GetTokenHash()
		case 1:
			return s.GetEmailChange().GetTokenHash()
		case 2:
			return s.GetPasswordReset().GetTokenHash()
		default:
			return tok(r.IntN(3))
		}
	}
	addressID := func() string {
		if len(s.Addresses) > 0 && r.IntN(4) > 0 {
			return s.Addresses[r.IntN(len(s.Addresses))].Id
		}
		if len(s.RemovedAddresses) > 0 && r.IntN(2) == 0 {
			return s.RemovedAddresses[r.IntN(len(s.RemovedAddresses))]
		}
		return fmt.Sprintf("a%d", r.IntN(1000))
	}
	randomFields := func() *pb.AddressFields {
		f := fields(pick("Home", "Work", "Cabin"))
		f.Country = pick("us", "DE", "fr")
		f.PostalCode = pick("12345", "SW1A 1AA")
		f.Phone = pick("", "+14155550123")
		switch r.IntN(12) { // now and then, one bad field
		case 0:
			f.FullName = ""
		case 1:
			f.Country = "UK"
		case 2:
			f.PostalCode = "1"
		case 3:
			f.Phone = "555"
		}
		for _, flag := range []**wrapperspb.BoolValue{&f.IsDefaultShipping, &f.IsDefaultBilling} {
			switch r.IntN(3) {
			case 0:
				*flag = wrapperspb.Bool(true)
			case 1:
				*flag = wrapperspb.Bool(false)
			}
		}
		return f
	}
	if !registered(s) && r.IntN(3) > 0 {
		return &pb.RegisterRequest{CommandId: id, Username: "user_" + id, Email: id + "@example.com", PasswordHash: pw1,
			VerifyTokenHash: tok(1000 + step), VerifyExpiresAt: exp(MaxVerificationTTL)}
	}
	wishlistID := func() string {
		if len(s.Wishlists) > 0 && r.IntN(5) > 0 {
			return s.Wishlists[r.IntN(len(s.Wishlists))].Id
		}
		return fmt.Sprintf("w%d", r.IntN(1000))
	}
	wishlistName := func() string {
		return pick("Gifts", "GIFTS ", "Kitchen", " Books", "Zoë's", "Zoë's 2", "", strings.Repeat("n", MaxWishlistName+1))
	}
	productID := func() string { return pick("p1", "p2", "p3", "p4", "p5", "p6", "p 7", "") }
	switch r.IntN(32) {
	case 0:
		return &pb.RegisterRequest{CommandId: id, Username: "again", Email: "again@example.com", PasswordHash: pw1,
			VerifyTokenHash: tok(step), VerifyExpiresAt: exp(MaxVerificationTTL)}
	case 1:
		return &pb.IssueVerificationRequest{CommandId: id, TokenHash: tok(1000 + step), ExpiresAt: exp(MaxVerificationTTL)}
	case 2, 3:
		return &pb.VerifyEmailRequest{CommandId: id, TokenHash: pendingHash()}
	case 4:
		return &pb.StartPasswordResetRequest{CommandId: id, TokenHash: tok(1000 + step), ExpiresAt: exp(MaxResetTTL)}
	case 5:
		return &pb.ResetPasswordRequest{CommandId: id, TokenHash: pendingHash(), PasswordHash: pick(pw1, pw2, "plain")}
	case 6:
		return &pb.ChangePasswordRequest{CommandId: id, CurrentPasswordOk: r.IntN(3) > 0, PasswordHash: pick(pw1, pw2)}
	case 7:
		c := &pb.UpdateProfileRequest{CommandId: id}
		if r.IntN(2) == 0 {
			c.Name = wrapperspb.String(pick("", "Ann", strings.Repeat("n", 101)))
		}
		if r.IntN(2) == 0 {
			c.Phone = wrapperspb.String(pick("", "+442079460958", "12"))
		}
		return c
	case 8:
		return &pb.RequestEmailChangeRequest{CommandId: id, NewEmail: pick("new@example.com", s.Email, "bad"),
			TokenHash: tok(1000 + step), ExpiresAt: exp(MaxVerificationTTL)}
	case 9:
		return &pb.BeginTOTPRequest{CommandId: id, Secret: pick(secret, "ABCDEFGHIJKLMNOP", "bad")}
	case 10:
		return &pb.ConfirmTOTPRequest{CommandId: id, CodeStep: s.LastStep + int64(r.IntN(3)), CodeOk: r.IntN(4) > 0,
			RecoveryCodeHashes: recoveryHashes(r.IntN(11))}
	case 11, 12:
		return &pb.UseTOTPRequest{CommandId: id, Step: s.LastStep + int64(r.IntN(4)) - 1}
	case 13:
		return &pb.UseRecoveryCodeRequest{CommandId: id, Index: int32(r.IntN(12)) - 1}
	case 14:
		return &pb.DisableTOTPRequest{CommandId: id, PasswordOk: r.IntN(4) > 0, CodeOk: r.IntN(4) > 0,
			CodeStep: s.LastStep + int64(r.IntN(3))}
	case 15, 16, 17:
		aid := fmt.Sprintf("a%d", step)
		if r.IntN(8) == 0 {
			aid = addressID()
		}
		return &pb.AddAddressRequest{CommandId: id, AddressId: aid, Address: randomFields()}
	case 18:
		return &pb.UpdateAddressRequest{AddressId: addressID(), Address: randomFields()}
	case 19:
		return &pb.RemoveAddressRequest{AddressId: addressID()}
	case 20:
		return &pb.GrantRoleRequest{CommandId: id, Role: pick(RoleCustomer, RoleVendor, RoleAdmin, "root")}
	case 21, 22:
		if s.Store != nil && r.IntN(3) == 0 { // the same values again
			return becomeVendor(id, " "+s.Store.StoreName, s.Store.Description)
		}
		return becomeVendor(id, pick("Acme", "ACME", "Acme Tools", "Zoë's", "x", ""), pick("", "Tools.", "bell\a"))
	case 23, 24:
		wid := fmt.Sprintf("w%d", step)
		if r.IntN(8) == 0 {
			wid = wishlistID()
		}
		return createWishlist(id, wid, wishlistName())
	case 25:
		return renameWishlist(id, wishlistID(), wishlistName())
	case 26:
		wid := fmt.Sprintf("w%d", r.IntN(1000))
		if r.IntN(3) == 0 { // rarely, so that lists grow
			wid = wishlistID()
		}
		return &pb.DeleteWishlistRequest{CommandId: id, WishlistId: wid}
	case 27, 28, 29:
		return addWishlistItem(id, wishlistID(), productID(), pick("", "SKU-1", "SKU-2", "bad sku"))
	case 30:
		return removeWishlistItem(id, wishlistID(), productID())
	case 31:
		return &pb.GetWishlistsRequest{WishlistId: pick("", wishlistID())}
	default:
		return &pb.GetRequest{}
	}
}
