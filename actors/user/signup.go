package user

import (
	"context"
	"errors"
	"log/slog"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
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
	ukey, ekey := UsernameKey(in.Username), EmailKey(in.Email)
	if err := s.claim(ctx, UsernamesCollection, ukey, id); err != nil {
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
	})
	if err != nil {
		s.release(ctx, EmailsCollection, ekey, id)
		s.release(ctx, UsernamesCollection, ukey, id)
		return emporium.GrainCall(op, err)
	}
	if err := s.cfg.Redis.Set(ctx, s.verifyKey(hash), id, VerifyTTL).Err(); err != nil {
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

// mailLink sends, in the background, the mail that build makes around the
// link to path with token.
func (s *Service) mailLink(op, path, token string, build func(link string) mail.Message) {
	s.background(op, func(ctx context.Context) error {
		link, err := s.link(path, token)
		if err != nil {
			return err
		}
		return s.send(ctx, build(link))
	})
}

// tokenOwner finds the user a one-time token (from a mailed link) was made
// for, through its index in Redis; key names the index of the token's kind.
// It answers the token's hash too, which the grain checks itself.
func (s *Service) tokenOwner(ctx context.Context, op, token string, key func(hash string) string) (userID, hash string, err error) {
	if token == "" || len(token) > 256 {
		return "", "", invalidToken()
	}
	hash = auth.HashToken(token)
	userID, err = s.cfg.Redis.Get(ctx, key(hash)).Result()
	if errors.Is(err, redis.Nil) {
		return "", "", invalidToken()
	}
	if err != nil {
		return "", "", unavailable(op, err)
	}
	return userID, hash, nil
}

// VerifyEmail implements emporium.Accounts.
func (s *Service) VerifyEmail(ctx context.Context, token string) error {
	const op = "user.Service.VerifyEmail"
	id, hash, err := s.tokenOwner(ctx, op, token, s.verifyKey)
	if err != nil {
		return err
	}
	before, err := s.users(id).Get(&pb.GetRequest{})
	if err != nil {
		return emporium.GrainCall(op, err)
	}
	after, err := s.users(id).VerifyEmail(&pb.VerifyEmailRequest{CommandId: s.cfg.NewID(), TokenHash: hash})
	if err != nil {
		return emporium.GrainCall(op, err)
	}
	if err := s.cfg.Redis.Del(ctx, s.verifyKey(hash)).Err(); err != nil {
		s.cfg.Logger.Warn("accounts: dropping a used token failed", slog.Any("error", err))
	}
	if old := EmailKey(before.Email); old != EmailKey(after.Email) {
		s.release(ctx, EmailsCollection, old, id)
	}
	return nil
}

// ResendVerification implements emporium.Accounts.
func (s *Service) ResendVerification(ctx context.Context, email string, client emporium.Client) error {
	const op = "user.Service.ResendVerification"
	if err := CheckEmail("email", email); err != nil {
		return err
	}
	d, err := s.cfg.Limiter.Hit(ctx, s.cfg.Limits.VerifyMailsPerAccount, EmailKey(email))
	if err != nil {
		return emporium.Wrap(op, err)
	}
	if !d.Allowed {
		return rateLimited(d)
	}
	s.background(op, func(ctx context.Context) error {
		acc, err := s.ownerOf(ctx, email)
		if emporium.IsCode(err, emporium.ENOTFOUND) || err == nil && acc.EmailVerified {
			return nil
		}
		if err != nil {
			return err
		}
		plain, hash, err := auth.NewToken()
		if err != nil {
			return err
		}
		acc, err = s.users(acc.Id).IssueVerification(&pb.IssueVerificationRequest{
			CommandId: s.cfg.NewID(), TokenHash: hash, ExpiresAt: timestamppb.New(s.now().Add(VerifyTTL)),
		})
		if err != nil {
			return emporium.GrainCall(op, err)
		}
		if acc.EmailVerified {
			return nil
		}
		if err := s.cfg.Redis.Set(ctx, s.verifyKey(hash), acc.Id, VerifyTTL).Err(); err != nil {
			return unavailable(op, err)
		}
		link, err := s.link("/verify-email", plain)
		if err != nil {
			return err
		}
		return s.send(ctx, mail.VerifyEmail(acc.Email, acc.Username, link))
	})
	return nil
}
