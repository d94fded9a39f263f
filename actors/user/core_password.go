package user

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

func decideStartPasswordReset(s *pb.State, c *pb.StartPasswordResetRequest, now time.Time) ([]proto.Message, error) {
	if errs := tokenErrors("token_hash", "expires_at", c.TokenHash, c.ExpiresAt, now, MaxResetTTL); len(errs) > 0 {
		return nil, emporium.InvalidFields(errs...)
	}
	return []proto.Message{&pb.PasswordResetIssued{
		CommandId: c.CommandId, TokenHash: c.TokenHash, ExpiresAt: c.ExpiresAt,
	}}, nil
}

func decideResetPassword(s *pb.State, c *pb.ResetPasswordRequest, now time.Time) ([]proto.Message, error) {
	r := s.PasswordReset
	if r == nil || !sameHash(r.TokenHash, c.TokenHash) || !live(r.ExpiresAt, now) {
		return nil, invalidToken()
	}
	if errs := passwordHashErrors(c.PasswordHash); len(errs) > 0 {
		return nil, emporium.InvalidFields(errs...)
	}
	at := timestamppb.New(now)
	events := []proto.Message{&pb.PasswordChanged{
		CommandId: c.CommandId, PasswordHash: c.PasswordHash, ByReset: true, At: at,
	}}
	if !s.EmailVerified {
		// The reset link reached the account's mailbox: that proves the
		// address as well as a verification link would.
		events = append(events, &pb.EmailVerified{At: at})
	}
	return events, nil
}

func decideChangePassword(s *pb.State, c *pb.ChangePasswordRequest, now time.Time) ([]proto.Message, error) {
	if !c.CurrentPasswordOk {
		return nil, unauthenticated(emporium.Field("current_password", emporium.FieldInvalid, "the current password is wrong"))
	}
	if errs := passwordHashErrors(c.PasswordHash); len(errs) > 0 {
		return nil, emporium.InvalidFields(errs...)
	}
	return []proto.Message{&pb.PasswordChanged{
		CommandId: c.CommandId, PasswordHash: c.PasswordHash, At: timestamppb.New(now),
	}}, nil
}
