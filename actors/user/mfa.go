package user

import (
	"context"
	"time"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/auth"
	"github.com/emporium-shop/emporium/mail"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// BeginTOTP implements emporium.Accounts.
func (s *Service) BeginTOTP(ctx context.Context, p emporium.Principal, password string) (emporium.TOTPEnrollment, error) {
	const op = "user.Service.BeginTOTP"
	if err := needPrincipal(p); err != nil {
		return emporium.TOTPEnrollment{}, err
	}
	if err := s.confirmPassword(ctx, p.UserID, password, "password"); err != nil {
		return emporium.TOTPEnrollment{}, err
	}
	acc, err := s.users(p.UserID).Get(&pb.GetRequest{}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.TOTPEnrollment{}, emporium.GrainCall(op, err)
	}
	if acc.MfaEnabled {
		return emporium.TOTPEnrollment{}, emporium.Errorf(emporium.ECONFLICT, "two-factor authentication is already enabled; disable it first")
	}
	secret, url, err := auth.NewTOTP(s.cfg.TOTPIssuer, acc.Email)
	if err != nil {
		return emporium.TOTPEnrollment{}, emporium.Wrap(op, err)
	}
	if _, err := s.users(p.UserID).BeginTOTP(&pb.BeginTOTPRequest{CommandId: s.cfg.NewID(), Secret: secret}, actors.Within(ctx, s.cfg.Cluster)); err != nil {
		return emporium.TOTPEnrollment{}, emporium.GrainCall(op, err)
	}
	return emporium.TOTPEnrollment{Secret: secret, OTPAuthURL: url}, nil
}

// totpTry counts one code tried by the user.
func (s *Service) totpTry(ctx context.Context, userID string) error {
	d, err := s.cfg.Limiter.Hit(ctx, s.cfg.Limits.TOTPTries, userID)
	if err != nil {
		return emporium.Wrap("user.Service.totpTry", err)
	}
	if !d.Allowed {
		return rateLimited(d)
	}
	return nil
}

// checkCode checks a TOTP code: its step and whether it matched. Only a
// damaged secret is an error.
func (s *Service) checkCode(secret, code string, last int64) (int64, bool, error) {
	step, err := auth.CheckTOTP(secret, code, s.now(), last)
	if emporium.IsCode(err, emporium.EUNAUTHENTICATED) {
		return 0, false, nil
	}
	return step, err == nil, err
}

// ConfirmTOTP implements emporium.Accounts.
func (s *Service) ConfirmTOTP(ctx context.Context, p emporium.Principal, code string) ([]string, error) {
	const op = "user.Service.ConfirmTOTP"
	if err := needPrincipal(p); err != nil {
		return nil, err
	}
	if err := s.totpTry(ctx, p.UserID); err != nil {
		return nil, err
	}
	creds, err := s.users(p.UserID).GetCredentials(&pb.GetCredentialsRequest{}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return nil, emporium.GrainCall(op, err)
	}
	if creds.MfaEnabled {
		return nil, emporium.Errorf(emporium.ECONFLICT, "two-factor authentication is already enabled")
	}
	if creds.PendingTotpSecret == "" {
		return nil, emporium.Errorf(emporium.ECONFLICT, "no two-factor enrolment is pending; start one first")
	}
	step, ok, err := s.checkCode(creds.PendingTotpSecret, code, 0)
	if err != nil {
		return nil, emporium.Wrap(op, err)
	}
	if !ok {
		return nil, invalidCode()
	}
	plain, hashes, err := auth.NewRecoveryCodes(RecoveryCodes)
	if err != nil {
		return nil, emporium.Wrap(op, err)
	}
	if _, err := s.users(p.UserID).ConfirmTOTP(&pb.ConfirmTOTPRequest{
		CommandId: s.cfg.NewID(), CodeStep: step, CodeOk: ok, RecoveryCodeHashes: hashes,
	}, actors.Within(ctx, s.cfg.Cluster)); err != nil {
		return nil, emporium.GrainCall(op, err)
	}
	return plain, nil
}

// confirmPassword checks the account's password before a change that a
// stolen session must not be able to make alone (email, MFA enrolment).
// Tries share the TOTP window, so the password cannot be guessed at speed
// through these routes either. A wrong password is validation_failed on
// field, not unauthenticated: the session itself is fine.
func (s *Service) confirmPassword(ctx context.Context, userID, password, field string) error {
	const op = "user.Service.confirmPassword"
	if password == "" {
		return emporium.Invalidf(field, emporium.FieldRequired, "%s is required for this change", field)
	}
	if err := s.totpTry(ctx, userID); err != nil {
		return err
	}
	creds, err := s.users(userID).GetCredentials(&pb.GetCredentialsRequest{}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.GrainCall(op, err)
	}
	ok, err := auth.VerifyPassword(creds.PasswordHash, password)
	if err != nil {
		return emporium.Wrap(op, err)
	}
	if !ok {
		return emporium.Invalidf(field, emporium.FieldInvalid, "the password is not right")
	}
	return nil
}

// DisableTOTP implements emporium.Accounts.
func (s *Service) DisableTOTP(ctx context.Context, p emporium.Principal, password, code string) error {
	const op = "user.Service.DisableTOTP"
	if err := needPrincipal(p); err != nil {
		return err
	}
	if err := s.totpTry(ctx, p.UserID); err != nil {
		return err
	}
	creds, err := s.users(p.UserID).GetCredentials(&pb.GetCredentialsRequest{}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.GrainCall(op, err)
	}
	if !creds.MfaEnabled {
		return emporium.Errorf(emporium.ECONFLICT, "two-factor authentication is not enabled")
	}
	pwOK, err := auth.VerifyPassword(creds.PasswordHash, password)
	if err != nil {
		return emporium.Wrap(op, err)
	}
	step, codeOK, err := s.checkCode(creds.TotpSecret, code, creds.LastStep)
	if err != nil {
		return emporium.Wrap(op, err)
	}
	_, err = s.users(p.UserID).DisableTOTP(&pb.DisableTOTPRequest{
		CommandId: s.cfg.NewID(), PasswordOk: pwOK, CodeStep: step, CodeOk: codeOK,
	}, actors.Within(ctx, s.cfg.Cluster))
	return emporium.GrainCall(op, err)
}

// The MFA login lock (issue 14): wrong TOTP codes at login are counted in
// Redis, in the MFAFailures window of the account's security counters (a
// week long, cleared by a right code, a recovery code or the unlock link),
// not as a UserGrain event. It is a security counter like the TOTP tries
// and failed logins beside it, on the same path and failing closed the
// same way (no Redis, no MFA login), and it needs no new event or journal
// migration. If Redis loses it, the account falls back to the TOTP tries
// limit and the password step, which a guesser must pass again for each
// challenge; the owner was mailed when it locked either way.

// MFAUnlockTTL is how long the mailed unlock link works: as long as the
// lock it lifts can last.
const MFAUnlockTTL = 7 * 24 * time.Hour

func errMFALocked() error {
	return emporium.Errorf(emporium.EFORBIDDEN, "two-factor login is locked after too many wrong codes: use a recovery code, or the unlock link we emailed you")
}

// mfaFailure counts a wrong TOTP code at login; the one that fills the
// window locks MFA login and mails the owner a warning with an unlock link.
func (s *Service) mfaFailure(ctx context.Context, userID string) error {
	d, err := s.cfg.Limiter.Hit(ctx, s.cfg.Limits.MFAFailures, userID)
	if err != nil {
		return err
	}
	if !d.Allowed || d.Remaining > 0 {
		return nil
	}
	s.background("user.Service.mfaFailure", func(ctx context.Context) error {
		acc, err := s.users(userID).Get(&pb.GetRequest{}, actors.Within(ctx, s.cfg.Cluster))
		if err != nil {
			return emporium.GrainCall("user.Service.mfaFailure", err)
		}
		plain, hash, err := auth.NewToken()
		if err != nil {
			return err
		}
		if err := s.indexToken(ctx, "user.Service.mfaFailure", auth.TokenMFAUnlock, hash, userID, MFAUnlockTTL); err != nil {
			return err
		}
		link, err := s.link("/unlock-mfa", plain)
		if err != nil {
			return err
		}
		return s.send(ctx, mfaLockedNotice(acc.Email, acc.Username, link, s.now()))
	})
	return nil
}

// mfaLockedNotice tells the owner that someone who knows the password is
// guessing two-factor codes, and carries the unlock link.
func mfaLockedNotice(to, name, link string, at time.Time) mail.Message {
	hello := "Hello,"
	if name != "" {
		hello = "Hello " + name + ","
	}
	text := hello + "\n\nOn " + noticeTime(at) + " someone who knows your Emporium password entered " +
		"too many wrong two-factor codes. Two-factor login to your account is locked until you lift the lock.\n\n" +
		"If this was you, open this link to unlock it (it works once, for 7 days), or log in with a recovery code:\n\n" +
		link + "\n\nIf it was not you, your password is known to someone else: change it now with \"Forgot " +
		"password\", which also ends every session of your account.\n"
	return mail.Message{To: to, Subject: "Someone is trying to log in to your account", Text: text}
}

// UnlockMFA implements emporium.Accounts: the mailed unlock link lifts the
// MFA login lock of its account. It works once.
func (s *Service) UnlockMFA(ctx context.Context, token string) error {
	const op = "user.Service.UnlockMFA"
	userID, hash, err := s.tokenOwner(ctx, op, auth.TokenMFAUnlock, token)
	if err != nil {
		return err
	}
	if err := s.cfg.Limiter.Reset(ctx, s.cfg.Limits.MFAFailures, userID); err != nil {
		return emporium.Wrap(op, err)
	}
	s.dropToken(ctx, auth.TokenMFAUnlock, hash)
	return nil
}
