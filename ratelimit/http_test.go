package ratelimit_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/ratelimit"
)

// renderProblem stands in for gateway.Error, which this package must not
// import: it answers an error with the status of its code and the code and
// message in the body.
func renderProblem(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	switch emporium.ErrorCode(err) {
	case emporium.ERATELIMITED:
		status = http.StatusTooManyRequests
	case emporium.EUNAVAILABLE:
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{
		"code":   emporium.ErrorCode(err),
		"detail": emporium.ErrorMessage(err),
	})
}

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
}

func TestHeaders(t *testing.T) {
	tests := []struct {
		name string
		d    ratelimit.Decision
		want map[string]string // "" means absent
	}{
		{
			name: "allowed",
			d:    ratelimit.Decision{Allowed: true, Limit: 100, Remaining: 42, ResetAfter: 1500 * time.Millisecond},
			want: map[string]string{"RateLimit-Limit": "100", "RateLimit-Remaining": "42", "RateLimit-Reset": "2", "Retry-After": ""},
		},
		{
			name: "allowed and full",
			d:    ratelimit.Decision{Allowed: true, Limit: 10, Remaining: 10},
			want: map[string]string{"RateLimit-Limit": "10", "RateLimit-Remaining": "10", "RateLimit-Reset": "0", "Retry-After": ""},
		},
		{
			name: "refused, rounded up",
			d:    ratelimit.Decision{Limit: 5, RetryAfter: 1500 * time.Millisecond, ResetAfter: 59*time.Second + time.Millisecond},
			want: map[string]string{"RateLimit-Limit": "5", "RateLimit-Remaining": "0", "RateLimit-Reset": "60", "Retry-After": "2"},
		},
		{
			name: "refused, under a second",
			d:    ratelimit.Decision{Limit: 5, RetryAfter: 100 * time.Millisecond, ResetAfter: time.Second},
			want: map[string]string{"Retry-After": "1", "RateLimit-Reset": "1"},
		},
		{
			name: "refused, whole seconds stay",
			d:    ratelimit.Decision{Limit: 5, RetryAfter: 2 * time.Second},
			want: map[string]string{"Retry-After": "2"},
		},
		{
			name: "refused, a nanosecond over",
			d:    ratelimit.Decision{Limit: 5, RetryAfter: 2*time.Second + 1},
			want: map[string]string{"Retry-After": "3"},
		},
		{
			name: "refused without a wait still says 1",
			d:    ratelimit.Decision{Limit: 5},
			want: map[string]string{"Retry-After": "1"},
		},
		{
			name: "failed open: nothing known",
			d:    ratelimit.Decision{Allowed: true},
			want: map[string]string{"RateLimit-Limit": "", "RateLimit-Remaining": "", "RateLimit-Reset": "", "Retry-After": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			ratelimit.Headers(rec, tt.d)
			for name, want := range tt.want {
				assert.Equal(t, want, rec.Header().Get(name), name)
			}
		})
	}
}

func TestRefused(t *testing.T) {
	err := ratelimit.Refused(ratelimit.Decision{Limit: 10, RetryAfter: 4*time.Minute + 500*time.Millisecond})
	assert.Equal(t, emporium.ERATELIMITED, emporium.ErrorCode(err))
	assert.Equal(t, "Too many requests; try again in 241 seconds.", emporium.ErrorMessage(err))

	err = ratelimit.Refused(ratelimit.Decision{Limit: 10, RetryAfter: 300 * time.Millisecond})
	assert.Equal(t, "Too many requests; try again in 1 second.", emporium.ErrorMessage(err))
}

func TestMiddleware(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		l, _ := newLimiter(t, b)
		limit := ratelimit.Limit{Rate: 2, Burst: 2, Period: time.Hour}
		key := func(r *http.Request) string {
			if user := r.Header.Get("X-Test-User"); user != "" {
				return ratelimit.Key(ratelimit.PurposeAPI, user)
			}
			return ""
		}
		h := ratelimit.Middleware(l, limit, key, renderProblem)(okHandler())
		serve := func(user string) *httptest.ResponseRecorder {
			r := httptest.NewRequest(http.MethodGet, "/v1/cart", nil)
			if user != "" {
				r.Header.Set("X-Test-User", user)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			return rec
		}

		for range limit.Burst {
			rec := serve("u1")
			require.Equal(t, http.StatusOK, rec.Code)
			assert.Equal(t, "2", rec.Header().Get("RateLimit-Limit"))
			assert.NotEmpty(t, rec.Header().Get("RateLimit-Remaining"))
			assert.Empty(t, rec.Header().Get("Retry-After"))
		}

		rec := serve("u1")
		require.Equal(t, http.StatusTooManyRequests, rec.Code)
		assert.Equal(t, "0", rec.Header().Get("RateLimit-Remaining"))
		// 30 minutes between requests, less the moment the burst took.
		assert.Equal(t, "1800", rec.Header().Get("Retry-After"))
		var body map[string]string
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		assert.Equal(t, emporium.ERATELIMITED, body["code"])
		assert.Equal(t, "Too many requests; try again in 1800 seconds.", body["detail"])

		// Another client, and a request the key function leaves unlimited.
		assert.Equal(t, http.StatusOK, serve("u2").Code)
		rec = serve("")
		assert.Equal(t, http.StatusOK, rec.Code)
		assert.Empty(t, rec.Header().Get("RateLimit-Limit"))
	})
}

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{name: "direct", remote: "203.0.113.7:5555", want: "203.0.113.7"},
		{name: "no trusted proxies: XFF ignored", remote: "203.0.113.7:5555", xff: []string{"198.51.100.9"}, want: "203.0.113.7"},
		{name: "untrusted peer: spoofed XFF ignored", remote: "203.0.113.7:5555", xff: []string{"10.0.0.9"}, trusted: proxies, want: "203.0.113.7"},
		{name: "trusted proxy, no XFF", remote: "10.0.0.1:80", trusted: proxies, want: "10.0.0.1"},
		{name: "behind a proxy", remote: "10.0.0.1:80", xff: []string{"198.51.100.9"}, trusted: proxies, want: "198.51.100.9"},
		{name: "behind two proxies", remote: "10.0.0.1:80", xff: []string{"198.51.100.9, 10.0.0.2"}, trusted: proxies, want: "198.51.100.9"},
		{name: "client-written entries on the left are ignored", remote: "10.0.0.1:80", xff: []string{"6.6.6.6, 1.1.1.1, 198.51.100.9, 10.0.0.2"}, trusted: proxies, want: "198.51.100.9"},
		{name: "client posing as a trusted proxy", remote: "10.0.0.1:80", xff: []string{"10.0.0.5, 198.51.100.9"}, trusted: proxies, want: "198.51.100.9"},
		{name: "several XFF fields form one list", remote: "10.0.0.1:80", xff: []string{"6.6.6.6", "198.51.100.9"}, trusted: proxies, want: "198.51.100.9"},
		{name: "only proxies: the farthest", remote: "10.0.0.1:80", xff: []string{"10.0.0.3, 10.0.0.2"}, trusted: proxies, want: "10.0.0.3"},
		{name: "garbage stops the walk", remote: "10.0.0.1:80", xff: []string{"<script>, 10.0.0.2"}, trusted: proxies, want: "10.0.0.2"},
		{name: "empty entries skipped", remote: "10.0.0.1:80", xff: []string{"198.51.100.9, , "}, trusted: proxies, want: "198.51.100.9"},
		{name: "entry with a port", remote: "10.0.0.1:80", xff: []string{"198.51.100.9:4711"}, trusted: proxies, want: "198.51.100.9"},
		{name: "IPv6 peer", remote: "[2001:db8::1]:443", want: "2001:db8::1"},
		{name: "IPv6 behind an IPv6 proxy", remote: "[fd00::1]:443", xff: []string{"2001:db8::2"}, trusted: proxies, want: "2001:db8::2"},
		{name: "IPv4-mapped peer", remote: "[::ffff:203.0.113.7]:1", want: "203.0.113.7"},
		{name: "IPv4-mapped trusted proxy", remote: "[::ffff:10.0.0.1]:1", xff: []string{"198.51.100.9"}, trusted: proxies, want: "198.51.100.9"},
		{name: "zone dropped", remote: "[fe80::1%eth0]:1", want: "fe80::1"},
		{name: "not an address", remote: "@", want: "@"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			assert.Equal(t, tt.want, ratelimit.ClientIP(r, tt.trusted))
		})
	}
}

func TestIPBucket(t *testing.T) {
	assert.Equal(t, "203.0.113.7", ratelimit.IPBucket("203.0.113.7"))
	assert.Equal(t, "203.0.113.7", ratelimit.IPBucket("::ffff:203.0.113.7"))
	assert.Equal(t, "2001:db8:1:2::/64", ratelimit.IPBucket("2001:db8:1:2:aaaa:bbbb:cccc:dddd"))
	assert.Equal(t, ratelimit.IPBucket("2001:db8:1:2::1"), ratelimit.IPBucket("2001:db8:1:2::2"))
	assert.Equal(t, "not-an-ip", ratelimit.IPBucket("not-an-ip"))
}

func TestKeyHashesIdentifiers(t *testing.T) {
	const email, ip = "Alice.Smith@Example.com", "192.0.2.1"
	k := ratelimit.Key(ratelimit.PurposeFailedLoginsPerAccountIP, email, ip)
	assert.True(t, strings.HasPrefix(k, ratelimit.PurposeFailedLoginsPerAccountIP+":"), k)
	assert.Len(t, k, len(ratelimit.PurposeFailedLoginsPerAccountIP)+1+32)
	for _, part := range []string{"alice", "smith", "example", "192.0.2"} {
		assert.NotContains(t, strings.ToLower(k), part)
	}
	// Emails are compared case-insensitively, so they share a counter.
	assert.Equal(t, k, ratelimit.Key(ratelimit.PurposeFailedLoginsPerAccountIP, " alice.smith@example.COM ", ip))
	// Purposes, identifiers and their boundaries all tell counters apart.
	assert.NotEqual(t, k, ratelimit.Key(ratelimit.PurposeFailedLoginsPerAccount, email, ip))
	assert.NotEqual(t, k, ratelimit.Key(ratelimit.PurposeFailedLoginsPerAccountIP, email, "192.0.2.2"))
	assert.NotEqual(t, ratelimit.Key("p", "ab", "c"), ratelimit.Key("p", "a", "bc"))
}

func TestStoredKeysListNoEmailOrAddress(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		l, _ := newLimiter(t, b)
		const email, ip = "dave@example.org", "198.51.100.23"
		ctx := t.Context()
		_, err := l.Hit(ctx, ratelimit.Key(ratelimit.PurposeFailedLoginsPerAccountIP, email, ip), ratelimit.FailedLoginsPerAccountIP)
		require.NoError(t, err)
		_, err = l.Hit(ctx, ratelimit.Key(ratelimit.PurposeFailedLoginsPerAccount, email), ratelimit.FailedLoginsPerAccount)
		require.NoError(t, err)
		_, err = l.Hit(ctx, ratelimit.Key(ratelimit.PurposeSignupsPerIP, ratelimit.IPBucket(ip)), ratelimit.SignupsPerIP)
		require.NoError(t, err)
		_, err = l.Allow(ctx, ratelimit.Key(ratelimit.PurposeAPI, ip), ratelimit.PerClient)
		require.NoError(t, err)

		keys := keysOf(t, b, l.Prefix)
		require.Len(t, keys, 4)
		for _, k := range keys {
			for _, part := range []string{"dave", "example", "198.51.100"} {
				assert.NotContains(t, k, part)
			}
		}
	})
}
