package ratelimit

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	emporium "github.com/emporium-shop/emporium"
)

// Headers tells the client where it stands, with the fields of
// draft-ietf-httpapi-ratelimit-headers: RateLimit-Limit, RateLimit-Remaining
// and RateLimit-Reset (whole seconds until the limit is full again). A
// refused decision also gets Retry-After, in whole seconds rounded up and at
// least 1, since a client told "0" would retry at once and be refused again.
// A decision that knows nothing of its limit (Allow failing open) gets no
// RateLimit-* fields rather than made-up ones. Call Headers before the status
// is written.
func Headers(w http.ResponseWriter, d Decision) {
	h := w.Header()
	if d.Limit > 0 {
		h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
		h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
		h.Set("RateLimit-Reset", strconv.FormatInt(ceilSeconds(d.ResetAfter), 10))
	}
	if !d.Allowed {
		h.Set("Retry-After", strconv.FormatInt(retryAfterSeconds(d), 10))
	}
}

// Refused returns the error of a refused decision: ERATELIMITED, which the
// gateway answers with 429, with d.RetryAfter as its retry hint and a message
// saying when to retry, in the same whole seconds as Retry-After.
func Refused(d Decision) error {
	return RefusedError("Too many requests", d.RetryAfter)
}

// RefusedError returns an ERATELIMITED error whose retry hint is wait and
// whose message is what ("Too many attempts") followed by when to try again,
// in whole seconds rounded up and at least 1, as Retry-After says it.
func RefusedError(what string, wait time.Duration) *emporium.Error {
	s := max(ceilSeconds(wait), 1)
	unit := "seconds"
	if s == 1 {
		unit = "second"
	}
	return &emporium.Error{Code: emporium.ERATELIMITED, RetryAfter: max(wait, time.Millisecond),
		Message: fmt.Sprintf("%s; try again in %d %s.", what, s, unit)}
}

// retryAfterSeconds is d.RetryAfter in whole seconds, rounded up, at least 1.
func retryAfterSeconds(d Decision) int64 {
	return max(ceilSeconds(d.RetryAfter), 1)
}

// ceilSeconds rounds d up to whole seconds: rounding down would have clients
// come back just before they are allowed.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// Middleware limits requests with limit, one counter per key(r). An allowed
// request gets the RateLimit-* headers and goes on to next; a refused one gets
// them, Retry-After and the error of Refused, which render writes (the
// gateway passes gateway.Error; taking it as a parameter keeps this package
// free of the gateway, which imports it). key returns a Key, e.g.
// Key(PurposeAPI, userID); an empty key lets the request through unlimited,
// for requests the caller chooses not to limit.
//
// Like Allow, the middleware fails open when Redis is unreachable.
func Middleware(l *Limiter, limit Limit, key func(r *http.Request) string,
	render func(w http.ResponseWriter, r *http.Request, err error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k := key(r)
			if k == "" {
				next.ServeHTTP(w, r)
				return
			}
			d, err := l.Allow(r.Context(), k, limit)
			if err != nil {
				render(w, r, err)
				return
			}
			Headers(w, d)
			if !d.Allowed {
				render(w, r, Refused(d))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// ClientIP returns the address of the client that sent r. It is the peer
// address, unless the peer is one of trustedProxies: then it is the
// right-most address in X-Forwarded-For that is not a trusted proxy, the last
// hop that a trusted proxy saw. Everything to the left of it was written by
// the client, so trusting it would let anyone dodge a limit with a made-up
// header; for the same reason the header of an untrusted peer is ignored.
// IPv4-mapped IPv6 addresses are returned as IPv4. When RemoteAddr is not an
// address (a test request, a unix socket) it is returned as it is.
func ClientIP(r *http.Request, trustedProxies []netip.Prefix) string {
	peer, ok := parseAddr(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if !trusted(peer, trustedProxies) {
		return peer.String()
	}
	client := peer
	// Several X-Forwarded-For fields form one list, in order.
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		addr, ok := parseAddr(hop)
		if !ok {
			// Trusted proxies write valid addresses, so this was written by
			// the client or something unknown: stop at the last hop known.
			break
		}
		client = addr
		if !trusted(addr, trustedProxies) {
			break
		}
	}
	return client.String()
}

// parseAddr parses an address with or without a port ("192.0.2.1",
// "192.0.2.1:443", "[2001:db8::1]:443"), dropping any zone and unmapping
// IPv4-mapped IPv6 so that one client has one spelling.
func parseAddr(s string) (netip.Addr, bool) {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		addr = ap.Addr()
	}
	return addr.WithZone("").Unmap(), true
}

func trusted(addr netip.Addr, proxies []netip.Prefix) bool {
	for _, p := range proxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// IPBucket returns what to count an address under: the address itself for
// IPv4, and its /64 network for IPv6, since one host is commonly given a
// whole /64 and could otherwise take a fresh address for each try. Anything
// that is not an address is returned as it is.
func IPBucket(ip string) string {
	addr, ok := parseAddr(ip)
	if !ok {
		return ip
	}
	if addr.Is4() {
		return addr.String()
	}
	p, err := addr.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}
