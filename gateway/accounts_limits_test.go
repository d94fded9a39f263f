package gateway_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/gateway"
	"github.com/emporium-shop/emporium/ratelimit"
)

func newLimiter(t *testing.T) (*ratelimit.Limiter, *time.Time) {
	t.Helper()
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { client.Close() })
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	l := ratelimit.New(client, "test:rl:")
	l.Clock = func() time.Time { return now }
	return l, &now
}

// TestSignupsAreLimitedPerAddress sends 11 signups from one address within
// a minute under a window of 10: the 11th is a 429 with Retry-After and the
// RateLimit fields, and never reaches the service.
func TestSignupsAreLimitedPerAddress(t *testing.T) {
	limiter, now := newLimiter(t)
	f := newFake()
	proxy := netip.MustParsePrefix("10.0.0.0/8")
	s := accountsServer(t, f, gateway.Config{
		Limiter:        limiter,
		RateLimits:     gateway.RateLimits{Signups: ratelimit.Window{Max: 10, Period: time.Minute}},
		TrustedProxies: []netip.Prefix{proxy},
	})
	signup := func(i int, remoteAddr string, header http.Header) (*http.Response, []byte) {
		return send(t, s, exchange{method: "POST", target: "/v1/auth/signup", remoteAddr: remoteAddr, header: header,
			body: map[string]string{"username": fmt.Sprintf("user%d", i), "email": fmt.Sprintf("user%d@example.com", i), "password": "pw-123456"}})
	}
	// The client is behind a trusted proxy, which names it in
	// X-Forwarded-For; the address before it is whatever the client wrote.
	viaProxy := http.Header{"X-Forwarded-For": {"203.0.113.99, 198.51.100.7"}}
	for i := 1; i <= 10; i++ {
		*now = now.Add(time.Second)
		resp, body := signup(i, "10.1.2.3:4567", viaProxy)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, "signup %d: %s", i, body)
		assert.Equal(t, "10", resp.Header.Get("RateLimit-Limit"))
		assert.Equal(t, fmt.Sprint(10-i), resp.Header.Get("RateLimit-Remaining"))
	}
	*now = now.Add(time.Second)
	resp, body := signup(11, "10.9.9.9:1", http.Header{"X-Forwarded-For": {"198.51.100.7"}})
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", body)
	assert.Equal(t, emporium.ERATELIMITED, problemOf(t, resp, body).Code)
	// The first signup leaves the window 60 s after it was made, 10 s
	// from now.
	assert.Equal(t, "50", resp.Header.Get("Retry-After"))
	assert.Equal(t, "10", resp.Header.Get("RateLimit-Limit"))
	assert.Equal(t, "0", resp.Header.Get("RateLimit-Remaining"))
	assert.NotEmpty(t, resp.Header.Get("RateLimit-Reset"))
	assert.Len(t, f.called("Signup"), 10, "the refused signup never reaches the service")
	for _, c := range f.called("Signup") {
		assert.Equal(t, "198.51.100.7", c.args[0].(emporium.Signup).Client.IP, "the client address is the one the trusted proxy saw")
	}

	// Another address is not limited by this one.
	resp, body = signup(12, "198.51.100.8:1", nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", body)

	// Once the first signup left the window, one more is allowed.
	*now = now.Add(50 * time.Second)
	resp, body = signup(13, "198.51.100.7:1", nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", body)
}

func TestSignupLimitFailsClosed(t *testing.T) {
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	f := newFake()
	s := accountsServer(t, f, gateway.Config{Limiter: ratelimit.New(client, "test:rl:")})
	mr.Close()
	resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/signup", body: map[string]string{"username": "ada", "email": "ada@example.com", "password": "pw-123456"}})
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s", body)
	assert.Empty(t, f.called("Signup"))
}

// TestAuthRoutesShareALimitPerAddress checks the GCRA limit of /v1/auth/*.
func TestAuthRoutesShareALimitPerAddress(t *testing.T) {
	limiter, _ := newLimiter(t)
	f := newFake()
	s := accountsServer(t, f, gateway.Config{
		Limiter:    limiter,
		RateLimits: gateway.RateLimits{Auth: ratelimit.Limit{Rate: 3, Burst: 3, Period: time.Hour}},
	})
	requests := []exchange{
		{method: "POST", target: "/v1/auth/login", body: `{"email":"a@example.com","password":"pw"}`},
		{method: "POST", target: "/v1/auth/refresh", body: `{"refresh_token":"r"}`},
		{method: "POST", target: "/v1/auth/password/forgot", body: `{"email":"a@example.com"}`},
	}
	for i, ex := range requests {
		resp, body := send(t, s, ex)
		require.Less(t, resp.StatusCode, 300, "%s", body)
		assert.Equal(t, "3", resp.Header.Get("RateLimit-Limit"))
		assert.Equal(t, fmt.Sprint(2-i), resp.Header.Get("RateLimit-Remaining"))
	}
	resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/verify-email", body: `{"token":"t"}`})
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", body)
	assert.Equal(t, emporium.ERATELIMITED, problemOf(t, resp, body).Code)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	assert.Equal(t, "0", resp.Header.Get("RateLimit-Remaining"))
	assert.Empty(t, f.called("VerifyEmail"))

	// Another address has a limit of its own, and /v1/me is not under it.
	resp, body = send(t, s, exchange{method: "POST", target: "/v1/auth/verify-email", remoteAddr: "198.51.100.1:1", body: `{"token":"t"}`})
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	resp, body = send(t, s, exchange{method: "GET", target: "/v1/me", token: aliceToken})
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	assert.Empty(t, resp.Header.Get("RateLimit-Limit"))
}

// TestServiceRateLimitsAre429 checks a limit the service applies (failed
// logins per account): 429 with a Retry-After, the error's retry hint in
// whole seconds rounded up, or the default; never read from the message.
func TestServiceRateLimitsAre429(t *testing.T) {
	for _, tc := range []struct {
		name       string
		wait       time.Duration
		retryAfter string
	}{
		{"42 seconds", 42 * time.Second, "42"},
		{"rounded up", 1500 * time.Millisecond, "2"},
		{"under a second", time.Millisecond, "1"},
		{"no hint", 0, "60"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.setFail("Login", &emporium.Error{Code: emporium.ERATELIMITED, Message: "Too many requests; try again in 999 seconds.", RetryAfter: tc.wait})
			s := accountsServer(t, f, gateway.Config{})
			resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/login", body: `{"email":"a@example.com","password":"pw"}`})
			require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", body)
			assert.Equal(t, emporium.ERATELIMITED, problemOf(t, resp, body).Code)
			assert.Equal(t, tc.retryAfter, resp.Header.Get("Retry-After"))
		})
	}
	t.Run("behind an edge limit", func(t *testing.T) {
		limiter, _ := newLimiter(t)
		f := newFake()
		f.setFail("Login", &emporium.Error{Code: emporium.ERATELIMITED, Message: "Too many failed logins.", RetryAfter: 900 * time.Second})
		s := accountsServer(t, f, gateway.Config{Limiter: limiter})
		resp, body := send(t, s, exchange{method: "POST", target: "/v1/auth/login", body: `{"email":"a@example.com","password":"pw"}`})
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", body)
		assert.Equal(t, "900", resp.Header.Get("Retry-After"))
		assert.Empty(t, resp.Header.Get("RateLimit-Remaining"), "the edge limit's fields do not describe the refusal")
	})
	t.Run("TOTP tries", func(t *testing.T) {
		f := newFake()
		f.setFail("ConfirmTOTP", &emporium.Error{Code: emporium.ERATELIMITED, Message: "Too many codes.", RetryAfter: 30 * time.Second})
		s := accountsServer(t, f, gateway.Config{})
		resp, body := send(t, s, exchange{method: "POST", target: "/v1/me/mfa/totp/confirm", token: aliceToken, body: `{"code":"000000"}`})
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", body)
		assert.Equal(t, "30", resp.Header.Get("Retry-After"))
	})
}
