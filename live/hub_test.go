package live_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/live"
)

func TestHubFansOutToEveryConnectionOfTheUser(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		bus := b.bus()
		h := newHub(t, bus, live.HubOptions{})
		alice1 := register(t, h, "alice")
		alice2 := register(t, h, "alice")
		bob := register(t, h, "bob")
		assert.Equal(t, live.HubStats{Users: 2, Subscriptions: 3}, h.Stats())

		require.NoError(t, bus.Publish(t.Context(), "alice", cartEvent(1)))
		for _, s := range []*live.Subscription{alice1, alice2} {
			ev := next(t, s)
			assert.Equal(t, event{Type: "cart.updated", ID: "cart", Seq: 1, Data: []byte(`{"item_count":1}`)}, ev)
		}
		// Bob's first message is his own: alice's never reached him.
		require.NoError(t, bus.Publish(t.Context(), "bob", emporium.LiveEvent{Type: "order.updated", ID: "o-1", Seq: 7}))
		assert.Equal(t, event{Type: "order.updated", ID: "o-1", Seq: 7}, next(t, bob))
		nothingQueued(t, alice1)
		nothingQueued(t, alice2)
		assert.Equal(t, uint64(3), h.Stats().Delivered)
	})
}

func TestHubDeliversInOrder(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		bus := b.bus()
		h := newHub(t, bus, live.HubOptions{})
		s := register(t, h, "alice")
		for seq := uint64(1); seq <= 20; seq++ {
			require.NoError(t, bus.Publish(t.Context(), "alice", cartEvent(seq)))
		}
		for seq := uint64(1); seq <= 20; seq++ {
			assert.Equal(t, seq, next(t, s).Seq)
		}
	})
}

func TestHubUnsubscribesWhenTheLastConnectionLeaves(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		bus := b.bus()
		h := newHub(t, bus, live.HubOptions{})
		channel := bus.UserChannel("alice")
		first := register(t, h, "alice")
		second := register(t, h, "alice")
		assert.Equal(t, int64(1), b.numSub(t, channel), "one Redis subscription per node, not per connection")

		first.Close()
		assert.Equal(t, int64(1), b.numSub(t, channel), "alice still has a connection")
		assert.ErrorIs(t, first.Err(), live.ErrClosed)
		require.NoError(t, bus.Publish(t.Context(), "alice", cartEvent(1)))
		assert.Equal(t, uint64(1), next(t, second).Seq)
		nothingQueued(t, first)

		second.Close()
		second.Close() // twice is harmless
		require.Eventually(t, func() bool { return b.numSub(t, channel) == 0 }, waitFor, 10*time.Millisecond,
			"the channel is unsubscribed once alice's last connection left")
		assert.Equal(t, live.HubStats{Delivered: 1}, h.Stats())

		// Coming back subscribes again.
		again := register(t, h, "alice")
		assert.Equal(t, int64(1), b.numSub(t, channel))
		require.NoError(t, bus.Publish(t.Context(), "alice", cartEvent(2)))
		assert.Equal(t, uint64(2), next(t, again).Seq)
	})
}

// TestHubChurn registers and closes connections of one user in quick
// succession: whatever order the confirmations arrive in, the hub ends
// subscribed exactly while the user has a connection.
func TestHubChurn(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		bus := b.bus()
		h := newHub(t, bus, live.HubOptions{})
		channel := bus.UserChannel("alice")
		for range 20 {
			s := register(t, h, "alice")
			s.Close()
		}
		require.Eventually(t, func() bool { return b.numSub(t, channel) == 0 }, waitFor, 10*time.Millisecond)
		s := register(t, h, "alice")
		require.NoError(t, bus.Publish(t.Context(), "alice", cartEvent(1)))
		assert.Equal(t, uint64(1), next(t, s).Seq)
		assert.Equal(t, int64(1), b.numSub(t, channel))
	})
}

func TestHubDropsSlowSubscribers(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		bus := b.bus()
		h := newHub(t, bus, live.HubOptions{Buffer: 4})
		slow := register(t, h, "alice")
		fast := register(t, h, "alice")

		// The fast connection reads each message before the next is sent;
		// the slow one reads nothing, and its fifth message finds its
		// buffer full.
		for seq := uint64(1); seq <= 8; seq++ {
			require.NoError(t, bus.Publish(t.Context(), "alice", cartEvent(seq)))
			assert.Equal(t, seq, next(t, fast).Seq)
		}
		select {
		case <-slow.Done():
		default:
			t.Fatal("the slow subscription was not dropped")
		}
		assert.ErrorIs(t, slow.Err(), live.ErrSlow)
		assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(slow.Err()))
		assert.Len(t, slow.Messages(), 4, "it keeps what it had room for, and nothing after")
		assert.Equal(t, uint64(1), h.Stats().Slow)
		assert.NoError(t, fast.Err())
	})
}

func TestHubSkipsMessagesThatAreNotLiveEvents(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		bus := b.bus()
		h := newHub(t, bus, live.HubOptions{})
		s := register(t, h, "alice")
		for _, junk := range []string{"not json", `{"id":"no type"}`, `[1,2]`} {
			require.NoError(t, b.client.Publish(t.Context(), bus.UserChannel("alice"), junk).Err())
		}
		require.NoError(t, bus.Publish(t.Context(), "alice", cartEvent(1)))
		assert.Equal(t, uint64(1), next(t, s).Seq)
		assert.Equal(t, uint64(3), h.Stats().Malformed)
	})
}

// TestHubSurvivesReconnects breaks the hub's connection to Redis: go-redis
// reconnects and subscribes again, the hub tells the user's connections to
// resync (what was published meanwhile is lost), and delivery goes on.
func TestHubSurvivesReconnects(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		bus := b.bus()
		h := newHub(t, bus, live.HubOptions{})
		alice := register(t, h, "alice")
		bob := register(t, h, "bob")

		b.breakConnections(t)
		for _, s := range []*live.Subscription{alice, bob} {
			select {
			case <-s.Resync():
			case <-time.After(waitFor):
				t.Fatalf("%s was not told to resync", s.UserID())
			}
		}
		assert.Equal(t, uint64(2), h.Stats().Resyncs)
		require.NoError(t, bus.Publish(t.Context(), "alice", cartEvent(1)))
		assert.Equal(t, uint64(1), next(t, alice).Seq)
		require.NoError(t, bus.Publish(t.Context(), "bob", cartEvent(2)))
		assert.Equal(t, uint64(2), next(t, bob).Seq)

		// A user who connects after the reconnect is subscribed as usual.
		carol := register(t, h, "carol")
		require.NoError(t, bus.Publish(t.Context(), "carol", cartEvent(3)))
		assert.Equal(t, uint64(3), next(t, carol).Seq)
	})
}

func TestHubClose(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		h := live.NewHub(b.bus(), live.HubOptions{})
		s := register(t, h, "alice")
		require.NoError(t, h.Close())
		select {
		case <-s.Done():
		default:
			t.Fatal("closing the hub did not end its subscriptions")
		}
		assert.ErrorIs(t, s.Err(), live.ErrHubClosed)
		s.Close() // after the hub closed, harmless
		require.NoError(t, h.Close(), "twice is harmless")

		_, err := h.Register(t.Context(), "alice")
		assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err))
		assert.ErrorIs(t, err, live.ErrHubClosed)
	})
}

func TestHubRegisterWithoutRedis(t *testing.T) {
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = client.Close() })

	h := newHub(t, live.New(client, "test:"), live.HubOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	start := time.Now()
	_, err = h.Register(ctx, "alice")
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err))
	assert.Less(t, time.Since(start), waitFor/2, "a refused connection fails at once")
	st := h.Stats()
	assert.Zero(t, st.Subscriptions, "nothing is left registered")
	assert.NotZero(t, st.Failed)
}

func TestHubRegisterGivesUpWhenRedisDoesNotConfirm(t *testing.T) {
	// A server that accepts connections and never answers.
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
	client := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	bus := live.New(client, "test:")
	bus.Timeout = 200 * time.Millisecond

	h := live.NewHub(bus, live.HubOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = h.Register(ctx, "alice")
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err))
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	assert.Less(t, time.Since(start), waitFor/5, "Register gives up when its context is done, whatever go-redis waits for")
	assert.Equal(t, 0, h.Stats().Subscriptions)

	// Close does not wait out go-redis's timeouts either.
	start = time.Now()
	_ = h.Close()
	assert.Less(t, time.Since(start), bus.Timeout+waitFor/5)
}

func TestPublishRefusesEventsForNobody(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		bus := b.bus()
		err := bus.Publish(t.Context(), "", cartEvent(1))
		assert.Equal(t, emporium.EINTERNAL, emporium.ErrorCode(err))
		err = bus.Publish(t.Context(), "alice", emporium.LiveEvent{ID: "x"})
		assert.Equal(t, emporium.EINTERNAL, emporium.ErrorCode(err))
		_, err = newHub(t, bus, live.HubOptions{}).Register(t.Context(), "")
		assert.Equal(t, emporium.EINTERNAL, emporium.ErrorCode(err))
	})
}
