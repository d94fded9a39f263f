package bleveindex_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	bleveindex "github.com/emporium-shop/emporium/search/bleve"
)

// TestFeedCursorIsKeptWithTheIndex: a new index has no cursor; one saved
// is found again after the index is reopened.
func TestFeedCursorIsKeptWithTheIndex(t *testing.T) {
	dir := t.TempDir()
	idx, err := bleveindex.Open(dir)
	require.NoError(t, err)
	_, found, err := idx.LoadFeedCursor(t.Context())
	require.NoError(t, err)
	assert.False(t, found, "a new index follows no feed position yet")
	require.NoError(t, idx.SaveFeedCursor(t.Context(), 0))
	cursor, found, err := idx.LoadFeedCursor(t.Context())
	require.NoError(t, err)
	assert.True(t, found, "cursor 0 is a position, not the absence of one")
	assert.Zero(t, cursor)
	require.NoError(t, idx.SaveFeedCursor(t.Context(), 1<<40+7))
	require.NoError(t, idx.Close())

	idx, err = bleveindex.Open(dir)
	require.NoError(t, err)
	defer idx.Close()
	cursor, found, err = idx.LoadFeedCursor(t.Context())
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, uint64(1<<40+7), cursor)
}
