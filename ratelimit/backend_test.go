package ratelimit_test

import (
	"context"
	"crypto/rand"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/ratelimit"
)

// TestMain silences go-redis's own logging, which prints every failed dial
// of the tests that point a client at a dead port.
func TestMain(m *testing.M) {
	redis.SetLogger(discardLogger{})
	os.Exit(m.Run())
}

type discardLogger struct{}

func (discardLogger) Printf(context.Context, string, ...any) {}

// backend is a Redis the suite runs against: always an in-process
// miniredis, and the real Redis at REDIS_URL when it is set.
type backend struct {
	name   string
	client *redis.Client
}

// eachBackend runs f as a subtest against every backend. The real Redis is
// shared (CI), so tests there only ever touch keys under their own random
// prefix and never flush a database.
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Helper()
	t.Run("miniredis", func(t *testing.T) {
		t.Parallel()
		m := miniredis.RunT(t)
		client := redis.NewClient(&redis.Options{Addr: m.Addr()})
		t.Cleanup(func() { _ = client.Close() })
		f(t, backend{name: "miniredis", client: client})
	})
	url := os.Getenv("REDIS_URL")
	if url == "" {
		return
	}
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		opts, err := redis.ParseURL(url)
		require.NoError(t, err)
		client := redis.NewClient(opts)
		t.Cleanup(func() { _ = client.Close() })
		require.NoError(t, client.Ping(t.Context()).Err(), "REDIS_URL is set but Redis does not answer")
		f(t, backend{name: "redis", client: client})
	})
}

// testStart is where the fake clocks start: a whole second, so that Unix
// milliseconds and the durations the tests add stay round.
var testStart = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// fakeClock is a Clock the test moves by hand; goroutines may read it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newLimiter returns a Limiter over b with a fresh random prefix and a fake
// clock, and deletes every key under the prefix when the test ends.
func newLimiter(t *testing.T, b backend) (*ratelimit.Limiter, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: testStart}
	l := ratelimit.New(b.client, "emporium-test:"+rand.Text()+":")
	l.Clock = clock.Now
	t.Cleanup(func() {
		// The test's context is already cancelled when cleanups run.
		ctx := context.Background()
		if keys := keysOf(t, b, l.Prefix); len(keys) > 0 {
			require.NoError(t, b.client.Del(ctx, keys...).Err())
		}
	})
	return l, clock
}

// keysOf lists the keys of a Limiter with the given prefix: its own, and
// those redis_rate puts under "rate:". SCAN, not KEYS, since the real Redis
// may be large and shared.
func keysOf(t *testing.T, b backend, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	for _, pattern := range []string{prefix + "*", "rate:" + prefix + "*"} {
		iter := b.client.Scan(ctx, 0, pattern, 100).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		require.NoError(t, iter.Err())
	}
	return keys
}
