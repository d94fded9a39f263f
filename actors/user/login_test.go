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
