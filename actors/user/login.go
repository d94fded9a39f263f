package user

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/auth"
	sessionpb "github.com/emporium-shop/emporium/protos/sessionpb"
	pb "github.com/emporium-shop/emporium/protos/userpb"
	"github.com/emporium-shop/emporium/ratelimit"
)

// errInvalidLogin is the one answer to a wrong password and an unknown email.
func errInvalidLogin() error {
	return emporium.Errorf(emporium.EUNAUTHENTICATED, "invalid email or password")
}

func errInvalidRefresh() error {
	return emporium.Errorf(emporium.EUNAUTHENTICATED, "invalid refresh token")
}

// Login implements emporium.Accounts.
func (s *Service) Login(ctx context.Context, email, password string, client emporium.Client) (emporium.Login, error) {
	const op = "user.Service.Login"
	key := EmailKey(strings.TrimSpace(email))
	ip := cleanIP(client.IP)
	lim := s.cfg.Limits
	// Every attempt is counted before the password is checked, and the
	// success of a correct one clears the account+IP count afterwards.
	// Counting only failures, after the (slow) check, would let parallel
	// guesses all pass the limit before the first failure is recorded.
	for _, c := range []struct {
		w   ratelimit.Counter
		ids []string
	}{{lim.FailedLoginsPerAccountIP, []string{key, ip}}, {lim.FailedLoginsPerAccount, []string{key}}} {
		d, err := s.cfg.Limiter.Hit(ctx, c.w, c.ids...)
		if err != nil {
			return emporium.Login{}, emporium.Wrap(op, err)
		}
		if !d.Allowed {
			return emporium.Login{}, rateLimited(d)
		}
	}
	// The address's failures across accounts: checked here, counted only
	// when the password turns out wrong, so that many people logging in
	// from one office are not held up by their successes. Parallel wrong
	// guesses can pass the check together before the first is counted: the
	// overshoot is bounded by the requests in flight from one address,
	// which the per-account windows above and the API rate limit bound.
	if d, err := s.cfg.Limiter.Count(ctx, lim.FailedLoginsPerIP, ip); err != nil {
		return emporium.Login{}, emporium.Wrap(op, err)
	} else if !d.Allowed {
		return emporium.Login{}, rateLimited(d)
	}
	fail := func() (emporium.Login, error) {
		if _, err := s.cfg.Limiter.Hit(ctx, lim.FailedLoginsPerIP, ip); err != nil {
			return emporium.Login{}, emporium.Wrap(op, err)
		}
		return emporium.Login{}, errInvalidLogin()
	}
	acc, err := s.ownerOf(ctx, key)
	if emporium.IsCode(err, emporium.ENOTFOUND) {
		auth.VerifyDummy(password)
		return fail()
	}
	if err != nil {
		return emporium.Login{}, emporium.Wrap(op, err)
	}
	creds, err := s.users(acc.Id).GetCredentials(&pb.GetCredentialsRequest{}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.Login{}, emporium.GrainCall(op, err)
	}
	ok, err := auth.VerifyPassword(creds.PasswordHash, password)
	if err != nil {
		return emporium.Login{}, emporium.Wrap(op, err)
	}
	if !ok {
		return fail()
	}
	if err := s.cfg.Limiter.Reset(ctx, lim.FailedLoginsPerAccountIP, key, ip); err != nil {
		s.cfg.Logger.Warn("accounts: resetting failed logins failed", slog.Any("error", err))
	}
	if !creds.EmailVerified {
		return emporium.Login{}, emporium.Errorf(emporium.EUNVERIFIED, "verify your email address first: follow the link we mailed you, or ask for a new one")
	}
	if creds.MfaEnabled {
		plain, hash, err := auth.NewToken()
		if err != nil {
			return emporium.Login{}, emporium.Wrap(op, err)
		}
		if err := s.putChallenge(ctx, hash, acc.Id, s.now().Add(MFAChallengeTTL)); err != nil {
			return emporium.Login{}, err
		}
		return emporium.Login{MFARequired: true, MFAToken: plain}, nil
	}
	tokens, err := s.openSession(ctx, acc.Id, creds.Roles, client)
	if err != nil {
		return emporium.Login{}, err
	}
	return emporium.Login{Tokens: &tokens}, nil
}

// putChallenge stores an MFA challenge: the user id and its expiry.
func (s *Service) putChallenge(ctx context.Context, hash, userID string, expires time.Time) error {
	ttl := expires.Sub(s.now())
	if ttl <= 0 {
		return nil
	}
	val := userID + "|" + strconv.FormatInt(expires.UnixMilli(), 10)
	return unavailable("user.Service.putChallenge", s.cfg.Tokens.Put(ctx, auth.TokenMFA, hash, []byte(val), ttl))
}

// openSession opens a session and answers its tokens.
func (s *Service) openSession(ctx context.Context, userID string, roles []string, client emporium.Client) (emporium.Tokens, error) {
	const op = "user.Service.openSession"
	sid := s.cfg.NewID()
	secret, _, err := auth.NewToken()
	if err != nil {
		return emporium.Tokens{}, emporium.Wrap(op, err)
	}
	rt := strings.Join([]string{refreshPrefix, userID, sid, secret}, ".")
	if _, err := s.sessions(userID).Open(&sessionpb.OpenRequest{
		SessionId: sid, TokenHash: auth.HashToken(rt), Device: client.UserAgent, Ip: clientAddr(client.IP),
	}, actors.Within(ctx, s.cfg.Cluster)); err != nil {
		return emporium.Tokens{}, emporium.GrainCall(op, err)
	}
	return s.issue(userID, roles, sid, rt)
}

func (s *Service) issue(userID string, roles []string, sid, rt string) (emporium.Tokens, error) {
	access, _, err := s.cfg.Issuer.Issue(userID, roles, sid)
	if err != nil {
		return emporium.Tokens{}, emporium.Wrap("user.Service.issue", err)
	}
	return emporium.Tokens{AccessToken: access, RefreshToken: rt, ExpiresIn: s.cfg.Issuer.TTL()}, nil
}

// parseRefresh splits rt1.<user>.<session>.<secret>.
func parseRefresh(token string) (userID, sessionID string, ok bool) {
	if len(token) > auth.MaxRefreshTokenLength {
		return "", "", false
	}
	parts := strings.Split(token, ".")
	if len(parts) != 4 || parts[0] != refreshPrefix || parts[1] == "" || parts[2] == "" || len(parts[3]) < 32 {
		return "", "", false
	}
	if len(parts[1]) > 128 || len(parts[2]) > 128 {
		return "", "", false
	}
	return parts[1], parts[2], true
}

// LoginMFA implements emporium.Accounts.
func (s *Service) LoginMFA(ctx context.Context, mfaToken, code string, client emporium.Client) (emporium.Tokens, error) {
	const op = "user.Service.LoginMFA"
	if mfaToken == "" || len(mfaToken) > auth.MaxTokenLength {
		return emporium.Tokens{}, errInvalidChallenge()
	}
	hash := auth.HashToken(mfaToken)
	val, err := s.cfg.Tokens.Take(ctx, auth.TokenMFA, hash)
	if errors.Is(err, auth.ErrNoToken) {
		return emporium.Tokens{}, errInvalidChallenge()
	}
	if err != nil {
		return emporium.Tokens{}, unavailable(op, err)
	}
	userID, expRaw, _ := strings.Cut(string(val), "|")
	expMs, _ := strconv.ParseInt(expRaw, 10, 64)
	expires := time.UnixMilli(expMs)
	// A wrong code puts the challenge back for the rest of its life, so a
	// typo does not cost the password step; the TOTP counter bounds tries.
	retry := func(err error) (emporium.Tokens, error) {
		if perr := s.putChallenge(ctx, hash, userID, expires); perr != nil {
			s.cfg.Logger.Warn("accounts: restoring an MFA challenge failed", slog.Any("error", perr))
		}
		return emporium.Tokens{}, err
	}
	d, err := s.cfg.Limiter.Hit(ctx, s.cfg.Limits.TOTPTries, userID)
	if err != nil {
		return retry(emporium.Wrap(op, err))
	}
	if !d.Allowed {
		return retry(rateLimited(d))
	}
	creds, err := s.users(userID).GetCredentials(&pb.GetCredentialsRequest{}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return retry(emporium.GrainCall(op, err))
	}
	cmdID := "mfa:" + hash
	compact := strings.ReplaceAll(code, " ", "")
	var acc *pb.Account
	if len(compact) == 6 && strings.Trim(compact, "0123456789") == "" {
		// A locked account takes no TOTP code, not even the right one:
		// only a recovery code or the mailed unlock link lift the lock.
		locked, lerr := s.cfg.Limiter.Count(ctx, s.cfg.Limits.MFAFailures, userID)
		if lerr != nil {
			return retry(emporium.Wrap(op, lerr))
		}
		if !locked.Allowed {
			return retry(errMFALocked())
		}
		step, cerr := auth.CheckTOTP(creds.TotpSecret, code, s.now(), creds.LastStep)
		if cerr != nil {
			if emporium.IsCode(cerr, emporium.EUNAUTHENTICATED) {
				if ferr := s.mfaFailure(ctx, userID); ferr != nil {
					return retry(emporium.Wrap(op, ferr))
				}
				return retry(invalidCode())
			}
			return retry(emporium.Wrap(op, cerr))
		}
		acc, err = s.users(userID).UseTOTP(&pb.UseTOTPRequest{CommandId: cmdID, Step: step}, actors.Within(ctx, s.cfg.Cluster))
	} else {
		i, ok := auth.MatchRecoveryCode(code, creds.RecoveryCodeHashes)
		if !ok {
			return retry(invalidCode())
		}
		acc, err = s.users(userID).UseRecoveryCode(&pb.UseRecoveryCodeRequest{CommandId: cmdID, Index: int32(i)}, actors.Within(ctx, s.cfg.Cluster))
	}
	if err != nil {
		return retry(emporium.GrainCall(op, err))
	}
	// A right code ends the run of wrong ones; a recovery code lifts the lock.
	if err := s.cfg.Limiter.Reset(ctx, s.cfg.Limits.MFAFailures, userID); err != nil {
		s.cfg.Logger.Warn("accounts: clearing wrong MFA codes failed", slog.Any("error", err))
	}
	return s.openSession(ctx, userID, acc.Roles, client)
}

func errInvalidChallenge() error {
	return emporium.Errorf(emporium.EUNAUTHENTICATED, "the MFA challenge is invalid or has expired; log in again")
}

// Refresh implements emporium.Accounts.
func (s *Service) Refresh(ctx context.Context, refreshToken string, client emporium.Client) (emporium.Tokens, error) {
	const op = "user.Service.Refresh"
	userID, sid, ok := parseRefresh(refreshToken)
	if !ok {
		return emporium.Tokens{}, errInvalidRefresh()
	}
	secret, _, err := auth.NewToken()
	if err != nil {
		return emporium.Tokens{}, emporium.Wrap(op, err)
	}
	next := strings.Join([]string{refreshPrefix, userID, sid, secret}, ".")
	_, err = s.sessions(userID).Refresh(&sessionpb.RefreshRequest{
		SessionId: sid, TokenHash: auth.HashToken(refreshToken), NewTokenHash: auth.HashToken(next),
	}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		err = emporium.GrainCall(op, err)
		if emporium.IsCode(err, emporium.ENOTFOUND) || emporium.IsCode(err, emporium.EINVALID) {
			return emporium.Tokens{}, errInvalidRefresh()
		}
		return emporium.Tokens{}, err
	}
	acc, err := s.users(userID).Get(&pb.GetRequest{}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.Tokens{}, emporium.GrainCall(op, err)
	}
	return s.issue(userID, acc.Roles, sid, next)
}

// Logout implements emporium.Accounts. A malformed or unknown token is
// EUNAUTHENTICATED; logging out of an ended session succeeds.
func (s *Service) Logout(ctx context.Context, refreshToken string) error {
	const op = "user.Service.Logout"
	userID, sid, ok := parseRefresh(refreshToken)
	if !ok {
		return errInvalidRefresh()
	}
	_, err := s.sessions(userID).Revoke(&sessionpb.RevokeRequest{SessionId: sid, TokenHash: auth.HashToken(refreshToken)}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		err = emporium.GrainCall(op, err)
		if emporium.IsCode(err, emporium.ENOTFOUND) || emporium.IsCode(err, emporium.EINVALID) {
			return errInvalidRefresh()
		}
		return err
	}
	return nil
}

// Authenticate implements emporium.Accounts. Besides the token's signature
// and claims it checks that the token's session is still live, so a logout,
// a revoked session or a password reset takes effect at once.
func (s *Service) Authenticate(ctx context.Context, accessToken string) (emporium.Principal, error) {
	const op = "user.Service.Authenticate"
	claims, err := s.cfg.Issuer.Verify(accessToken)
	if err != nil {
		return emporium.Principal{}, err
	}
	if claims.SessionID == "" {
		return emporium.Principal{}, emporium.Errorf(emporium.EUNAUTHENTICATED, "invalid access token")
	}
	st, err := s.sessions(claims.Subject).Check(&sessionpb.CheckRequest{SessionId: claims.SessionID}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		err = emporium.GrainCall(op, err)
		if emporium.IsCode(err, emporium.EUNAVAILABLE) || emporium.IsCode(err, emporium.EINTERNAL) {
			return emporium.Principal{}, err
		}
		return emporium.Principal{}, emporium.Errorf(emporium.EUNAUTHENTICATED, "the session has ended")
	}
	if !st.Live {
		return emporium.Principal{}, emporium.Errorf(emporium.EUNAUTHENTICATED, "the session has ended")
	}
	return emporium.Principal{UserID: claims.Subject, SessionID: claims.SessionID, Roles: slices.Clone(claims.Roles), ExpiresAt: claims.ExpiresAt}, nil
}

// JWKS implements emporium.Accounts.
func (s *Service) JWKS() []byte {
	b, err := s.cfg.Issuer.JWKS()
	if err != nil {
		s.cfg.Logger.Error("accounts: rendering the JWKS failed", slog.Any("error", err))
		return nil
	}
	return b
}

// Sessions implements emporium.Accounts.
func (s *Service) Sessions(ctx context.Context, p emporium.Principal) ([]emporium.Session, error) {
	if err := needPrincipal(p); err != nil {
		return nil, err
	}
	list, err := s.sessions(p.UserID).List(&sessionpb.ListRequest{CurrentSessionId: p.SessionID}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return nil, emporium.GrainCall("user.Service.Sessions", err)
	}
	out := make([]emporium.Session, 0, len(list.Sessions))
	for _, x := range list.Sessions {
		out = append(out, emporium.Session{
			ID: x.Id, Device: x.Device, IP: x.Ip, Current: x.Current,
			CreatedAt: timeOf(x.CreatedAt), LastUsedAt: timeOf(x.LastUsedAt), ExpiresAt: timeOf(x.ExpiresAt),
		})
	}
	return out, nil
}

// RevokeSession implements emporium.Accounts.
func (s *Service) RevokeSession(ctx context.Context, p emporium.Principal, sessionID string) error {
	if err := needPrincipal(p); err != nil {
		return err
	}
	if sessionID == "" || len(sessionID) > 128 {
		return emporium.Errorf(emporium.ENOTFOUND, "session not found")
	}
	_, err := s.sessions(p.UserID).Revoke(&sessionpb.RevokeRequest{SessionId: sessionID}, actors.Within(ctx, s.cfg.Cluster))
	return emporium.GrainCall("user.Service.RevokeSession", err)
}
