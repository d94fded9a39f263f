package live_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/live"
)

// TestMain silences go-redis's own logging, which prints every failed dial
// while a test has Redis down on purpose.
func TestMain(m *testing.M) {
	redis.SetLogger(discardLogger{})
	os.Exit(m.Run())
}

type discardLogger struct{}

func (discardLogger) Printf(context.Context, string, ...any) {}

// waitFor is how long a test waits for something that should happen at
// once: generous, because -race and a shared CI machine are slow.
const waitFor = 10 * time.Second

// backend is a Redis the suite runs against: always an in-process
// miniredis, and the real Redis at REDIS_URL when it is set.
type backend struct {
	name   string
	client *redis.Client
	// mini is the miniredis, nil for the real Redis.
	mini *miniredis.Miniredis
	// prefix is the test's own key and channel prefix: the real Redis is
	// shared, so a test touches nothing outside it and never flushes.
	prefix string
	// clientName names the test's connections, so that breakConnections
	// finds them among everyone's.
	clientName string
}

// eachBackend runs f as a subtest against every backend.
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Helper()
	t.Run("miniredis", func(t *testing.T) {
		t.Parallel()
		m := miniredis.RunT(t)
		client := redis.NewClient(&redis.Options{Addr: m.Addr()})
		t.Cleanup(func() { _ = client.Close() })
		f(t, backend{name: "miniredis", client: client, mini: m, prefix: "test:"})
	})
	url := os.Getenv("REDIS_URL")
	if url == "" {
		return
	}
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		opts, err := redis.ParseURL(url)
		require.NoError(t, err)
		name := "emporium-live-test-" + strings.ToLower(rand.Text())
		opts.ClientName = name
		client := redis.NewClient(opts)
		t.Cleanup(func() { _ = client.Close() })
		require.NoError(t, client.Ping(t.Context()).Err(), "REDIS_URL is set but Redis does not answer")
		f(t, backend{name: "redis", client: client, prefix: "test:" + rand.Text() + ":", clientName: name})
	})
}

// bus returns a Bus over the backend under the test's prefix.
func (b backend) bus() *live.Bus {
	return live.New(b.client, b.prefix)
}

// breakConnections cuts the test's connections to Redis, as a Redis restart
// or a network fault would: miniredis is closed and restarted on its port;
// on the real Redis the test's own pub/sub connections are killed.
func (b backend) breakConnections(t *testing.T) {
	t.Helper()
	if b.mini != nil {
		b.mini.Close()
		require.NoError(t, b.mini.Restart())
		return
	}
	list, err := b.client.ClientList(t.Context()).Result()
	require.NoError(t, err)
	killed := 0
	sc := bufio.NewScanner(strings.NewReader(list))
	for sc.Scan() {
		fields := map[string]string{}
		for _, kv := range strings.Fields(sc.Text()) {
			k, v, _ := strings.Cut(kv, "=")
			fields[k] = v
		}
		if fields["name"] != b.clientName || !strings.Contains(fields["flags"], "P") {
			continue
		}
		require.NoError(t, b.client.Do(t.Context(), "CLIENT", "KILL", "ID", fields["id"]).Err())
		killed++
	}
	require.NotZero(t, killed, "no pub/sub connection of this test to kill")
}

// numSub answers how many subscribers a channel has on the server.
func (b backend) numSub(t *testing.T, channel string) int64 {
	t.Helper()
	n, err := b.client.PubSubNumSub(t.Context(), channel).Result()
	require.NoError(t, err)
	return n[channel]
}

// event is a live event as a client decodes it.
type event struct {
	Type string          `json:"type"`
	ID   string          `json:"id"`
	Seq  uint64          `json:"seq"`
	Data json.RawMessage `json:"data"`
}

func decode(t *testing.T, msg []byte) event {
	t.Helper()
	var ev event
	require.NoError(t, json.Unmarshal(msg, &ev), "message: %s", msg)
	return ev
}

// next waits for the subscription's next message.
func next(t *testing.T, s *live.Subscription) event {
	t.Helper()
	select {
	case msg := <-s.Messages():
		return decode(t, msg)
	case <-s.Done():
		t.Fatalf("the subscription ended: %v", s.Err())
	case <-time.After(waitFor):
		t.Fatal("no message arrived")
	}
	return event{}
}

// nothingQueued checks that the subscription holds no message.
func nothingQueued(t *testing.T, s *live.Subscription) {
	t.Helper()
	select {
	case msg := <-s.Messages():
		t.Fatalf("unexpected message %s", msg)
	default:
	}
}

// register subscribes a user and closes the subscription at the end.
func register(t *testing.T, h *live.Hub, userID string) *live.Subscription {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	s, err := h.Register(ctx, userID)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

func newHub(t *testing.T, bus *live.Bus, opts live.HubOptions) *live.Hub {
	t.Helper()
	h := live.NewHub(bus, opts)
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func cartEvent(seq uint64) emporium.LiveEvent {
	return emporium.LiveEvent{Type: "cart.updated", ID: "cart", Seq: seq, Data: map[string]any{"item_count": seq}}
}
