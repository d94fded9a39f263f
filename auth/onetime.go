package auth

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	emporium "github.com/emporium-shop/emporium"
)

// Kinds of one-time token: the part of the Redis key that says what a token
// opens, so that a token of one kind never opens another.
const (
	// TokenVerify is an email verification (or email change) link.
	TokenVerify = "tok:verify:"
	// TokenReset is a password reset link.
	TokenReset = "tok:reset:"
	// TokenMFA is an MFA login challenge.
	TokenMFA = "mfa:"
	// TokenMFAUnlock is the mailed link that lifts the MFA login lock set
	// after too many wrong codes.
	TokenMFAUnlock = "tok:mfa-unlock:"
	// TokenTicket is a websocket ticket.
	TokenTicket = "live:ticket:"
)

// DefaultOneTimeTimeout bounds each Redis call of a OneTime store whose
// Timeout is zero.
const DefaultOneTimeTimeout = 2 * time.Second

// OneTime is the one store of one-time tokens (DESIGN §7, §9): email
// verification, password reset, MFA login challenges and websocket tickets.
// A token is made by NewToken; only its hash (HashToken) is a key, so a Redis
// dump opens nothing, and each record expires with its TTL. The zero value is
// not usable: Client must be set.
type OneTime struct {
	// Client is the Redis the tokens live in.
	Client *redis.Client
	// Prefix starts every key, e.g. "emporium:".
	Prefix string
	// Timeout bounds each Redis call. Zero means DefaultOneTimeTimeout.
	Timeout time.Duration
}

// ErrNoToken is the answer for a token that is unknown, used or expired.
var ErrNoToken = errors.New("auth: no such one-time token")

func (o *OneTime) key(kind, hash string) string { return o.Prefix + kind + hash }

func (o *OneTime) call(ctx context.Context) (context.Context, context.CancelFunc) {
	t := o.Timeout
	if t <= 0 {
		t = DefaultOneTimeTimeout
	}
	return context.WithTimeout(ctx, t)
}

// Issue makes a new token of kind that stands for value until ttl has passed,
// and returns the token, for the user, and its hash.
func (o *OneTime) Issue(ctx context.Context, kind string, value []byte, ttl time.Duration) (plain, hash string, err error) {
	plain, hash, err = NewToken()
	if err != nil {
		return "", "", err
	}
	if err := o.Put(ctx, kind, hash, value, ttl); err != nil {
		return "", "", err
	}
	return plain, hash, nil
}

// Put stores value under the token of kind whose hash is given, for ttl.
func (o *OneTime) Put(ctx context.Context, kind, hash string, value []byte, ttl time.Duration) error {
	ctx, cancel := o.call(ctx)
	defer cancel()
	if err := o.Client.Set(ctx, o.key(kind, hash), value, ttl).Err(); err != nil {
		return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: "auth.OneTime.Put", Err: err}
	}
	return nil
}

// Get returns what the token of kind with the given hash stands for, leaving
// it in place (a flow that consumes it only once its effect is durable);
// ErrNoToken when there is none.
func (o *OneTime) Get(ctx context.Context, kind, hash string) ([]byte, error) {
	ctx, cancel := o.call(ctx)
	defer cancel()
	return o.answer("auth.OneTime.Get", o.Client.Get(ctx, o.key(kind, hash)))
}

// Take consumes the token of kind with the given hash and returns what it
// stood for: of two callers racing with one token, only one gets it.
// ErrNoToken when there is none.
func (o *OneTime) Take(ctx context.Context, kind, hash string) ([]byte, error) {
	ctx, cancel := o.call(ctx)
	defer cancel()
	return o.answer("auth.OneTime.Take", o.Client.GetDel(ctx, o.key(kind, hash)))
}

// Delete drops the token of kind with the given hash, if it is there.
func (o *OneTime) Delete(ctx context.Context, kind, hash string) error {
	ctx, cancel := o.call(ctx)
	defer cancel()
	if err := o.Client.Del(ctx, o.key(kind, hash)).Err(); err != nil {
		return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: "auth.OneTime.Delete", Err: err}
	}
	return nil
}

func (o *OneTime) answer(op string, cmd *redis.StringCmd) ([]byte, error) {
	value, err := cmd.Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNoToken
	}
	if err != nil {
		return nil, &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Err: err}
	}
	return value, nil
}
