package user

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/auth"
	"github.com/emporium-shop/emporium/mail"
	sessionpb "github.com/emporium-shop/emporium/protos/sessionpb"
	pb "github.com/emporium-shop/emporium/protos/userpb"
	"github.com/emporium-shop/emporium/ratelimit"
)

// Service is the account service (emporium.Accounts) over the UserGrain and
// the SessionGrain: it hashes and checks secrets, keeps the uniqueness
// claims, the one-time token indexes and the MFA challenges, mails links,
// counts failures, and issues access tokens.
type Service struct {
	cfg ServiceConfig
	bg  sync.WaitGroup
}

var _ emporium.Accounts = (*Service)(nil)

// ServiceConfig is what the account service needs from the node.
type ServiceConfig struct {
	// Cluster reaches the UserGrain and SessionGrain kinds.
	Cluster *cluster.Cluster
	// Claims keeps the email and username uniqueness documents (see
	// actors.DocumentClaims).
	Claims actors.Claims
	// Redis keeps the one-time token indexes and MFA challenges.
	Redis *redis.Client
	// RedisPrefix starts every key this service writes; default "emporium:".
	RedisPrefix string
	Mailer      mail.Sender
	Issuer      *auth.Issuer
	Limiter     Limiter
	// Limits default to DefaultLimits (each zero window to its default).
	Limits Limits
	// PublicURL is the base of links in mails (PUBLIC_URL).
	PublicURL string
	// TOTPIssuer names the shop in authenticator apps; default "Emporium".
	TOTPIssuer string
	Clock      actors.Clock
	Logger     *slog.Logger
	// NewID returns a new random id (user, session, address, command ids);
	// default 16 random bytes in hex.
	NewID func() string
	// MailTimeout bounds one background mail; default 30 s.
	MailTimeout time.Duration
}

// Lifetimes of one-time secrets (DESIGN §9).
const (
	VerifyTTL       = 24 * time.Hour
	ResetTTL        = time.Hour
	MFAChallengeTTL = 5 * time.Minute
	// staleClaimAge is how old a claim must be before it may be taken from
	// a user who does not use it (a signup that never registered, an
	// email change never confirmed); younger ones may be a signup under way.
	staleClaimAge = 10 * time.Minute
	// RecoveryCodes is how many recovery codes MFA enrolment makes.
	RecoveryCodes = 10
	refreshPrefix = "rt1"
)

// NewService checks cfg and returns the service.
func NewService(cfg ServiceConfig) (*Service, error) {
	switch {
	case cfg.Cluster == nil, cfg.Claims == nil, cfg.Redis == nil, cfg.Mailer == nil, cfg.Issuer == nil, cfg.Limiter == nil:
		panic("user.NewService: Cluster, Claims, Redis, Mailer, Issuer and Limiter are required") // a wiring mistake
	}
	if _, err := mail.Link(cfg.PublicURL, "/", "x"); err != nil {
		return nil, emporium.Wrap("user.NewService", err)
	}
	if cfg.RedisPrefix == "" {
		cfg.RedisPrefix = "emporium:"
	}
	if cfg.TOTPIssuer == "" {
		cfg.TOTPIssuer = "Emporium"
	}
	if cfg.Clock == nil {
		cfg.Clock = actors.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NewID == nil {
		cfg.NewID = randomID
	}
	if cfg.MailTimeout == 0 {
		cfg.MailTimeout = 30 * time.Second
	}
	def := DefaultLimits()
	for _, w := range []struct{ v, d *ratelimit.Counter }{
		{&cfg.Limits.FailedLoginsPerAccountIP, &def.FailedLoginsPerAccountIP},
		{&cfg.Limits.FailedLoginsPerAccount, &def.FailedLoginsPerAccount},
		{&cfg.Limits.ResetMailsPerAccount, &def.ResetMailsPerAccount},
		{&cfg.Limits.VerifyMailsPerAccount, &def.VerifyMailsPerAccount},
		{&cfg.Limits.TOTPTries, &def.TOTPTries},
	} {
		if w.v.Max == 0 {
			*w.v = *w.d
		}
	}
	return &Service{cfg: cfg}, nil
}

// Wait waits for the mails sent in the background (at shutdown, in tests).
func (s *Service) Wait() { s.bg.Wait() }

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return hex.EncodeToString(b)
}

func (s *Service) now() time.Time { return s.cfg.Clock.Now() }

func (s *Service) users(id string) *pb.UserGrainGrainClient {
	return pb.GetUserGrainGrainClient(s.cfg.Cluster, id)
}

func (s *Service) sessions(id string) *sessionpb.SessionGrainGrainClient {
	return sessionpb.GetSessionGrainGrainClient(s.cfg.Cluster, id)
}

// background runs f after the answer, so that whether a mail goes out (and
// how long sending takes) does not show in the answer's timing.
func (s *Service) background(op string, f func(ctx context.Context) error) {
	s.bg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.MailTimeout)
		defer cancel()
		if err := f(ctx); err != nil {
			s.cfg.Logger.Warn("accounts: background step failed", slog.String("op", op), slog.Any("error", err))
		}
	})
}

func (s *Service) send(ctx context.Context, m mail.Message) error {
	return s.cfg.Mailer.Send(ctx, m)
}

func (s *Service) link(path, token string) (string, error) {
	return mail.Link(s.cfg.PublicURL, path, token)
}

// Redis keys.
func (s *Service) verifyKey(hash string) string { return s.cfg.RedisPrefix + "tok:verify:" + hash }
func (s *Service) resetKey(hash string) string  { return s.cfg.RedisPrefix + "tok:reset:" + hash }
func (s *Service) mfaKey(hash string) string    { return s.cfg.RedisPrefix + "mfa:" + hash }

func unavailable(op string, err error) error {
	if err == nil {
		return nil
	}
	return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Message: "a dependency is down; try again shortly", Err: err}
}

// errInvalidLogin is the one answer to a wrong password and an unknown email.
func errInvalidLogin() error {
	return emporium.Errorf(emporium.EUNAUTHENTICATED, "invalid email or password")
}

func errInvalidRefresh() error {
	return emporium.Errorf(emporium.EUNAUTHENTICATED, "invalid refresh token")
}

// joinFields merges the field errors of several validation errors into one
// EINVALID error, or returns the first error that is not a validation error.
func joinFields(errs ...error) error {
	var fields []emporium.FieldError
	for _, err := range errs {
		if err == nil {
			continue
		}
		if !emporium.IsCode(err, emporium.EINVALID) {
			return err
		}
		fields = append(fields, emporium.ErrorFields(err)...)
	}
	if len(fields) == 0 {
		return nil
	}
	return fieldsError(fields...)
}

// claim claims key for userID, taking it over from a user who holds it but
// does not use it (a signup that never registered, an email change that was
// never confirmed) once the claim is old enough.
func (s *Service) claim(ctx context.Context, collection, key, userID string) error {
	err := s.cfg.Claims.Claim(ctx, collection, key, userID)
	if !emporium.IsCode(err, emporium.ECONFLICT) {
		return err
	}
	owner, at, oerr := s.cfg.Claims.Owner(ctx, collection, key)
	if oerr != nil || s.now().Sub(at) < staleClaimAge || s.claimInUse(collection, key, owner) {
		return err
	}
	s.cfg.Logger.Info("accounts: taking over a stale claim", slog.String("collection", collection), slog.String("owner", owner))
	return s.cfg.Claims.Takeover(ctx, collection, key, owner, userID)
}

// claimInUse reports whether owner's account uses key; when that cannot be
// told, it is taken as used.
func (s *Service) claimInUse(collection, key, owner string) bool {
	acc, err := s.users(owner).Get(&pb.GetRequest{})
	if err != nil {
		return !emporium.IsCode(emporium.GrainCall("", err), emporium.ENOTFOUND)
	}
	if collection == UsernamesCollection {
		return UsernameKey(acc.Username) == key
	}
	return EmailKey(acc.Email) == key || acc.PendingEmail != "" && EmailKey(acc.PendingEmail) == key
}

func (s *Service) release(ctx context.Context, collection, key, userID string) {
	if err := s.cfg.Claims.Release(ctx, collection, key, userID); err != nil {
		s.cfg.Logger.Warn("accounts: releasing a claim failed", slog.String("collection", collection), slog.Any("error", err))
	}
}

// ownerOf answers the account whose email is email, or ENOTFOUND. A pending
// (unconfirmed) email change does not count.
func (s *Service) ownerOf(ctx context.Context, email string) (*pb.Account, error) {
	key := EmailKey(email)
	id, _, err := s.cfg.Claims.Owner(ctx, EmailsCollection, key)
	if err != nil {
		return nil, err
	}
	acc, err := s.users(id).Get(&pb.GetRequest{})
	if err != nil {
		return nil, emporium.GrainCall("user.Service.ownerOf", err)
	}
	if EmailKey(acc.Email) != key {
		return nil, emporium.Errorf(emporium.ENOTFOUND, "no account has this email")
	}
	return acc, nil
}

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
			return fieldsError(fieldErr("username", CodeTaken, "this username is taken"))
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
	fail := func() (emporium.Login, error) { return emporium.Login{}, errInvalidLogin() }
	acc, err := s.ownerOf(ctx, key)
	if emporium.IsCode(err, emporium.ENOTFOUND) {
		auth.VerifyDummy(password)
		return fail()
	}
	if err != nil {
		return emporium.Login{}, emporium.Wrap(op, err)
	}
	creds, err := s.users(acc.Id).GetCredentials(&pb.GetCredentialsRequest{})
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
	tokens, err := s.openSession(acc.Id, creds.Roles, client)
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
	if err := s.cfg.Redis.Set(ctx, s.mfaKey(hash), val, ttl).Err(); err != nil {
		return unavailable("user.Service.putChallenge", err)
	}
	return nil
}

// openSession opens a session and answers its tokens.
func (s *Service) openSession(userID string, roles []string, client emporium.Client) (emporium.Tokens, error) {
	const op = "user.Service.openSession"
	sid := s.cfg.NewID()
	secret, _, err := auth.NewToken()
	if err != nil {
		return emporium.Tokens{}, emporium.Wrap(op, err)
	}
	rt := strings.Join([]string{refreshPrefix, userID, sid, secret}, ".")
	if _, err := s.sessions(userID).Open(&sessionpb.OpenRequest{
		SessionId: sid, TokenHash: auth.HashToken(rt), Device: client.UserAgent, Ip: clientAddr(client.IP),
	}); err != nil {
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
	if len(token) > 512 {
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
	if mfaToken == "" || len(mfaToken) > 256 {
		return emporium.Tokens{}, errInvalidChallenge()
	}
	hash := auth.HashToken(mfaToken)
	val, err := s.cfg.Redis.GetDel(ctx, s.mfaKey(hash)).Result()
	if errors.Is(err, redis.Nil) {
		return emporium.Tokens{}, errInvalidChallenge()
	}
	if err != nil {
		return emporium.Tokens{}, unavailable(op, err)
	}
	userID, expRaw, _ := strings.Cut(val, "|")
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
	creds, err := s.users(userID).GetCredentials(&pb.GetCredentialsRequest{})
	if err != nil {
		return retry(emporium.GrainCall(op, err))
	}
	cmdID := "mfa:" + hash
	compact := strings.ReplaceAll(code, " ", "")
	var acc *pb.Account
	if len(compact) == 6 && strings.Trim(compact, "0123456789") == "" {
		step, cerr := auth.CheckTOTP(creds.TotpSecret, code, s.now(), creds.LastStep)
		if cerr != nil {
			if emporium.IsCode(cerr, emporium.EUNAUTHENTICATED) {
				return retry(invalidCode())
			}
			return retry(emporium.Wrap(op, cerr))
		}
		acc, err = s.users(userID).UseTOTP(&pb.UseTOTPRequest{CommandId: cmdID, Step: step})
	} else {
		i, ok := auth.MatchRecoveryCode(code, creds.RecoveryCodeHashes)
		if !ok {
			return retry(invalidCode())
		}
		acc, err = s.users(userID).UseRecoveryCode(&pb.UseRecoveryCodeRequest{CommandId: cmdID, Index: int32(i)})
	}
	if err != nil {
		return retry(emporium.GrainCall(op, err))
	}
	return s.openSession(userID, acc.Roles, client)
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
	})
	if err != nil {
		err = emporium.GrainCall(op, err)
		if emporium.IsCode(err, emporium.ENOTFOUND) || emporium.IsCode(err, emporium.EINVALID) {
			return emporium.Tokens{}, errInvalidRefresh()
		}
		return emporium.Tokens{}, err
	}
	acc, err := s.users(userID).Get(&pb.GetRequest{})
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
	_, err := s.sessions(userID).Revoke(&sessionpb.RevokeRequest{SessionId: sid, TokenHash: auth.HashToken(refreshToken)})
	if err != nil {
		err = emporium.GrainCall(op, err)
		if emporium.IsCode(err, emporium.ENOTFOUND) || emporium.IsCode(err, emporium.EINVALID) {
			return errInvalidRefresh()
		}
		return err
	}
	return nil
}

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
	st, err := s.sessions(claims.Subject).Check(&sessionpb.CheckRequest{SessionId: claims.SessionID})
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

func needPrincipal(p emporium.Principal) error {
	if p.UserID == "" {
		return emporium.Errorf(emporium.EUNAUTHENTICATED, "authentication required")
	}
	return nil
}

// Account implements emporium.Accounts.
func (s *Service) Account(ctx context.Context, p emporium.Principal) (emporium.Account, error) {
	if err := needPrincipal(p); err != nil {
		return emporium.Account{}, err
	}
	acc, err := s.users(p.UserID).Get(&pb.GetRequest{})
	if err != nil {
		return emporium.Account{}, emporium.GrainCall("user.Service.Account", err)
	}
	return toAccount(acc), nil
}

// UpdateAccount implements emporium.Accounts.
func (s *Service) UpdateAccount(ctx context.Context, p emporium.Principal, in emporium.AccountUpdate) (emporium.Account, error) {
	const op = "user.Service.UpdateAccount"
	if err := needPrincipal(p); err != nil {
		return emporium.Account{}, err
	}
	users := s.users(p.UserID)
	acc, err := users.Get(&pb.GetRequest{})
	if err != nil {
		return emporium.Account{}, emporium.GrainCall(op, err)
	}
	if in.Email != nil {
		// Checked before anything changes, so a refused email leaves the
		// profile as it was.
		if err := CheckEmail("email", *in.Email); err != nil {
			return emporium.Account{}, err
		}
		if EmailKey(*in.Email) == EmailKey(acc.Email) {
			return emporium.Account{}, fieldsError(fieldErr("email", CodeUnchanged, "email is the account's email already"))
		}
		if err := s.confirmPassword(ctx, p.UserID, in.CurrentPassword, "current_password"); err != nil {
			return emporium.Account{}, err
		}
	}
	if in.Name != nil || in.Phone != nil {
		req := &pb.UpdateProfileRequest{CommandId: s.cfg.NewID()}
		if in.Name != nil {
			req.Name = wrapperspb.String(*in.Name)
		}
		if in.Phone != nil {
			req.Phone = wrapperspb.String(*in.Phone)
		}
		if acc, err = users.UpdateProfile(req); err != nil {
			return emporium.Account{}, emporium.GrainCall(op, err)
		}
	}
	if in.Email != nil {
		if acc, err = s.changeEmail(ctx, acc, *in.Email); err != nil {
			return emporium.Account{}, err
		}
	}
	return toAccount(acc), nil
}

// changeEmail claims the new address, records the pending change and mails
// its link to the new address.
func (s *Service) changeEmail(ctx context.Context, acc *pb.Account, email string) (*pb.Account, error) {
	const op = "user.Service.changeEmail"
	key := EmailKey(email)
	prev := ""
	if acc.PendingEmail != "" {
		prev = EmailKey(acc.PendingEmail)
	}
	if err := s.claim(ctx, EmailsCollection, key, acc.Id); err != nil {
		if emporium.IsCode(err, emporium.ECONFLICT) {
			return nil, fieldsError(fieldErr("email", CodeTaken, "this email address is used by another account"))
		}
		return nil, emporium.Wrap(op, err)
	}
	plain, hash, err := auth.NewToken()
	if err != nil {
		return nil, emporium.Wrap(op, err)
	}
	next, err := s.users(acc.Id).RequestEmailChange(&pb.RequestEmailChangeRequest{
		CommandId: s.cfg.NewID(), NewEmail: email, TokenHash: hash,
		ExpiresAt: timestamppb.New(s.now().Add(VerifyTTL)),
	})
	if err != nil {
		if key != prev {
			s.release(ctx, EmailsCollection, key, acc.Id)
		}
		return nil, renameField(emporium.GrainCall(op, err), "new_email", "email")
	}
	if prev != "" && prev != key {
		s.release(ctx, EmailsCollection, prev, acc.Id)
	}
	if err := s.cfg.Redis.Set(ctx, s.verifyKey(hash), acc.Id, VerifyTTL).Err(); err != nil {
		return nil, unavailable(op, err)
	}
	to, name := next.PendingEmail, next.Username
	s.mailLink(op, "/verify-email", plain, func(link string) mail.Message {
		return mail.EmailChange(to, name, link)
	})
	// The current address hears of it too: if the change is an attacker's
	// with a stolen session, the owner learns in time to reset the password.
	notice := emailChangeNotice(acc.Email, to)
	s.background(op, func(ctx context.Context) error { return s.send(ctx, notice) })
	return next, nil
}

// emailChangeNotice tells the current address that a change to another was
// requested (mail has no template for it: a short text mail).
func emailChangeNotice(current, requested string) mail.Message {
	text := "A change of your account's email address to " + requested + " was requested.\n\n" +
		"Nothing changes until the new address is confirmed. If you did not ask for this, reset your " +
		"password now: that ends every session of your account.\n"
	return mail.Message{To: current, Subject: "Your email address is being changed", Text: text}
}

// renameField renames a field of a validation error (the grain's names for
// the API's).
func renameField(err error, from, to string) error {
	fields := emporium.ErrorFields(err)
	if len(fields) == 0 {
		return err
	}
	out := make([]emporium.FieldError, len(fields))
	for i, f := range fields {
		if f.Field == from {
			f.Field = to
			f.Message = strings.ReplaceAll(f.Message, from, to)
		}
		out[i] = f
	}
	return &emporium.Error{Code: emporium.ErrorCode(err), Message: joinMessages(out), Fields: out, Err: err}
}

// Sessions implements emporium.Accounts.
func (s *Service) Sessions(ctx context.Context, p emporium.Principal) ([]emporium.Session, error) {
	if err := needPrincipal(p); err != nil {
		return nil, err
	}
	list, err := s.sessions(p.UserID).List(&sessionpb.ListRequest{CurrentSessionId: p.SessionID})
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
	_, err := s.sessions(p.UserID).Revoke(&sessionpb.RevokeRequest{SessionId: sessionID})
	return emporium.GrainCall("user.Service.RevokeSession", err)
}

// BeginTOTP implements emporium.Accounts.
func (s *Service) BeginTOTP(ctx context.Context, p emporium.Principal, password string) (emporium.TOTPEnrollment, error) {
	const op = "user.Service.BeginTOTP"
	if err := needPrincipal(p); err != nil {
		return emporium.TOTPEnrollment{}, err
	}
	if err := s.confirmPassword(ctx, p.UserID, password, "password"); err != nil {
		return emporium.TOTPEnrollment{}, err
	}
	acc, err := s.users(p.UserID).Get(&pb.GetRequest{})
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
	if _, err := s.users(p.UserID).BeginTOTP(&pb.BeginTOTPRequest{CommandId: s.cfg.NewID(), Secret: secret}); err != nil {
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
	creds, err := s.users(p.UserID).GetCredentials(&pb.GetCredentialsRequest{})
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
	}); err != nil {
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
		return fieldsError(fieldErr(field, CodeRequired, "%s is required for this change", field))
	}
	if err := s.totpTry(ctx, userID); err != nil {
		return err
	}
	creds, err := s.users(userID).GetCredentials(&pb.GetCredentialsRequest{})
	if err != nil {
		return emporium.GrainCall(op, err)
	}
	ok, err := auth.VerifyPassword(creds.PasswordHash, password)
	if err != nil {
		return emporium.Wrap(op, err)
	}
	if !ok {
		return fieldsError(fieldErr(field, CodeInvalid, "the password is not right"))
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
	creds, err := s.users(p.UserID).GetCredentials(&pb.GetCredentialsRequest{})
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
	})
	return emporium.GrainCall(op, err)
}

// Addresses implements emporium.Accounts.
func (s *Service) Addresses(ctx context.Context, p emporium.Principal) ([]emporium.Address, error) {
	if err := needPrincipal(p); err != nil {
		return nil, err
	}
	acc, err := s.users(p.UserID).Get(&pb.GetRequest{})
	if err != nil {
		return nil, emporium.GrainCall("user.Service.Addresses", err)
	}
	out := make([]emporium.Address, 0, len(acc.Addresses))
	for _, a := range acc.Addresses {
		out = append(out, toAddress(a))
	}
	return out, nil
}

// Address implements emporium.Accounts.
func (s *Service) Address(ctx context.Context, p emporium.Principal, id string) (emporium.Address, error) {
	if err := needPrincipal(p); err != nil {
		return emporium.Address{}, err
	}
	acc, err := s.users(p.UserID).Get(&pb.GetRequest{})
	if err != nil {
		return emporium.Address{}, emporium.GrainCall("user.Service.Address", err)
	}
	return findIn(acc, id)
}

func findIn(acc *pb.Account, id string) (emporium.Address, error) {
	for _, a := range acc.Addresses {
		if a.Id == id {
			return toAddress(a), nil
		}
	}
	return emporium.Address{}, addressNotFound(id)
}

// AddAddress implements emporium.Accounts. With an idempotency key the
// address id is derived from (user, key), so a retry reaches the same
// address.
func (s *Service) AddAddress(ctx context.Context, p emporium.Principal, a emporium.Address, idempotencyKey string) (emporium.Address, error) {
	if err := needPrincipal(p); err != nil {
		return emporium.Address{}, err
	}
	id := s.cfg.NewID()
	if idempotencyKey != "" {
		sum := sha256.Sum256([]byte(p.UserID + "\x00" + idempotencyKey))
		id = "a" + hex.EncodeToString(sum[:16])
	}
	acc, err := s.users(p.UserID).AddAddress(&pb.AddAddressRequest{
		CommandId: "address:" + id, AddressId: id, Address: addressFields(a),
	})
	if err != nil {
		return emporium.Address{}, emporium.GrainCall("user.Service.AddAddress", err)
	}
	return findIn(acc, id)
}

// ReplaceAddress implements emporium.Accounts. A default flag set to true
// moves that default here; false keeps the address's flag as it is (a
// default moves by making another address the default).
func (s *Service) ReplaceAddress(ctx context.Context, p emporium.Principal, id string, a emporium.Address) (emporium.Address, error) {
	if err := needPrincipal(p); err != nil {
		return emporium.Address{}, err
	}
	acc, err := s.users(p.UserID).UpdateAddress(&pb.UpdateAddressRequest{AddressId: id, Address: addressFields(a)})
	if err != nil {
		return emporium.Address{}, emporium.GrainCall("user.Service.ReplaceAddress", err)
	}
	return findIn(acc, id)
}

// RemoveAddress implements emporium.Accounts.
func (s *Service) RemoveAddress(ctx context.Context, p emporium.Principal, id string) error {
	if err := needPrincipal(p); err != nil {
		return err
	}
	_, err := s.users(p.UserID).RemoveAddress(&pb.RemoveAddressRequest{AddressId: id})
	return emporium.GrainCall("user.Service.RemoveAddress", err)
}

func addressFields(a emporium.Address) *pb.AddressFields {
	f := &pb.AddressFields{
		FullName: a.FullName, Line1: a.Line1, Line2: a.Line2, City: a.City, Region: a.Region,
		PostalCode: a.PostalCode, Country: a.Country, Phone: a.Phone,
	}
	if a.IsDefaultShipping {
		f.IsDefaultShipping = wrapperspb.Bool(true)
	}
	if a.IsDefaultBilling {
		f.IsDefaultBilling = wrapperspb.Bool(true)
	}
	return f
}

func toAddress(a *pb.Address) emporium.Address {
	return emporium.Address{
		ID: a.Id, FullName: a.FullName, Line1: a.Line1, Line2: a.Line2, City: a.City, Region: a.Region,
		PostalCode: a.PostalCode, Country: a.Country, Phone: a.Phone,
		IsDefaultShipping: a.IsDefaultShipping, IsDefaultBilling: a.IsDefaultBilling,
	}
}

func toAccount(a *pb.Account) emporium.Account {
	return emporium.Account{
		ID: a.Id, Username: a.Username, Email: a.Email, EmailVerified: a.EmailVerified,
		PendingEmail: a.PendingEmail, Name: a.Name, Phone: a.Phone, Roles: slices.Clone(a.Roles),
		MFAEnabled: a.MfaEnabled, CreatedAt: timeOf(a.CreatedAt),
	}
}

func timeOf(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime().UTC()
}
