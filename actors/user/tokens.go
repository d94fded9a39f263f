package user

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/auth"
	"github.com/emporium-shop/emporium/mail"
	pb "github.com/emporium-shop/emporium/protos/userpb"
	"github.com/emporium-shop/emporium/ratelimit"
)

// The mailed one-time links (email verification and change, password reset)
// live in the node's one token store (auth.OneTime) under the kind of link
// and the token's hash, standing for the user the token was made for; the
// UserGrain holds the hash and expiry too and checks them itself, so the
// store is an index that may lose a token (the user asks for another link)
// but cannot open an account on its own.

// tokenMail is a flow that mails a one-time link to the owner of an address
// on request (a forgotten password, a lost verification mail). Both answer
// the same whether or not the address has an account, and send in the
// background, so neither the answer nor its timing tells who is a customer.
type tokenMail struct {
	op string
	// limit counts the requests per address.
	limit ratelimit.Counter
	// kind, ttl and path are the token's kind, its lifetime and the path
	// of the link that carries it.
	kind string
	ttl  time.Duration
	path string
	// issue records the token's hash and expiry with the owner's grain and
	// answers the account as it is after, or nil when nothing is to be sent.
	// It runs in the background after the answer: its grain calls take the
	// ctx it is given, never the request's, which is gone by then.
	issue func(ctx context.Context, owner *pb.Account, hash string, expires *timestamppb.Timestamp) (*pb.Account, error)
	// mail is the message that carries link to acc.
	mail func(acc *pb.Account, link string) mail.Message
}

// mailToken runs f for email: it checks the address and counts the request
// now, and finds the owner, issues the token and sends the mail in the
// background.
func (s *Service) mailToken(ctx context.Context, email string, f tokenMail) error {
	if err := CheckEmail("email", email); err != nil {
		return err
	}
	d, err := s.cfg.Limiter.Hit(ctx, f.limit, EmailKey(email))
	if err != nil {
		return emporium.Wrap(f.op, err)
	}
	if !d.Allowed {
		return rateLimited(d)
	}
	s.background(f.op, func(ctx context.Context) error {
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
		acc, err = f.issue(ctx, acc, hash, timestamppb.New(s.now().Add(f.ttl)))
		if err != nil {
			return emporium.GrainCall(f.op, err)
		}
		if acc == nil {
			return nil
		}
		if err := s.indexToken(ctx, f.op, f.kind, hash, acc.Id, f.ttl); err != nil {
			return err
		}
		link, err := s.link(f.path, plain)
		if err != nil {
			return err
		}
		return s.send(ctx, f.mail(acc, link))
	})
	return nil
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

// indexToken records, for ttl, that the mailed token of kind (auth.TokenVerify
// or auth.TokenReset) whose hash is given was made for userID.
func (s *Service) indexToken(ctx context.Context, op, kind, hash, userID string, ttl time.Duration) error {
	return unavailable(op, s.cfg.Tokens.Put(ctx, kind, hash, []byte(userID), ttl))
}

// tokenOwner finds the user a one-time token of kind (from a mailed link)
// was made for. It answers the token's hash too, which the grain checks
// itself.
func (s *Service) tokenOwner(ctx context.Context, op, kind, token string) (userID, hash string, err error) {
	if token == "" || len(token) > auth.MaxTokenLength {
		return "", "", invalidToken()
	}
	hash = auth.HashToken(token)
	id, err := s.cfg.Tokens.Get(ctx, kind, hash)
	if errors.Is(err, auth.ErrNoToken) {
		return "", "", invalidToken()
	}
	if err != nil {
		return "", "", unavailable(op, err)
	}
	return string(id), hash, nil
}

// dropToken drops a used token of kind. The grain has recorded its use and
// refuses it again, so a token left behind opens nothing: a failure is
// logged, not answered.
func (s *Service) dropToken(ctx context.Context, kind, hash string) {
	if err := s.cfg.Tokens.Delete(ctx, kind, hash); err != nil {
		s.cfg.Logger.Warn("accounts: dropping a used token failed", slog.Any("error", err))
	}
}
