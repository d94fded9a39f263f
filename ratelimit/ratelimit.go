// Package ratelimit limits how often a client may do something, with its
// state in Redis so every node of a cluster sees the same counts (DESIGN §7).
//
// It has two algorithms for two kinds of limit:
//
//   - Allow applies a GCRA limit (github.com/go-redis/redis_rate) to API
//     traffic: a client may send Burst requests at once and Rate per Period
//     on average. It fails open: when Redis cannot be reached the request is
//     allowed, because losing a cache must not take the shop down.
//   - Hit, Count and Reset keep an exact sliding window for security
//     counters (failed logins, reset mails, signups, TOTP tries): at most Max
//     events in any Period. They fail closed: when Redis cannot be reached
//     they return EUNAVAILABLE, because a login flood during an outage must
//     not get past the lockout.
//
// Keys are made with Key from a purpose and hashed identifiers, so that a
// Redis dump lists no email address or IP. Headers, Refused and Middleware
// present a decision over HTTP (DESIGN §8: 429 with Retry-After and
// RateLimit-* headers), and ClientIP finds the address to limit behind
// trusted proxies.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	emporium "github.com/emporium-shop/emporium"
)

// DefaultTimeout bounds each Redis call when Limiter.Timeout is zero. Redis
// answers in well under a millisecond; a call this slow means an outage, and
// since the API limit runs on every request, waiting longer would turn a Redis
// outage into a site-wide latency spike.
const DefaultTimeout = 500 * time.Millisecond

// warnInterval is how often a Limiter logs that Redis is unreachable while it
// fails open. Every request would log otherwise, flooding the log exactly when
// an operator needs to read it.
const warnInterval = 10 * time.Second

// failOpenCooldown is how long Allow skips Redis after a call failed. While
// Redis is down a call takes up to Timeout (go-redis dials and retries), and
// paying that on every request would make the outage a site-wide slowdown;
// a second is short enough that limits come back soon after Redis does.
const failOpenCooldown = time.Second

// Limiter checks rate limits against Redis. The zero value is not usable:
// Client must be set. Its fields must not change once it is in use; a
// Limiter is safe for concurrent use.
type Limiter struct {
	// Client is the Redis the counters live in.
	Client *redis.Client
	// Prefix starts every key, so several deployments (or tests) can share
	// one Redis, e.g. "emporium:rl:". redis_rate puts its own "rate:" in
	// front of the keys of Allow, which it does not let callers change.
	Prefix string
	// Clock returns the current time for the sliding windows. Nil means
	// time.Now. The GCRA limits of Allow use the Redis server's clock
	// instead, as redis_rate does.
	Clock func() time.Time
	// Logger receives the warning that Allow fails open. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Timeout bounds each Redis call. Zero means DefaultTimeout.
	Timeout time.Duration

	// downUntil is when Allow may try Redis again after a failure (Unix
	// nanoseconds, wall clock).
	downUntil atomic.Int64
	// lastWarn is when the last fail-open warning was logged (Unix
	// nanoseconds, wall clock), and unlimited counts the requests allowed
	// without Redis since.
	lastWarn  atomic.Int64
	unlimited atomic.Int64
}

// New returns a Limiter over client whose keys start with prefix.
func New(client *redis.Client, prefix string) *Limiter {
	return &Limiter{Client: client, Prefix: prefix}
}

// Decision is the outcome of a rate-limit check.
type Decision struct {
	// Allowed reports whether the event may happen. The zero Decision
	// refuses, so a caller that ignores an error still refuses.
	Allowed bool
	// Limit is the most events the limit lets through at once: the burst
	// of a GCRA limit, the Max of a window. Zero means nothing is known of
	// the limit, as when Allow failed open.
	Limit int
	// Remaining is how many more events would be allowed right now.
	Remaining int
	// RetryAfter is how long to wait before the next event is allowed; zero
	// when it is allowed now.
	RetryAfter time.Duration
	// ResetAfter is how long until the limit is back to its full Limit if
	// nothing else happens.
	ResetAfter time.Duration
}

// Limit is a GCRA limit: Rate events per Period on average, with up to
// Burst of them at once.
type Limit struct {
	Rate   int
	Burst  int
	Period time.Duration
}

// validate rejects limits that redis_rate would divide by or that could
// never allow anything: they are configuration bugs.
func (l Limit) validate() error {
	if l.Rate < 1 || l.Burst < 1 || l.Period <= 0 {
		return fmt.Errorf("invalid limit %+v: rate, burst and period must be positive", l)
	}
	return nil
}

// Allow reports whether one more request may go under the GCRA limit at
// key, and counts it when it may. key is made with Key; the Limiter's
// Prefix is put in front.
//
// Allow fails open: when Redis cannot be reached it logs a warning and
// allows the request, with a Decision whose Limit is zero (nothing is known,
// so Headers writes none). API limits protect capacity, and refusing every
// request because a cache is down would do the outage's work for it. After a
// failure it does not ask Redis again for a second, so that an outage does
// not add a timeout to every request. It returns an error only for an invalid
// limit (EINTERNAL) or when ctx itself is done (EUNAVAILABLE), in which case
// the client is gone anyway.
func (l *Limiter) Allow(ctx context.Context, key string, limit Limit) (Decision, error) {
	const op = "ratelimit.Allow"
	if err := limit.validate(); err != nil {
		return Decision{}, &emporium.Error{Code: emporium.EINTERNAL, Op: op, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return Decision{}, emporium.Wrap(op, err)
	}
	if time.Now().UnixNano() < l.downUntil.Load() {
		l.unlimited.Add(1)
		return Decision{Allowed: true}, nil
	}
	callCtx, cancel := context.WithTimeout(ctx, l.timeout())
	defer cancel()
	res, err := redis_rate.NewLimiter(l.Client).Allow(callCtx, l.Prefix+key,
		redis_rate.Limit{Rate: limit.Rate, Burst: limit.Burst, Period: limit.Period})
	if err != nil {
		if ctx.Err() != nil {
			return Decision{}, emporium.Wrap(op, ctx.Err())
		}
		l.downUntil.Store(time.Now().Add(failOpenCooldown).UnixNano())
		l.unlimited.Add(1)
		l.warnFailOpen(ctx, key, err)
		return Decision{Allowed: true}, nil
	}
	d := Decision{
		Allowed:    res.Allowed > 0,
		Limit:      limit.Burst,
		Remaining:  max(res.Remaining, 0),
		ResetAfter: max(res.ResetAfter, 0),
	}
	if !d.Allowed {
		// redis_rate reports -1 for "now"; a refusal always waits a little.
		d.RetryAfter = max(res.RetryAfter, time.Millisecond)
	}
	return d, nil
}

// warnFailOpen logs that Allow could not reach Redis, at most once per
// warnInterval, with the number of requests allowed without a limit since the
// last warning.
func (l *Limiter) warnFailOpen(ctx context.Context, key string, err error) {
	// The wall clock, not Clock: this paces log lines an operator reads.
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if last != 0 && now-last < int64(warnInterval) || !l.lastWarn.CompareAndSwap(last, now) {
		return
	}
	l.logger().WarnContext(ctx, "ratelimit: Redis unreachable; allowing requests without an API limit",
		slog.String("key", key),
		slog.Int64("unlimited_requests", l.unlimited.Swap(0)),
		slog.String("error", err.Error()))
}

// unavailable is the error of a security counter whose Redis call failed: it
// fails closed, and the client may retry once Redis is back.
func unavailable(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return emporium.Wrap(op, ctx.Err())
	}
	var e *emporium.Error
	if errors.As(err, &e) {
		return err
	}
	return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Err: err}
}

func (l *Limiter) now() time.Time {
	if l.Clock != nil {
		return l.Clock()
	}
	return time.Now()
}

func (l *Limiter) timeout() time.Duration {
	if l.Timeout > 0 {
		return l.Timeout
	}
	return DefaultTimeout
}

func (l *Limiter) logger() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.Default()
}

// hashLength is how many hex digits of the SHA-256 of the identifiers a key
// keeps: 128 bits make a collision between two clients practically
// impossible, and a shorter key saves memory on every counter.
const hashLength = 32

// Key returns the key of a counter: purpose, a colon, and a hash of the
// identifiers it is kept for, e.g. Key(PurposeFailedLoginsPerAccountIP,
// email, ip). Identifiers are trimmed and lowercased first, since emails and
// usernames are compared case-insensitively and "Alice@x" must not get a
// counter of its own. They are hashed so that a Redis dump does not list who
// tried to log in, or from where. The hash is unkeyed: whoever holds a dump
// and a guess can still confirm the guess, so identifiers must never be
// secrets (tokens, passwords, codes).
func Key(purpose string, ids ...string) string {
	if len(ids) == 0 {
		return purpose
	}
	h := sha256.New()
	for i, id := range ids {
		if i > 0 {
			// A separator no identifier contains, so ("ab", "c") and
			// ("a", "bc") hash differently.
			h.Write([]byte{0})
		}
		h.Write([]byte(strings.ToLower(strings.TrimSpace(id))))
	}
	return purpose + ":" + hex.EncodeToString(h.Sum(nil))[:hashLength]
}
