package ratelimit_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/ratelimit"
)

func TestGCRABurstThenRefusal(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		l, _ := newLimiter(t, b)
		// One request every 12 minutes, 5 at once: the test is over long
		// before the bucket refills, however slow the machine.
		limit := ratelimit.Limit{Rate: 5, Burst: 5, Period: time.Hour}
		key := ratelimit.Key(ratelimit.PurposeAPI, "user-1")

		for i := range limit.Burst {
			d, err := l.Allow(t.Context(), key, limit)
			require.NoError(t, err)
			require.True(t, d.Allowed, "request %d of the burst", i+1)
			assert.Equal(t, limit.Burst, d.Limit)
			// redis_rate computes in floating point and Redis truncates the
			// result to an integer, so Remaining may come out one low.
			assert.InDelta(t, limit.Burst-1-i, d.Remaining, 1, "request %d", i+1)
			assert.Zero(t, d.RetryAfter)
			assert.InDelta(t, float64(time.Duration(i+1)*12*time.Minute), float64(d.ResetAfter), float64(time.Second))
		}

		d, err := l.Allow(t.Context(), key, limit)
		require.NoError(t, err)
		assert.False(t, d.Allowed)
		assert.Equal(t, limit.Burst, d.Limit)
		assert.Equal(t, 0, d.Remaining)
		// The next request is due one emission interval (12 min) after the
		// burst began, less the moment the burst took.
		assert.Greater(t, d.RetryAfter, 11*time.Minute)
		assert.LessOrEqual(t, d.RetryAfter, 12*time.Minute)
		assert.InDelta(t, float64(time.Hour), float64(d.ResetAfter), float64(time.Second))

		// Another client is not affected.
		d, err = l.Allow(t.Context(), ratelimit.Key(ratelimit.PurposeAPI, "user-2"), limit)
		require.NoError(t, err)
		assert.True(t, d.Allowed)
	})
}

func TestGCRAAllowsAgainAfterRetryAfter(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		l, _ := newLimiter(t, b)
		// GCRA runs on the Redis server's clock (miniredis: the wall clock),
		// so the refill is waited for, with a short period.
		limit := ratelimit.Limit{Rate: 1, Burst: 1, Period: 300 * time.Millisecond}
		key := ratelimit.Key(ratelimit.PurposeAPI, "user-3")

		d, err := l.Allow(t.Context(), key, limit)
		require.NoError(t, err)
		require.True(t, d.Allowed)
		d, err = l.Allow(t.Context(), key, limit)
		require.NoError(t, err)
		require.False(t, d.Allowed)
		assert.Greater(t, d.RetryAfter, time.Duration(0))
		assert.LessOrEqual(t, d.RetryAfter, limit.Period)

		require.Eventually(t, func() bool {
			d, err := l.Allow(t.Context(), key, limit)
			return err == nil && d.Allowed
		}, 5*time.Second, 5*time.Millisecond)
	})
}

func TestInvalidLimitIsABug(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		l, _ := newLimiter(t, b)
		for _, limit := range []ratelimit.Limit{{}, {Rate: 1, Burst: 0, Period: time.Second}, {Rate: 1, Burst: 1}} {
			d, err := l.Allow(t.Context(), "k", limit)
			assert.True(t, emporium.IsCode(err, emporium.EINTERNAL), "%+v: %v", limit, err)
			assert.False(t, d.Allowed)
		}
	})
}

// deadRedis returns a client for a port nothing listens on.
func deadRedis(t *testing.T) *redis.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	client := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// newLogger returns a logger that writes text records to the buffer.
func newLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

func TestAPILimitFailsOpenWhenRedisIsDown(t *testing.T) {
	l := ratelimit.New(deadRedis(t), "emporium-test:")
	l.Timeout = 100 * time.Millisecond
	logger, logs := newLogger()
	l.Logger = logger

	for range 3 {
		d, err := l.Allow(t.Context(), ratelimit.Key(ratelimit.PurposeAPI, "user-1"), ratelimit.PerClient)
		require.NoError(t, err)
		assert.True(t, d.Allowed)
		assert.Zero(t, d.Limit, "nothing is known of the limit")
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "level=WARN"), "one warning, not one per request:\n%s", logs)
	assert.Contains(t, logs.String(), "allowing requests")
	assert.Contains(t, logs.String(), "unlimited_requests=1")

	// Through the middleware: the request is served, without made-up
	// RateLimit-* headers.
	h := ratelimit.Middleware(l, ratelimit.PerClient, func(*http.Request) string { return "api:x" }, renderProblem)(okHandler())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/products", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Empty(t, rec.Header().Get("RateLimit-Limit"))
	assert.Empty(t, rec.Header().Get("Retry-After"))

	// A request whose client went away is not let through as if Redis were
	// down, nor logged as such.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	logs.Reset()
	_, err := l.Allow(ctx, "api:y", ratelimit.PerClient)
	assert.True(t, emporium.IsCode(err, emporium.EUNAVAILABLE), "%v", err)
	assert.Empty(t, logs.String())
}

func TestSecurityCountersFailClosedWhenRedisIsDown(t *testing.T) {
	l := ratelimit.New(deadRedis(t), "emporium-test:")
	l.Timeout = 100 * time.Millisecond
	key := ratelimit.Key(ratelimit.PurposeFailedLoginsPerAccountIP, "alice@example.com", "192.0.2.1")

	d, err := l.Hit(t.Context(), key, ratelimit.FailedLoginsPerAccountIP)
	assert.True(t, emporium.IsCode(err, emporium.EUNAVAILABLE), "%v", err)
	assert.False(t, d.Allowed, "a failed counter must refuse")

	d, err = l.Count(t.Context(), key, ratelimit.FailedLoginsPerAccountIP)
	assert.True(t, emporium.IsCode(err, emporium.EUNAVAILABLE), "%v", err)
	assert.False(t, d.Allowed)

	err = l.Reset(t.Context(), key)
	assert.True(t, emporium.IsCode(err, emporium.EUNAVAILABLE), "%v", err)
	// The cause is kept for the log but the client sees a generic message.
	assert.Contains(t, err.Error(), "ratelimit.Reset")
	assert.NotContains(t, emporium.ErrorMessage(err), "127.0.0.1")
}
