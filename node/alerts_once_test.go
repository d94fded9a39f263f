package node

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
)

// TestOnceSendsANoticeOnce: a notice sent is not sent again, whichever
// node asks; one being sent is retried later; a failed one is sent by the
// next try.
func TestOnceSendsANoticeOnce(t *testing.T) {
	srv := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	logger := slog.New(slog.DiscardHandler)
	sends := 0
	send := func() error { sends++; return nil }

	require.NoError(t, once(t.Context(), rdb, "k1", logger, send))
	require.NoError(t, once(t.Context(), rdb, "k1", logger, send))
	assert.Equal(t, 1, sends, "a key sent is not sent again")

	fail := func() error { sends++; return errors.New("smtp down") }
	require.Error(t, once(t.Context(), rdb, "k2", logger, fail))
	require.NoError(t, once(t.Context(), rdb, "k2", logger, send))
	assert.Equal(t, 3, sends, "a failed send is tried again")

	// A claim held by another node's attempt: retry later, send nothing.
	require.NoError(t, rdb.Set(t.Context(), "k3", "sending", alertSendingTTL).Err())
	err := once(t.Context(), rdb, "k3", logger, send)
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err))
	assert.Equal(t, 3, sends)
	// Its claim expires (the node died): the next try sends.
	srv.FastForward(alertSendingTTL)
	require.NoError(t, once(t.Context(), rdb, "k3", logger, send))
	assert.Equal(t, 4, sends)
}
