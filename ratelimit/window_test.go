package ratelimit_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/ratelimit"
)

func TestPresetsFollowDesign(t *testing.T) {
	// DESIGN §9: the numbers to start from.
	assert.Equal(t, ratelimit.Window{Max: 10, Period: 15 * time.Minute}, ratelimit.FailedLoginsPerAccountIP)
	assert.Equal(t, ratelimit.Window{Max: 100, Period: time.Hour}, ratelimit.FailedLoginsPerAccount)
	assert.Equal(t, ratelimit.Window{Max: 50, Period: time.Minute}, ratelimit.SignupsPerIP)
	assert.Equal(t, ratelimit.Window{Max: 5, Period: time.Hour}, ratelimit.ResetMailsPerAccount)
	assert.Equal(t, ratelimit.Window{Max: 5, Period: 30 * time.Second}, ratelimit.TOTPTries)
	assert.Equal(t, ratelimit.Limit{Rate: 300, Burst: 100, Period: time.Minute}, ratelimit.PerClient)
}

func TestEleventhFailedLoginIsRefusedUntilTheWindowSlides(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		l, clock := newLimiter(t, b)
		w := ratelimit.FailedLoginsPerAccountIP
		key := ratelimit.Key(ratelimit.PurposeFailedLoginsPerAccountIP, "alice@example.com", "192.0.2.1")

		// Ten failures a minute apart, at 0..9 minutes.
		for i := range 10 {
			if i > 0 {
				clock.Advance(time.Minute)
			}
			d, err := l.Hit(t.Context(), key, w)
			require.NoError(t, err)
			require.True(t, d.Allowed, "failure %d", i+1)
			assert.Equal(t, 10, d.Limit)
			assert.Equal(t, 9-i, d.Remaining, "failure %d", i+1)
			assert.Zero(t, d.RetryAfter)
			// The window is empty again 15 minutes after the newest event.
			assert.Equal(t, 15*time.Minute, d.ResetAfter)
		}

		// The 11th, at 10 minutes, is refused until the first (at 0) is
		// 15 minutes old.
		clock.Advance(time.Minute)
		d, err := l.Hit(t.Context(), key, w)
		require.NoError(t, err)
		assert.False(t, d.Allowed)
		assert.Equal(t, 0, d.Remaining)
		assert.Equal(t, 5*time.Minute, d.RetryAfter)
		assert.Equal(t, 14*time.Minute, d.ResetAfter)

		// A millisecond before the first failure leaves the window, still
		// refused; and the refusals were not counted.
		clock.Advance(5*time.Minute - time.Millisecond)
		d, err = l.Hit(t.Context(), key, w)
		require.NoError(t, err)
		assert.False(t, d.Allowed)
		assert.Equal(t, time.Millisecond, d.RetryAfter)

		// At 15 minutes the first failure is out: one more is allowed, and
		// the next waits for the second (at 1 minute) to leave.
		clock.Advance(time.Millisecond)
		d, err = l.Hit(t.Context(), key, w)
		require.NoError(t, err)
		assert.True(t, d.Allowed)
		assert.Equal(t, 0, d.Remaining)
		d, err = l.Hit(t.Context(), key, w)
		require.NoError(t, err)
		assert.False(t, d.Allowed)
		assert.Equal(t, time.Minute, d.RetryAfter)

		// Another address for the same account has a counter of its own.
		other := ratelimit.Key(ratelimit.PurposeFailedLoginsPerAccountIP, "alice@example.com", "192.0.2.2")
		d, err = l.Hit(t.Context(), other, w)
		require.NoError(t, err)
		assert.True(t, d.Allowed)
	})
}

func TestResetClearsTheWindow(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		l, _ := newLimiter(t, b)
		w := ratelimit.FailedLoginsPerAccountIP
		key := ratelimit.Key(ratelimit.PurposeFailedLoginsPerAccountIP, "bob@example.com", "192.0.2.1")
		for range w.Max {
			_, err := l.Hit(t.Context(), key, w)
			require.NoError(t, err)
		}
		d, err := l.Hit(t.Context(), key, w)
		require.NoError(t, err)
		require.False(t, d.Allowed)

		require.NoError(t, l.Reset(t.Context(), key))

		d, err = l.Count(t.Context(), key, w)
		require.NoError(t, err)
		assert.True(t, d.Allowed)
		assert.Equal(t, w.Max, d.Remaining)
		assert.Zero(t, d.ResetAfter)
		d, err = l.Hit(t.Context(), key, w)
		require.NoError(t, err)
		assert.True(t, d.Allowed)
		assert.Equal(t, w.Max-1, d.Remaining)

		// Resetting a counter that does not exist is not an error.
		require.NoError(t, l.Reset(t.Context(), ratelimit.Key("nothing", "here")))
	})
}

func TestCountDoesNotCount(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		l, clock := newLimiter(t, b)
		w := ratelimit.ResetMailsPerAccount
		key := ratelimit.Key(ratelimit.PurposeResetMailsPerAccount, "carol@example.com")

		for range 3 * w.Max {
			d, err := l.Count(t.Context(), key, w)
			require.NoError(t, err)
			require.True(t, d.Allowed)
			require.Equal(t, w.Max, d.Remaining)
		}
		assert.Empty(t, keysOf(t, b, l.Prefix), "a peek wrote a key")

		_, err := l.Hit(t.Context(), key, w)
		require.NoError(t, err)
		clock.Advance(10 * time.Minute)
		_, err = l.Hit(t.Context(), key, w)
		require.NoError(t, err)
		d, err := l.Count(t.Context(), key, w)
		require.NoError(t, err)
		assert.True(t, d.Allowed)
		assert.Equal(t, w.Max-2, d.Remaining)
		assert.Equal(t, time.Hour, d.ResetAfter)

		// Fill the window: Count then refuses as Hit would, with the same
		// wait, and still counts nothing.
		for range w.Max - 2 {
			d, err = l.Hit(t.Context(), key, w)
			require.NoError(t, err)
			require.True(t, d.Allowed)
		}
		for range 3 {
			d, err = l.Count(t.Context(), key, w)
			require.NoError(t, err)
			assert.False(t, d.Allowed)
			assert.Equal(t, 0, d.Remaining)
			assert.Equal(t, 50*time.Minute, d.RetryAfter)
		}

		// Count skips events that left the window even though only a Hit
		// trims them.
		clock.Advance(50 * time.Minute)
		d, err = l.Count(t.Context(), key, w)
		require.NoError(t, err)
		assert.True(t, d.Allowed)
		assert.Equal(t, 1, d.Remaining)
		assert.Zero(t, d.RetryAfter, "an allowed peek has no wait")
	})
}

func TestLoweredMaxWaitsForEnoughEventsToLeave(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		l, clock := newLimiter(t, b)
		key := ratelimit.Key(ratelimit.PurposeSignupsPerIP, "198.51.100.8")
		// Five events a second apart under a generous window...
		for i := range 5 {
			if i > 0 {
				clock.Advance(time.Second)
			}
			d, err := l.Hit(t.Context(), key, ratelimit.Window{Max: 10, Period: time.Minute})
			require.NoError(t, err)
			require.True(t, d.Allowed)
		}
		// ...then an operator lowers Max to 3: the next event is allowed
		// once three of the five have left, the third at 2s+1min.
		w := ratelimit.Window{Max: 3, Period: time.Minute}
		for _, check := range []func() (ratelimit.Decision, error){
			func() (ratelimit.Decision, error) { return l.Count(t.Context(), key, w) },
			func() (ratelimit.Decision, error) { return l.Hit(t.Context(), key, w) },
		} {
			d, err := check()
			require.NoError(t, err)
			assert.False(t, d.Allowed)
			assert.Equal(t, 0, d.Remaining)
			assert.Equal(t, time.Minute-2*time.Second, d.RetryAfter)
		}
		clock.Advance(time.Minute - 2*time.Second)
		d, err := l.Hit(t.Context(), key, w)
		require.NoError(t, err)
		assert.True(t, d.Allowed)
	})
}

func TestConcurrentHitsNeverExceedMax(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		l, _ := newLimiter(t, b)
		w := ratelimit.Window{Max: 10, Period: time.Minute}
		key := ratelimit.Key(ratelimit.PurposeSignupsPerIP, "198.51.100.7")

		const hitters = 50
		start := make(chan struct{})
		results := make(chan ratelimit.Decision, hitters)
		var wg sync.WaitGroup
		for range hitters {
			wg.Go(func() {
				<-start
				d, err := l.Hit(t.Context(), key, w)
				assert.NoError(t, err)
				results <- d
			})
		}
		close(start)
		wg.Wait()
		close(results)

		allowed := 0
		for d := range results {
			if d.Allowed {
				allowed++
			}
		}
		assert.Equal(t, w.Max, allowed)
		// Refused hits were not recorded: the set holds exactly Max events.
		n, err := b.client.ZCard(t.Context(), l.Prefix+key).Result()
		require.NoError(t, err)
		assert.EqualValues(t, w.Max, n)
		// And the key expires on its own once the window is over.
		ttl, err := b.client.PTTL(t.Context(), l.Prefix+key).Result()
		require.NoError(t, err)
		assert.Greater(t, ttl, time.Duration(0))
		assert.LessOrEqual(t, ttl, w.Period)
	})
}

func TestInvalidWindowIsABug(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		l, _ := newLimiter(t, b)
		for _, w := range []ratelimit.Window{{}, {Max: 0, Period: time.Minute}, {Max: 1, Period: time.Microsecond}} {
			d, err := l.Hit(t.Context(), "k", w)
			assert.True(t, emporium.IsCode(err, emporium.EINTERNAL), "%+v: %v", w, err)
			assert.False(t, d.Allowed)
			_, err = l.Count(t.Context(), "k", w)
			assert.True(t, emporium.IsCode(err, emporium.EINTERNAL), "%+v: %v", w, err)
		}
	})
}
