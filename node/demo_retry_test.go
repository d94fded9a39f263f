package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	emporium "github.com/emporium-shop/emporium"
)

// TestRetryUnavailable: seeding tries again while the store is unavailable,
// and only then; it gives up after its attempts, and at once when the
// operator stops the node.
func TestRetryUnavailable(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	unavailable := &emporium.Error{Code: emporium.EUNAVAILABLE, Message: "the store did not answer in time"}

	calls := 0
	err := retryUnavailable(t.Context(), quiet, 5, time.Millisecond, 4*time.Millisecond, func() error {
		if calls++; calls < 3 {
			return unavailable
		}
		return nil
	})
	assert.NoError(t, err)
	assert.Equal(t, 3, calls, "two unavailable answers, then success")

	calls = 0
	err = retryUnavailable(t.Context(), quiet, 4, time.Millisecond, time.Millisecond, func() error { calls++; return unavailable })
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err))
	assert.Equal(t, 4, calls, "at most the attempts allowed")

	calls = 0
	refused := &emporium.Error{Code: emporium.EINVALID, Message: "no"}
	err = retryUnavailable(t.Context(), quiet, 4, time.Millisecond, time.Millisecond, func() error { calls++; return refused })
	assert.True(t, errors.Is(err, refused))
	assert.Equal(t, 1, calls, "a refusal is not retried")

	ctx, cancel := context.WithCancel(t.Context())
	calls = 0
	err = retryUnavailable(ctx, quiet, 10, time.Hour, time.Hour, func() error { calls++; cancel(); return unavailable })
	assert.Error(t, err)
	assert.Equal(t, 1, calls, "a stopped node stops trying, without waiting the hour")
}
