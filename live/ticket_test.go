package live_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/live"
)

// clock is a clock the test moves by hand; goroutines may read it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var alice = emporium.Principal{UserID: "u-alice", SessionID: "s-alice", Roles: []string{emporium.RoleCustomer}}

func TestTicketIsSingleUse(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		bus := b.bus()
		expires := time.Now().Add(15 * time.Minute).Truncate(time.Millisecond).UTC()
		ticket, ttl, err := bus.IssueTicket(t.Context(), alice, expires)
		require.NoError(t, err)
		assert.Equal(t, live.TicketTTL, ttl)
		assert.Len(t, ticket, 43, "32 random bytes, base64url")

		p, err := bus.RedeemTicket(t.Context(), ticket)
		require.NoError(t, err)
		want := alice
		want.ExpiresAt = expires
		assert.Equal(t, want, p)

		_, err = bus.RedeemTicket(t.Context(), ticket)
		assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(err), "a ticket works once")

		other, _, err := bus.IssueTicket(t.Context(), alice, expires)
		require.NoError(t, err)
		assert.NotEqual(t, ticket, other)
	})
}

func TestTicketIsStoredHashed(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ticket, _, err := b.bus().IssueTicket(t.Context(), alice, time.Now().Add(time.Minute))
		require.NoError(t, err)
		keys, err := b.client.Keys(t.Context(), b.prefix+"live:ticket:*").Result()
		require.NoError(t, err)
		require.Len(t, keys, 1)
		assert.NotContains(t, keys[0], ticket)
		value, err := b.client.Get(t.Context(), keys[0]).Result()
		require.NoError(t, err)
		assert.NotContains(t, value, ticket)
	})
}

func TestTicketExpires(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		bus := b.bus()
		if b.mini == nil {
			// The real Redis ages keys on its own clock: a ticket for a
			// token that expires in just over a second lives that long.
			ticket, ttl, err := bus.IssueTicket(t.Context(), alice, time.Now().Add(1100*time.Millisecond))
			require.NoError(t, err)
			assert.LessOrEqual(t, ttl, 1100*time.Millisecond)
			keys, err := b.client.Keys(t.Context(), b.prefix+"live:ticket:*").Result()
			require.NoError(t, err)
			require.Len(t, keys, 1)
			require.Eventually(t, func() bool { return b.client.Exists(t.Context(), keys[0]).Val() == 0 }, waitFor, 20*time.Millisecond)
			_, err = bus.RedeemTicket(t.Context(), ticket)
			assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(err))
			return
		}
		ticket, _, err := bus.IssueTicket(t.Context(), alice, time.Now().Add(time.Hour))
		require.NoError(t, err)
		b.mini.FastForward(live.TicketTTL - time.Millisecond)
		fresh, _, err := bus.IssueTicket(t.Context(), alice, time.Now().Add(time.Hour))
		require.NoError(t, err)
		b.mini.FastForward(time.Millisecond)
		_, err = bus.RedeemTicket(t.Context(), ticket)
		assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(err), "30 s later the ticket is gone")
		_, err = bus.RedeemTicket(t.Context(), fresh)
		assert.NoError(t, err, "a younger ticket still works")
	})
}

func TestTicketLivesNoLongerThanItsToken(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		c := &clock{now: time.Now()}
		bus := b.bus()
		bus.Now = c.Now

		ticket, ttl, err := bus.IssueTicket(t.Context(), alice, c.Now().Add(10*time.Second))
		require.NoError(t, err)
		assert.Equal(t, 10*time.Second, ttl)
		pttl, err := b.client.PTTL(t.Context(), keyOf(t, b)).Result()
		require.NoError(t, err)
		assert.LessOrEqual(t, pttl, 10*time.Second)
		assert.Greater(t, pttl, 8*time.Second)

		// The token expires before the ticket is used.
		c.Advance(10 * time.Second)
		_, err = bus.RedeemTicket(t.Context(), ticket)
		assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(err))
		assert.Contains(t, emporium.ErrorMessage(err), "access token")
		assert.Zero(t, b.client.Exists(t.Context(), keyOf(t, b)).Val(), "the ticket was used up all the same")
	})
}

// keyOf answers the one ticket key of the test, if any.
func keyOf(t *testing.T, b backend) string {
	t.Helper()
	keys, err := b.client.Keys(t.Context(), b.prefix+"live:ticket:*").Result()
	require.NoError(t, err)
	if len(keys) == 0 {
		return b.prefix + "live:ticket:none"
	}
	require.Len(t, keys, 1)
	return keys[0]
}

func TestTicketRefusals(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		bus := b.bus()
		now := time.Now()

		_, _, err := bus.IssueTicket(t.Context(), alice, now.Add(500*time.Millisecond))
		assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(err), "a token about to expire gets no ticket")
		_, _, err = bus.IssueTicket(t.Context(), alice, now.Add(-time.Second))
		assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(err))
		_, _, err = bus.IssueTicket(t.Context(), emporium.Principal{}, now.Add(time.Hour))
		assert.Equal(t, emporium.EINTERNAL, emporium.ErrorCode(err))
		_, _, err = bus.IssueTicket(t.Context(), alice, time.Time{})
		assert.Equal(t, emporium.EINTERNAL, emporium.ErrorCode(err))
		assert.Empty(t, b.client.Keys(t.Context(), b.prefix+"*").Val(), "nothing was stored")

		for _, bad := range []string{"", "short", strings.Repeat("a", 42), strings.Repeat("a", 44), strings.Repeat("a", 42) + "=", strings.Repeat("a", 42) + "/"} {
			_, err := bus.RedeemTicket(t.Context(), bad)
			assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(err), "%q", bad)
		}
		_, err = bus.RedeemTicket(t.Context(), strings.Repeat("a", 43))
		assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(err), "well formed but never issued")
	})
}
