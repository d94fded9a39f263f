package node

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/emporium-shop/emporium/persistence"
)

// openRedis connects to REDIS_URL, or starts an in-process Redis (miniredis)
// when it is empty. Losing Redis never loses an order or stock (DESIGN §7),
// so the embedded one keeps nothing across restarts.
func openRedis(ctx context.Context, url string, logger *slog.Logger) (*redis.Client, func(), error) {
	quietRedis.Do(func() { redis.SetLogger(redisLogger{logger}) })
	if url == "" {
		mr := miniredis.NewMiniRedis()
		// miniredis ages keys only when told to; without the wall clock,
		// one-time tokens and rate-limit windows would never expire.
		mr.ClockTTL(true)
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return nil, nil, fmt.Errorf("redis: starting the embedded Redis: %w", err)
		}
		client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		return client, func() { _ = client.Close(); mr.Close() }, nil
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, nil, fmt.Errorf("redis: REDIS_URL=%s is not a Redis URL: %w", persistence.RedactURI(url), err)
	}
	opts.DialTimeout = 3 * time.Second
	client := redis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		_ = client.Close()
		return nil, nil, fmt.Errorf("redis: cannot reach Redis at REDIS_URL=%s (%v); check the address or unset REDIS_URL to use the embedded Redis", persistence.RedactURI(url), err)
	}
	return client, func() { _ = client.Close() }, nil
}

// quietRedis routes go-redis's own log lines (dial retries and the like,
// which it prints to stderr) through slog at Debug: the node reports Redis
// trouble itself, through errors and /readyz.
var quietRedis sync.Once

type redisLogger struct{ logger *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.logger.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
