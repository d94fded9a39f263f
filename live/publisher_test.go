package live_test

import (
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/live"
)

func TestPublisherDelivers(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		bus := b.bus()
		h := newHub(t, bus, live.HubOptions{})
		s := register(t, h, "alice")
		p := live.NewPublisher(bus, live.PublisherOptions{})

		data := map[string]any{"item_count": 1}
		p.Publish("alice", emporium.LiveEvent{Type: "cart.updated", ID: "cart", Seq: 1, Data: data})
		data["item_count"] = 99 // the caller's data may change once Publish returned
		assert.Equal(t, event{Type: "cart.updated", ID: "cart", Seq: 1, Data: []byte(`{"item_count":1}`)}, next(t, s))

		require.NoError(t, p.Close())
		assert.Equal(t, live.PublisherStats{Published: 1}, p.Stats())
		p.Publish("alice", cartEvent(2))
		assert.Equal(t, uint64(1), p.Stats().Dropped, "after Close, events are dropped")
		require.NoError(t, p.Close(), "twice is harmless")
	})
}

func TestPublisherDropsInvalidEvents(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		p := live.NewPublisher(b.bus(), live.PublisherOptions{})
		p.Publish("", cartEvent(1))
		p.Publish("alice", emporium.LiveEvent{ID: "no type"})
		p.Publish("alice", emporium.LiveEvent{Type: "cart.updated", Data: func() {}}) // not JSON
		require.NoError(t, p.Close())
		assert.Equal(t, live.PublisherStats{Dropped: 3}, p.Stats())
	})
}

// TestPublisherNeverBlocks points a Publisher at a Redis that accepts
// connections and never answers: every Publish still returns at once, the
// overflow is dropped and counted, and Close gives up after DrainTimeout.
func TestPublisherNeverBlocks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	client := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	bus := live.New(client, "test:")
	bus.Timeout = 500 * time.Millisecond

	const queue, sent = 8, 1000
	p := live.NewPublisher(bus, live.PublisherOptions{Queue: queue, DrainTimeout: 50 * time.Millisecond})
	start := time.Now()
	for seq := range uint64(sent) {
		p.Publish("alice", cartEvent(seq))
	}
	assert.Less(t, time.Since(start), bus.Timeout, "Publish waited for Redis")
	st := p.Stats()
	// The queue is full, and at most one more batch (maxBatch, 256) is with
	// Redis.
	assert.GreaterOrEqual(t, st.Dropped, uint64(sent-queue-256))
	assert.LessOrEqual(t, st.Dropped, uint64(sent-queue))
	assert.Zero(t, st.Published)

	start = time.Now()
	require.NoError(t, p.Close())
	assert.Less(t, time.Since(start), 50*time.Millisecond+bus.Timeout+waitFor/10, "Close waits DrainTimeout plus the publish under way")
	st = p.Stats()
	assert.Equal(t, uint64(sent), st.Dropped+st.Failed, "every event is accounted for")
	assert.Zero(t, st.Queued)
}
