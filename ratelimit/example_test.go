package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/ratelimit"
)

// The gateway limits every client: signed-in users by their id, anonymous
// ones by their address (its /64 for IPv6), behind the load balancers it
// trusts. The renderer is gateway.Error.
func ExampleMiddleware() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	limiter := ratelimit.New(client, "emporium:rl:")
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	userID := func(r *http.Request) string { return r.Header.Get("X-Example-User") }

	limit := ratelimit.Middleware(limiter, ratelimit.PerClient, func(r *http.Request) string {
		if id := userID(r); id != "" {
			return ratelimit.Key(ratelimit.PurposeAPI, "user", id)
		}
		return ratelimit.Key(ratelimit.PurposeAPI, "ip", ratelimit.IPBucket(ratelimit.ClientIP(r, proxies)))
	}, renderProblem)
	_ = limit(http.NotFoundHandler())
}

// A login handler counts failures per account and address. It refuses a
// locked account before checking the password, so the lockout holds even
// against the right one, and clears the counter after a success.
func ExampleLimiter_Hit() {
	mr, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer mr.Close()
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer client.Close()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	limiter := ratelimit.New(client, "emporium:rl:")
	limiter.Clock = func() time.Time { return now }

	ctx := context.Background()
	login := func(email, ip, password string) error {
		key := ratelimit.Key(ratelimit.PurposeFailedLoginsPerAccountIP, email, ip)
		w := ratelimit.FailedLoginsPerAccountIP
		d, err := limiter.Count(ctx, key, w)
		if err != nil {
			return err // Redis is down: fail closed.
		}
		if !d.Allowed {
			return ratelimit.Refused(d)
		}
		if password != "correct horse" {
			// Concurrent attempts can all pass Count; Hit decides.
			if d, err := limiter.Hit(ctx, key, w); err != nil {
				return err
			} else if !d.Allowed {
				return ratelimit.Refused(d)
			}
			return emporium.Errorf(emporium.EUNAUTHENTICATED, "Wrong email or password.")
		}
		return limiter.Reset(ctx, key)
	}

	for i := 1; i <= 10; i++ {
		if err := login("alice@example.com", "192.0.2.1", "guess"); !emporium.IsCode(err, emporium.EUNAUTHENTICATED) {
			fmt.Println("attempt", i, err)
		}
	}
	fmt.Println("11th:", emporium.ErrorMessage(login("alice@example.com", "192.0.2.1", "correct horse")))
	now = now.Add(15 * time.Minute)
	fmt.Println("15 minutes later:", login("alice@example.com", "192.0.2.1", "correct horse"))
	// Output:
	// 11th: Too many requests; try again in 900 seconds.
	// 15 minutes later: <nil>
}
