package user

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// TestDecidePassword checks decide on StartPasswordReset, ResetPassword and ChangePassword.
func TestDecidePassword(t *testing.T) {
	runDecide(t, []decideCase{
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
			errCode: emporium.EINVALID, field: "expires_at", fieldCode: emporium.FieldOutOfRange},

		// ResetPassword.
		{name: "reset password", given: with(changing, resetting[len(resetting)-1]),
			cmd:  &pb.ResetPasswordRequest{CommandId: "rp", TokenHash: tok(4), PasswordHash: pw2},
			want: []proto.Message{&pb.PasswordChanged{CommandId: "rp", PasswordHash: pw2, ByReset: true, At: at0}},
			check: func(t *testing.T, s *pb.State) {
				assert.Equal(t, pw2, s.PasswordHash)
				assert.Nil(t, s.PasswordReset, "the token is single-use")
				assert.Nil(t, s.EmailChange, "a reset cancels a pending email change")
				assert.Equal(t, at0.AsTime(), s.PasswordChangedAt.AsTime())
			}},
		{name: "reset password verifies the email",
			given: with(unverified, &pb.PasswordResetIssued{CommandId: "pr", TokenHash: tok(4), ExpiresAt: ts(t0.Add(time.Hour))}),
			cmd:   &pb.ResetPasswordRequest{CommandId: "rp", TokenHash: tok(4), PasswordHash: pw2},
			want: []proto.Message{
				&pb.PasswordChanged{CommandId: "rp", PasswordHash: pw2, ByReset: true, At: at0},
				&pb.EmailVerified{At: at0},
			},
			check: func(t *testing.T, s *pb.State) {
				assert.True(t, s.EmailVerified)
				assert.Nil(t, s.Verification)
			}},
		{name: "reset password retried",
			given: with(resetting, &pb.PasswordChanged{CommandId: "rp", PasswordHash: pw2, ByReset: true, At: at0}),
			cmd:   &pb.ResetPasswordRequest{CommandId: "rp", TokenHash: tok(4), PasswordHash: pw2}},
		{name: "reset password with a used token",
			given:   with(resetting, &pb.PasswordChanged{CommandId: "rp", PasswordHash: pw2, ByReset: true, At: at0}),
			cmd:     &pb.ResetPasswordRequest{CommandId: "rp2", TokenHash: tok(4), PasswordHash: pw1},
			errCode: emporium.EINVALID, field: "token", fieldCode: emporium.FieldInvalidOrExpired},
		{name: "reset password with a wrong token", given: resetting,
			cmd:     &pb.ResetPasswordRequest{CommandId: "rp", TokenHash: tok(5), PasswordHash: pw2},
			errCode: emporium.EINVALID, field: "token", fieldCode: emporium.FieldInvalidOrExpired},
		{name: "reset password without a reset", given: verified,
			cmd:     &pb.ResetPasswordRequest{CommandId: "rp", TokenHash: tok(4), PasswordHash: pw2},
			errCode: emporium.EINVALID, field: "token", fieldCode: emporium.FieldInvalidOrExpired},
		{name: "reset password after a password change",
			given:   with(resetting, &pb.PasswordChanged{CommandId: "cp", PasswordHash: pw2, At: at0}),
			cmd:     &pb.ResetPasswordRequest{CommandId: "rp", TokenHash: tok(4), PasswordHash: pw1},
			errCode: emporium.EINVALID, field: "token", fieldCode: emporium.FieldInvalidOrExpired},
		{name: "reset password with a plain password", given: resetting,
			cmd:     &pb.ResetPasswordRequest{CommandId: "rp", TokenHash: tok(4), PasswordHash: "correct horse"},
			errCode: emporium.EINVALID, field: "password_hash", fieldCode: emporium.FieldInvalid},

		// ChangePassword.
		{name: "change password", given: verified,
			cmd:  &pb.ChangePasswordRequest{CommandId: "cp", CurrentPasswordOk: true, PasswordHash: pw2},
			want: []proto.Message{&pb.PasswordChanged{CommandId: "cp", PasswordHash: pw2, At: at0}}},
		{name: "change password with a wrong current password", given: verified,
			cmd:     &pb.ChangePasswordRequest{CommandId: "cp", PasswordHash: pw2},
			errCode: emporium.EUNAUTHENTICATED, field: "current_password", fieldCode: emporium.FieldInvalid},
		{name: "change password retried", given: with(verified, &pb.PasswordChanged{CommandId: "cp", PasswordHash: pw2, At: at0}),
			cmd: &pb.ChangePasswordRequest{CommandId: "cp", CurrentPasswordOk: true, PasswordHash: pw2}},
		{name: "change password to a plain password", given: verified,
			cmd:     &pb.ChangePasswordRequest{CommandId: "cp", CurrentPasswordOk: true, PasswordHash: ""},
			errCode: emporium.EINVALID, field: "password_hash"},
	})
}
