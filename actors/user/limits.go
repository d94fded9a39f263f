package user

import (
	"context"
	"net/netip"
	"strings"

	"github.com/emporium-shop/emporium/ratelimit"
)

// Limiter keeps the account service's security counters: exact sliding
// windows (ratelimit.Counters over the node's ratelimit.Limiter). ids
// identify the counter within its purpose (an email key, an address, a user
// id).
type Limiter interface {
	// Hit records an event and reports whether it was allowed.
	Hit(ctx context.Context, c ratelimit.Counter, ids ...string) (ratelimit.Decision, error)
	// Count reports whether a Hit now would be allowed, recording nothing.
	Count(ctx context.Context, c ratelimit.Counter, ids ...string) (ratelimit.Decision, error)
	// Reset forgets the counter's events.
	Reset(ctx context.Context, c ratelimit.Counter, ids ...string) error
}

var _ Limiter = ratelimit.Counters{}

// Limits are the security counters of DESIGN §9.
type Limits struct {
	FailedLoginsPerAccountIP ratelimit.Counter
	FailedLoginsPerAccount   ratelimit.Counter
	FailedLoginsPerIP        ratelimit.Counter
	ResetMailsPerAccount     ratelimit.Counter
	ResetMailsPerIP          ratelimit.Counter
	VerifyMailsPerAccount    ratelimit.Counter
	TOTPTries                ratelimit.Counter
	MFAFailures              ratelimit.Counter
}

// DefaultLimits are DESIGN §9's numbers, as the ratelimit package states them.
func DefaultLimits() Limits {
	return Limits{
		FailedLoginsPerAccountIP: ratelimit.FailedLoginsPerAccountIPCounter,
		FailedLoginsPerAccount:   ratelimit.FailedLoginsPerAccountCounter,
		FailedLoginsPerIP:        ratelimit.FailedLoginsPerIPCounter,
		ResetMailsPerAccount:     ratelimit.ResetMailsPerAccountCounter,
		ResetMailsPerIP:          ratelimit.ResetMailsPerIPCounter,
		VerifyMailsPerAccount:    ratelimit.VerifyMailsPerAccountCounter,
		TOTPTries:                ratelimit.TOTPTriesCounter,
		MFAFailures:              ratelimit.MFAFailuresCounter,
	}
}

// rateLimited is the error of a refused counter: ERATELIMITED with the
// decision's wait as its retry hint.
func rateLimited(d ratelimit.Decision) error {
	return ratelimit.RefusedError("Too many attempts", d.RetryAfter)
}

// cleanIP returns the rate-limit bucket of a client address
// (ratelimit.IPBucket: the address for IPv4, its /64 for IPv6), or "" when
// it is not an address.
func cleanIP(ip string) string {
	addr := clientAddr(ip)
	if addr == "" {
		return ""
	}
	return ratelimit.IPBucket(addr)
}

// clientAddr returns a client address in its canonical form, or "" when it
// is not an address. Sessions record the address itself, not its bucket.
func clientAddr(ip string) string {
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return ""
	}
	return a.Unmap().WithZone("").String()
}
