package ratelimit

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	emporium "github.com/emporium-shop/emporium"
)

// Window is an exact sliding-window limit: at most Max events in any span of
// Period. Security counters use it rather than GCRA because their promise is
// a count ("10 failed logins, then blocked"), not a rate.
type Window struct {
	Max    int
	Period time.Duration
}

// validate rejects windows that could never allow anything or that the
// millisecond scores cannot represent: they are configuration bugs.
func (w Window) validate() error {
	if w.Max < 1 || w.Period < time.Millisecond {
		return fmt.Errorf("invalid window %+v: max must be positive and period at least 1ms", w)
	}
	return nil
}

// windowScript counts the events of one window, kept as a sorted set whose
// members are unique per event and whose scores are the events' times in
// Unix milliseconds. Running it as one script makes trim, count and add
// atomic, so concurrent hits can never let more than Max through.
//
// KEYS[1] is the set. ARGV: now, the cutoff (now - period: events at or
// before it are outside the window), max, the period in milliseconds, and the
// member to add, or "" to only look. Numbers travel as decimal strings made
// by Go, never formatted by Lua, whose number formatting differs between
// Redis (%.14g) and miniredis.
//
// A refused hit is not recorded. The set thus never holds more than Max
// members whatever the flood, and the promise stays exact: at most Max
// allowed events in any Period.
//
// It returns {allowed (0/1), count in the window after the call, the score
// of the event whose expiry would allow the next one ("" while one is
// allowed now), the score of the newest event ("" when none)}.
var windowScript = redis.NewScript(`
local key = KEYS[1]
local now = ARGV[1]
local cutoff = ARGV[2]
local max = tonumber(ARGV[3])
local period = ARGV[4]
local member = ARGV[5]

local stale = 0
if member ~= "" then
  redis.call("ZREMRANGEBYSCORE", key, "-inf", cutoff)
else
  -- A peek writes nothing: it skips the stale events instead of trimming.
  stale = redis.call("ZCOUNT", key, "-inf", cutoff)
end
local count = redis.call("ZCARD", key) - stale

local allowed = 0
if count < max then
  allowed = 1
  if member ~= "" then
    redis.call("ZADD", key, now, member)
    -- The set outlives its newest event by one period, after which every
    -- event in it is stale anyway.
    redis.call("PEXPIRE", key, period)
    count = count + 1
  end
end

local function score_at(i)
  local r = redis.call("ZRANGE", key, i, i, "WITHSCORES")
  if r[2] then
    return r[2]
  end
  return ""
end

local frees_at = ""
if count >= max then
  -- Once this event and all older ones leave the window, count drops
  -- below max.
  frees_at = score_at(stale + count - max)
end
local newest = ""
if count > 0 then
  newest = score_at(-1)
end
return {allowed, count, frees_at, newest}
`)

// Hit records one event in the window at key and reports whether it is
// allowed: it is refused when Max events already happened in the last
// Period, and then it is not recorded. key is made with Key; the Limiter's
// Prefix is put in front. The time comes from the Limiter's Clock.
//
// Hit fails closed: when Redis cannot be reached it returns an EUNAVAILABLE
// error and a refusing Decision. Security counters guard against password
// guessing and mail bombing, and an outage of Redis must not open the door
// to a flood that the lockout exists to stop.
func (l *Limiter) Hit(ctx context.Context, key string, w Window) (Decision, error) {
	return l.window(ctx, "ratelimit.Hit", key, w, rand.Text())
}

// Count reports the state of the window at key without recording an event:
// whether a Hit now would be allowed, and how many remain. Use it to refuse
// early, e.g. a login attempt of a locked account before its password is
// checked.
//
// Count fails closed like Hit: when Redis cannot be reached it returns an
// EUNAVAILABLE error and a refusing Decision.
func (l *Limiter) Count(ctx context.Context, key string, w Window) (Decision, error) {
	return l.window(ctx, "ratelimit.Count", key, w, "")
}

// Reset forgets every event of the window at key, e.g. the failed logins of
// an account and address once a login succeeds. It applies to windows (Hit,
// Count), not to the GCRA limits of Allow.
//
// Reset fails closed: when Redis cannot be reached it returns an
// EUNAVAILABLE error and the counter keeps its events, so a lockout is never
// lifted by accident. Callers that cannot clear it may go on: the counter
// then only remains stricter than it needs to be.
func (l *Limiter) Reset(ctx context.Context, key string) error {
	const op = "ratelimit.Reset"
	callCtx, cancel := context.WithTimeout(ctx, l.timeout())
	defer cancel()
	if err := l.Client.Del(callCtx, l.Prefix+key).Err(); err != nil {
		return unavailable(ctx, op, err)
	}
	return nil
}

// window runs windowScript: a hit when member is set, a peek when it is "".
func (l *Limiter) window(ctx context.Context, op, key string, w Window, member string) (Decision, error) {
	if err := w.validate(); err != nil {
		return Decision{}, &emporium.Error{Code: emporium.EINTERNAL, Op: op, Err: err}
	}
	now := l.now().UnixMilli()
	period := w.Period.Milliseconds()
	callCtx, cancel := context.WithTimeout(ctx, l.timeout())
	defer cancel()
	res, err := windowScript.Run(callCtx, l.Client, []string{l.Prefix + key},
		strconv.FormatInt(now, 10),
		strconv.FormatInt(now-period, 10),
		strconv.Itoa(w.Max),
		strconv.FormatInt(period, 10),
		member,
	).Slice()
	if err != nil {
		return Decision{}, unavailable(ctx, op, err)
	}
	d, err := windowDecision(res, w, now, period)
	if err != nil {
		return Decision{}, &emporium.Error{Code: emporium.EINTERNAL, Op: op, Err: err}
	}
	return d, nil
}

// windowDecision turns the reply of windowScript into a Decision.
func windowDecision(res []any, w Window, now, period int64) (Decision, error) {
	if len(res) != 4 {
		return Decision{}, fmt.Errorf("window script answered %d values, want 4", len(res))
	}
	allowed, ok1 := res[0].(int64)
	count, ok2 := res[1].(int64)
	freesAt, ok3 := res[2].(string)
	newest, ok4 := res[3].(string)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return Decision{}, fmt.Errorf("window script answered %#v", res)
	}
	d := Decision{
		Allowed:   allowed == 1,
		Limit:     w.Max,
		Remaining: max(w.Max-int(count), 0),
	}
	// An event at time t leaves the window at t + period: from then on it is
	// at or before the cutoff.
	leaves := func(score string) (time.Duration, error) {
		t, err := strconv.ParseFloat(score, 64)
		if err != nil {
			return 0, fmt.Errorf("window script answered score %q: %w", score, err)
		}
		return time.Duration(int64(t)+period-now) * time.Millisecond, nil
	}
	if newest != "" {
		reset, err := leaves(newest)
		if err != nil {
			return Decision{}, err
		}
		d.ResetAfter = max(reset, 0)
	}
	if !d.Allowed && freesAt != "" {
		retry, err := leaves(freesAt)
		if err != nil {
			return Decision{}, err
		}
		// Never zero: a refusal that says "retry now" would be retried
		// in a tight loop.
		d.RetryAfter = max(retry, time.Millisecond)
	}
	return d, nil
}
