package user

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/cluster"

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
	// Tokens keeps the one-time token indexes (verification and reset
	// links: token hash to user id) and the MFA login challenges.
	Tokens  *auth.OneTime
	Mailer  mail.Sender
	Issuer  *auth.Issuer
	Limiter Limiter
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
	case cfg.Cluster == nil, cfg.Claims == nil, cfg.Tokens == nil, cfg.Mailer == nil, cfg.Issuer == nil, cfg.Limiter == nil:
		panic("user.NewService: Cluster, Claims, Tokens, Mailer, Issuer and Limiter are required") // a wiring mistake
	}
	if _, err := mail.Link(cfg.PublicURL, "/", "x"); err != nil {
		return nil, emporium.Wrap("user.NewService", err)
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
		{&cfg.Limits.FailedLoginsPerIP, &def.FailedLoginsPerIP},
		{&cfg.Limits.ResetMailsPerAccount, &def.ResetMailsPerAccount},
		{&cfg.Limits.ResetMailsPerIP, &def.ResetMailsPerIP},
		{&cfg.Limits.VerifyMailsPerAccount, &def.VerifyMailsPerAccount},
		{&cfg.Limits.TOTPTries, &def.TOTPTries},
		{&cfg.Limits.MFAFailures, &def.MFAFailures},
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

func unavailable(op string, err error) error {
	if err == nil {
		return nil
	}
	return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Message: "a dependency is down; try again shortly", Err: err}
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
	return emporium.InvalidFields(fields...)
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
	if oerr != nil || s.now().Sub(at) < staleClaimAge || s.claimInUse(ctx, collection, key, owner) {
		return err
	}
	s.cfg.Logger.Info("accounts: taking over a stale claim", slog.String("collection", collection), slog.String("owner", owner))
	return s.cfg.Claims.Takeover(ctx, collection, key, owner, userID)
}

// claimInUse reports whether owner's account uses key; when that cannot be
// told, it is taken as used.
func (s *Service) claimInUse(ctx context.Context, collection, key, owner string) bool {
	acc, err := s.users(owner).Get(&pb.GetRequest{}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return !emporium.IsCode(emporium.GrainCall("", err), emporium.ENOTFOUND)
	}
	if collection == UsernamesCollection {
		return UsernameKey(acc.Username) == key
	}
	return EmailKey(acc.Email) == key || acc.PendingEmail != "" && EmailKey(acc.PendingEmail) == key
}

// claimUsername claims username's key for userID, refusing (ECONFLICT) a
// username whose legacy key another account holds: until RekeyUsernames has
// run, an account named before the key changed is claimed under that key
// only.
func (s *Service) claimUsername(ctx context.Context, username, userID string) (key string, err error) {
	owner, _, err := s.cfg.Claims.Owner(ctx, UsernamesCollection, LegacyUsernameKey(username))
	switch {
	case err == nil && owner != userID:
		return "", emporium.Errorf(emporium.ECONFLICT, "the username is taken")
	case err != nil && !emporium.IsCode(err, emporium.ENOTFOUND):
		return "", err
	}
	key = UsernameKey(username)
	return key, s.claim(ctx, UsernamesCollection, key, userID)
}

// RekeyUsernames claims, for every username claimed under its legacy key
// (LegacyUsernameKey), its key under NameSkeleton for the same account, so
// that lookalikes of usernames taken before the key changed are refused.
// ids walks the claim documents (persistence.Projections). It answers how
// many keys it claimed; two accounts whose names were lookalikes before the
// change keep their accounts, and the second's new key is logged, not
// claimed. It is idempotent; the node runs it once after an upgrade.
func (s *Service) RekeyUsernames(ctx context.Context, ids IDWalker) (int, error) {
	const op = "user.Service.RekeyUsernames"
	claimed := 0
	err := ids.EachID(ctx, UsernamesCollection, 200, func(keys []string) error {
		for _, key := range keys {
			skeleton := NameSkeleton(key)
			if skeleton == key {
				continue
			}
			owner, _, err := s.cfg.Claims.Owner(ctx, UsernamesCollection, key)
			if emporium.IsCode(err, emporium.ENOTFOUND) {
				continue // released meanwhile
			}
			if err != nil {
				return err
			}
			held, _, err := s.cfg.Claims.Owner(ctx, UsernamesCollection, skeleton)
			switch {
			case err == nil && held == owner:
				continue // re-keyed by an earlier pass
			case err != nil && !emporium.IsCode(err, emporium.ENOTFOUND):
				return err
			}
			err = s.cfg.Claims.Claim(ctx, UsernamesCollection, skeleton, owner)
			switch {
			case err == nil:
				claimed++
			case emporium.IsCode(err, emporium.ECONFLICT):
				s.cfg.Logger.Warn("accounts: two usernames taken before the key change look alike; both accounts stay",
					slog.String("user", owner))
			default:
				return err
			}
		}
		return nil
	})
	return claimed, emporium.Wrap(op, err)
}

// IDWalker walks the ids of a collection's documents
// (persistence.Projections.EachID).
type IDWalker interface {
	EachID(ctx context.Context, collection string, batch int, fn func(ids []string) error) error
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
	acc, err := s.users(id).Get(&pb.GetRequest{}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return nil, emporium.GrainCall("user.Service.ownerOf", err)
	}
	if EmailKey(acc.Email) != key {
		return nil, emporium.Errorf(emporium.ENOTFOUND, "no account has this email")
	}
	return acc, nil
}
