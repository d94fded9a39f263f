package user

import (
	"context"
	"log/slog"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/auth"
	"github.com/emporium-shop/emporium/mail"
	sessionpb "github.com/emporium-shop/emporium/protos/sessionpb"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// ForgotPassword implements emporium.Accounts.
func (s *Service) ForgotPassword(ctx context.Context, email string, client emporium.Client) error {
	const op = "user.Service.ForgotPassword"
	if err := CheckEmail("email", email); err != nil {
		return err
	}
	key := EmailKey(email)
	d, err := s.cfg.Limiter.Hit(ctx, s.cfg.Limits.ResetMailsPerAccount, key)
	if err != nil {
		return emporium.Wrap(op, err)
	}
	if !d.Allowed {
		return rateLimited(d)
	}
	s.background(op, func(ctx context.Context) error {
		acc, err := s.ownerOf(ctx, email)
		if emporium.IsCode(err, emporium.ENOTFOUND) {
			return nil
		}
		if err != nil {
			return err
		}
		plain, hash, err := auth.NewToken()
		if err != nil {
			return err
		}
		acc, err = s.users(acc.Id).StartPasswordReset(&pb.StartPasswordResetRequest{
			CommandId: s.cfg.NewID(), TokenHash: hash, ExpiresAt: timestamppb.New(s.now().Add(ResetTTL)),
		})
		if err != nil {
			return emporium.GrainCall(op, err)
		}
		if EmailKey(acc.Email) != key {
			return nil
		}
		if err := s.cfg.Redis.Set(ctx, s.resetKey(hash), acc.Id, ResetTTL).Err(); err != nil {
			return unavailable(op, err)
		}
		link, err := s.link("/reset-password", plain)
		if err != nil {
			return err
		}
		return s.send(ctx, mail.ResetPassword(acc.Email, acc.Username, link))
	})
	return nil
}

// ResetPassword implements emporium.Accounts.
func (s *Service) ResetPassword(ctx context.Context, token, password string) error {
	const op = "user.Service.ResetPassword"
	id, hash, err := s.tokenOwner(ctx, op, token, s.resetKey)
	if err != nil {
		return err
	}
	acc, err := s.users(id).Get(&pb.GetRequest{})
	if err != nil {
		return emporium.GrainCall(op, err)
	}
	if err := auth.CheckPassword(password, acc.Username, acc.Email); err != nil {
		return err
	}
	pwHash, err := auth.HashPassword(password)
	if err != nil {
		return emporium.Wrap(op, err)
	}
	// Sessions end first and the commands are named after the token, so a
	// reset that fails halfway can be retried with the same link: an
	// attacker's sessions never outlive a reset the user believes failed.
	if _, err := s.sessions(id).RevokeAll(&sessionpb.RevokeAllRequest{CommandId: "reset:" + hash[:32], Reason: "password_reset"}); err != nil {
		return emporium.GrainCall(op, err)
	}
	if _, err := s.users(id).ResetPassword(&pb.ResetPasswordRequest{CommandId: "reset:" + hash[:32], TokenHash: hash, PasswordHash: pwHash}); err != nil {
		return emporium.GrainCall(op, err)
	}
	if err := s.cfg.Redis.Del(ctx, s.resetKey(hash)).Err(); err != nil {
		s.cfg.Logger.Warn("accounts: dropping a used token failed", slog.Any("error", err))
	}
	return nil
}
