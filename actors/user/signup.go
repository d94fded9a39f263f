package user

import (
	"context"
	"log/slog"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/auth"
	"github.com/emporium-shop/emporium/mail"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// Signup implements emporium.Accounts.
func (s *Service) Signup(ctx context.Context, in emporium.Signup) error {
	const op = "user.Service.Signup"
	if err := joinFields(CheckUsername(in.Username), CheckEmail("email", in.Email),
		auth.CheckPassword(in.Password, in.Username, in.Email)); err != nil {
		return err
	}
	pwHash, err := auth.HashPassword(in.Password)
	if err != nil {
		return emporium.Wrap(op, err)
	}
	id := s.cfg.NewID()
	plain, hash, err := auth.NewToken()
	if err != nil {
		return emporium.Wrap(op, err)
	}
	ekey := EmailKey(in.Email)
	ukey, err := s.claimUsername(ctx, in.Username, id)
	if err != nil {
		if emporium.IsCode(err, emporium.ECONFLICT) {
			return emporium.Invalidf("username", emporium.FieldTaken, "this username is taken")
		}
		return emporium.Wrap(op, err)
	}
	if err := s.claim(ctx, EmailsCollection, ekey, id); err != nil {
		s.release(ctx, UsernamesCollection, ukey, id)
		if !emporium.IsCode(err, emporium.ECONFLICT) {
			return emporium.Wrap(op, err)
		}
		// The address has an account: tell its owner, answer as if the
		// signup went through (no enumeration).
		to := in.Email
		s.background(op, func(ctx context.Context) error {
			return s.send(ctx, s.signupAttemptMail(to))
		})
		return nil
	}
	now := s.now()
	acc, err := s.users(id).Register(&pb.RegisterRequest{
		CommandId: "register:" + id, Username: in.Username, Email: in.Email, PasswordHash: pwHash,
		VerifyTokenHash: hash, VerifyExpiresAt: timestamppb.New(now.Add(VerifyTTL)),
	}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		s.release(ctx, EmailsCollection, ekey, id)
		s.release(ctx, UsernamesCollection, ukey, id)
		return emporium.GrainCall(op, err)
	}
	if err := s.indexToken(ctx, op, auth.TokenVerify, hash, id, VerifyTTL); err != nil {
		// The account exists; a resend gives the user a working link.
		s.cfg.Logger.Warn("accounts: indexing a verification token failed", slog.Any("error", err))
		return nil
	}
	s.mailLink(op, "/verify-email", plain, func(link string) mail.Message {
		return mail.VerifyEmail(acc.Email, acc.Username, link)
	})
	return nil
}

// signupAttemptMail tells the owner of an address that someone tried to
// sign up with it (mail has no template for it: a short text mail).
func (s *Service) signupAttemptMail(to string) mail.Message {
	text := "Someone tried to create an account with this email address, which already has one.\n\n" +
		"If it was you, sign in instead, or reset your password if you forgot it. " +
		"If it was not you, you can ignore this mail: nothing has changed.\n"
	return mail.Message{To: to, Subject: "Sign-up attempt with your email address", Text: text}
}

// VerifyEmail implements emporium.Accounts.
func (s *Service) VerifyEmail(ctx context.Context, token string) error {
	const op = "user.Service.VerifyEmail"
	id, hash, err := s.tokenOwner(ctx, op, auth.TokenVerify, token)
	if err != nil {
		return err
	}
	before, err := s.users(id).Get(&pb.GetRequest{}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.GrainCall(op, err)
	}
	after, err := s.users(id).VerifyEmail(&pb.VerifyEmailRequest{CommandId: s.cfg.NewID(), TokenHash: hash}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.GrainCall(op, err)
	}
	s.dropToken(ctx, auth.TokenVerify, hash)
	if old := EmailKey(before.Email); old != EmailKey(after.Email) {
		s.release(ctx, EmailsCollection, old, id)
	}
	return nil
}

// ResendVerification implements emporium.Accounts.
func (s *Service) ResendVerification(ctx context.Context, email string, client emporium.Client) error {
	return s.mailToken(ctx, email, tokenMail{
		op:    "user.Service.ResendVerification",
		limit: s.cfg.Limits.VerifyMailsPerAccount,
		kind:  auth.TokenVerify, ttl: VerifyTTL, path: "/verify-email",
		issue: func(ctx context.Context, acc *pb.Account, hash string, expires *timestamppb.Timestamp) (*pb.Account, error) {
			if acc.EmailVerified {
				return nil, nil
			}
			acc, err := s.users(acc.Id).IssueVerification(&pb.IssueVerificationRequest{
				CommandId: s.cfg.NewID(), TokenHash: hash, ExpiresAt: expires,
			}, actors.Within(ctx, s.cfg.Cluster))
			if err != nil || acc.EmailVerified {
				return nil, err
			}
			return acc, nil
		},
		mail: func(acc *pb.Account, link string) mail.Message {
			return mail.VerifyEmail(acc.Email, acc.Username, link)
		},
	})
}
