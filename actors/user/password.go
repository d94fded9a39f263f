package user

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/auth"
	"github.com/emporium-shop/emporium/mail"
	sessionpb "github.com/emporium-shop/emporium/protos/sessionpb"
	pb "github.com/emporium-shop/emporium/protos/userpb"
	"github.com/emporium-shop/emporium/ratelimit"
)

// ForgotPassword implements emporium.Accounts.
func (s *Service) ForgotPassword(ctx context.Context, email string, client emporium.Client) error {
	key := EmailKey(email)
	// The address asking is limited too (ResetMailsPerIP), before the
	// per-address count, so that one place cannot flood many inboxes. A
	// well-formed request is counted whatever the email names.
	if err := CheckEmail("email", email); err != nil {
		return err
	}
	d, err := s.cfg.Limiter.Hit(ctx, s.cfg.Limits.ResetMailsPerIP, cleanIP(client.IP))
	if err != nil {
		return emporium.Wrap("user.Service.ForgotPassword", err)
	}
	if !d.Allowed {
		return rateLimited(d)
	}
	return s.mailToken(ctx, email, tokenMail{
		op:    "user.Service.ForgotPassword",
		limit: s.cfg.Limits.ResetMailsPerAccount,
		kind:  auth.TokenReset, ttl: ResetTTL, path: "/reset-password",
		issue: func(ctx context.Context, acc *pb.Account, hash string, expires *timestamppb.Timestamp) (*pb.Account, error) {
			acc, err := s.users(acc.Id).StartPasswordReset(&pb.StartPasswordResetRequest{
				CommandId: s.cfg.NewID(), TokenHash: hash, ExpiresAt: expires,
			}, actors.Within(ctx, s.cfg.Cluster))
			// The address may have changed meanwhile: the link goes to
			// the address asked for, or nowhere.
			if err != nil || EmailKey(acc.Email) != key {
				return nil, err
			}
			return acc, nil
		},
		mail: func(acc *pb.Account, link string) mail.Message {
			return mail.ResetPassword(acc.Email, acc.Username, link)
		},
	})
}

// ResetPassword implements emporium.Accounts.
func (s *Service) ResetPassword(ctx context.Context, token, password string, client emporium.Client) error {
	const op = "user.Service.ResetPassword"
	id, hash, err := s.tokenOwner(ctx, op, auth.TokenReset, token)
	if err != nil {
		return err
	}
	acc, err := s.users(id).Get(&pb.GetRequest{}, actors.Within(ctx, s.cfg.Cluster))
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
	if _, err := s.sessions(id).RevokeAll(&sessionpb.RevokeAllRequest{CommandId: "reset:" + hash[:32], Reason: "password_reset"}, actors.Within(ctx, s.cfg.Cluster)); err != nil {
		return emporium.GrainCall(op, err)
	}
	if _, err := s.users(id).ResetPassword(&pb.ResetPasswordRequest{CommandId: "reset:" + hash[:32], TokenHash: hash, PasswordHash: pwHash}, actors.Within(ctx, s.cfg.Cluster)); err != nil {
		return emporium.GrainCall(op, err)
	}
	s.dropToken(ctx, auth.TokenReset, hash)
	// The address hears of it, with the time: a reset the owner did not ask
	// for means someone else reads their mail or had the link.
	notice := passwordChangedNotice(acc.Email, acc.Username, s.cfg.PublicURL, s.now())
	s.background(op, func(ctx context.Context) error { return s.send(ctx, notice) })
	// Whoever completed the reset proved control of the email: the failed
	// logins that locked the account (the guesser's, maybe) no longer hold
	// the owner back, from everywhere (the account's window) and from
	// where the reset came (the account+address window; those of other
	// addresses hold only those addresses, and pass with their window).
	// The per-address window across accounts is the address's, not the
	// account's, and stays. A failure is logged: the reset itself is done.
	key := EmailKey(acc.Email)
	for _, c := range []struct {
		w   ratelimit.Counter
		ids []string
	}{{s.cfg.Limits.FailedLoginsPerAccountIP, []string{key, cleanIP(client.IP)}}, {s.cfg.Limits.FailedLoginsPerAccount, []string{key}}} {
		if err := s.cfg.Limiter.Reset(ctx, c.w, c.ids...); err != nil {
			s.cfg.Logger.Warn("accounts: clearing failed logins after a reset failed", slog.Any("error", err))
		}
	}
	return nil
}

// noticeTime says when a change happened, in a mail: UTC, to the minute.
func noticeTime(at time.Time) string { return at.UTC().Format("Monday, 2 January 2006 at 15:04 MST") }

// passwordChangedNotice tells the account's address that its password was
// changed, when, and what to do if that was not the owner (mail has no
// template for it: a short text mail, like emailChangeNotice).
func passwordChangedNotice(to, name, publicURL string, at time.Time) mail.Message {
	hello := "Hello,"
	if name != "" {
		hello = "Hello " + name + ","
	}
	text := hello + "\n\nThe password of your Emporium account was changed on " + noticeTime(at) + ". " +
		"Every session of the account was ended.\n\n" +
		"If this was you, there is nothing to do. If it was not you, someone can read your email or had your " +
		"reset link: secure your email account first, then choose a new password with \"Forgot password\" at " +
		publicURL + " and check the account's email address and two-factor settings.\n"
	return mail.Message{To: to, Subject: "Your password was changed", Text: text}
}
