package sqlitestore

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/persistence"
)

// TestReadThatCannotGetTheStoreFailsFast: when every read connection is
// taken (a stalled store), a read gives up after its deadline with
// EUNAVAILABLE and a retry hint, instead of queueing for as long as its
// caller waits; the API turns that into 503 with Retry-After.
func TestReadThatCannotGetTheStoreFailsFast(t *testing.T) {
	ctx := t.Context()
	st, err := Open(ctx, persistence.Config{DataDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	_, err = st.Documents("docs").Put(ctx, "d", 0, bson.M{"v": 1})
	require.NoError(t, err)
	st.readTimeout = 100 * time.Millisecond

	var held []*sql.Conn
	for range st.reader.Stats().MaxOpenConnections {
		c, err := st.reader.Conn(ctx)
		require.NoError(t, err)
		held = append(held, c)
	}
	start := time.Now()
	_, err = st.Documents("docs").Get(ctx, "d", nil)
	took := time.Since(start)
	require.Error(t, err)
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err), "%v", err)
	assert.Positive(t, emporium.ErrorRetryAfter(err), "the error says when to retry")
	assert.Less(t, took, 2*time.Second, "the read gave up at its deadline")

	for _, c := range held {
		require.NoError(t, c.Close())
	}
	version, err := st.Documents("docs").Get(ctx, "d", nil)
	require.NoError(t, err, "the store answers again once connections are free")
	assert.EqualValues(t, 1, version)
}
