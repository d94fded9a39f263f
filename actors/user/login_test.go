package user_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
)

func TestLoginFailures(t *testing.T) {
	ctx := t.Context()
	email, _, _ := verifiedUser(t, "lockout")

	_, unknown := svc.Login(ctx, "nobody.here@example.com", password, client)
	_, wrong := svc.Login(ctx, email, "wrong password 1", client)
	require.Error(t, unknown)
	require.Error(t, wrong)
	assert.Equal(t, emporium.ErrorCode(wrong), emporium.ErrorCode(unknown))
	assert.Equal(t, emporium.ErrorMessage(wrong), emporium.ErrorMessage(unknown))
	assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(wrong))

	for i := 2; i <= 10; i++ {
		_, err := svc.Login(ctx, email, fmt.Sprint("wrong password ", i), client)
		assert.Equal(t, emporium.EUNAUTHENTICATED, code(t, err), "failure %d", i)
	}
	_, err := svc.Login(ctx, email, password, client)
	assert.Equal(t, emporium.ERATELIMITED, code(t, err), "the 11th attempt is refused even with the right password")

	// Another address is not locked out by this one.
	other := emporium.Client{IP: "198.51.100.9", UserAgent: "other"}
	_, err = svc.Login(ctx, email, password, other)
	require.NoError(t, err)

	// The window passes.
	advance(16 * time.Minute)
	_, err = svc.Login(ctx, email, password, client)
	require.NoError(t, err)
}

// TestParallelGuessesAreLimited fires concurrent wrong passwords at one
// account: no more than the account+IP window lets through are checked.
func TestParallelGuessesAreLimited(t *testing.T) {
	email, _, _ := verifiedUser(t, "parallel")
	var wg sync.WaitGroup
	var checked, limited atomic.Int64
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := svc.Login(t.Context(), email, fmt.Sprint("guess number ", i), client)
			switch emporium.ErrorCode(err) {
			case emporium.EUNAUTHENTICATED:
				checked.Add(1)
			case emporium.ERATELIMITED:
				limited.Add(1)
			default:
				t.Errorf("guess %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	// verifiedUser's own successful login reset the account+IP window.
	assert.LessOrEqual(t, checked.Load(), int64(10), "passwords checked")
	assert.Equal(t, int64(40), checked.Load()+limited.Load())
}

// TestFailedLoginsPerIP guesses one password against many accounts from one
// IPv6 /64: after 100 failures in an hour every login from that /64 is
// refused with a retry hint, while other addresses log in.
func TestFailedLoginsPerIP(t *testing.T) {
	ctx := t.Context()
	email, _, _ := verifiedUser(t, "perip")
	for i := range 100 {
		c := emporium.Client{IP: fmt.Sprintf("2001:db8:14:2::%x", i+1), UserAgent: "guesser"}
		_, err := svc.Login(ctx, fmt.Sprintf("victim.%d.perip@example.com", i), "a guessed password", c)
		require.Equal(t, emporium.EUNAUTHENTICATED, code(t, err), "failure %d", i+1)
	}
	same := emporium.Client{IP: "2001:db8:14:2:ffff::1", UserAgent: "guesser"}
	_, err := svc.Login(ctx, "victim.last.perip@example.com", "a guessed password", same)
	assert.Equal(t, emporium.ERATELIMITED, code(t, err), "the 101st failure from the /64")
	assert.Positive(t, emporium.ErrorRetryAfter(err))
	_, err = svc.Login(ctx, email, password, same)
	assert.Equal(t, emporium.ERATELIMITED, code(t, err), "even the right password, until the window passes")

	_, err = svc.Login(ctx, email, password, emporium.Client{IP: "2001:db8:14:3::1"})
	require.NoError(t, err, "another /64 is not held")
	advance(61 * time.Minute)
	_, err = svc.Login(ctx, email, password, same)
	require.NoError(t, err)
}
