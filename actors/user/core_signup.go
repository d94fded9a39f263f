package user

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

func decideRegister(s *pb.State, c *pb.RegisterRequest, now time.Time) ([]proto.Message, error) {
	if registered(s) {
		if c.CommandId == s.RegisteredBy {
			return nil, nil
		}
		return nil, emporium.Errorf(emporium.ECONFLICT, "the account already exists")
	}
	var errs []emporium.FieldError
	if fe, ok := usernameError(c.Username); !ok {
		errs = append(errs, fe)
	}
	if fe, ok := emailError("email", c.Email); !ok {
		errs = append(errs, fe)
	}
	errs = append(errs, passwordHashErrors(c.PasswordHash)...)
	errs = append(errs, tokenErrors("verify_token_hash", "verify_expires_at", c.VerifyTokenHash, c.VerifyExpiresAt, now, MaxVerificationTTL)...)
	if len(errs) > 0 {
		return nil, emporium.InvalidFields(errs...)
	}
	return []proto.Message{&pb.Registered{
		CommandId:       c.CommandId,
		Username:        c.Username,
		UsernameKey:     UsernameKey(c.Username),
		Email:           c.Email,
		EmailKey:        EmailKey(c.Email),
		PasswordHash:    c.PasswordHash,
		VerifyTokenHash: c.VerifyTokenHash,
		VerifyExpiresAt: c.VerifyExpiresAt,
		At:              timestamppb.New(now),
	}}, nil
}

func decideIssueVerification(s *pb.State, c *pb.IssueVerificationRequest, now time.Time) ([]proto.Message, error) {
	if errs := tokenErrors("token_hash", "expires_at", c.TokenHash, c.ExpiresAt, now, MaxVerificationTTL); len(errs) > 0 {
		return nil, emporium.InvalidFields(errs...)
	}
	if s.EmailVerified {
		// Nothing to verify; the caller answers as if a mail went out, so
		// that resending tells no one whether the account is verified.
		return nil, nil
	}
	return []proto.Message{&pb.VerificationIssued{
		CommandId: c.CommandId, TokenHash: c.TokenHash, ExpiresAt: c.ExpiresAt,
	}}, nil
}

func decideVerifyEmail(s *pb.State, c *pb.VerifyEmailRequest, now time.Time) ([]proto.Message, error) {
	// Both candidates are compared every time, so the time taken does not
	// tell which token was pending.
	change := s.EmailChange != nil && sameHash(s.EmailChange.TokenHash, c.TokenHash)
	change = change && live(s.EmailChange.ExpiresAt, now)
	signup := s.Verification != nil && sameHash(s.Verification.TokenHash, c.TokenHash)
	signup = signup && live(s.Verification.ExpiresAt, now)
	at := timestamppb.New(now)
	switch {
	case change:
		return []proto.Message{&pb.EmailChanged{
			CommandId: c.CommandId, NewEmail: s.EmailChange.Email, NewEmailKey: s.EmailChange.EmailKey, At: at,
		}}, nil
	case signup:
		return []proto.Message{&pb.EmailVerified{CommandId: c.CommandId, At: at}}, nil
	default:
		return nil, invalidToken()
	}
}
