package search

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
)

// memFeed is a Feed in memory: entry i (from 1) is entries[i-1].
type memFeed struct {
	mu      sync.Mutex
	entries [][]string
	fail    int
}

func (f *memFeed) Publish(_ context.Context, ids []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, append([]string(nil), ids...))
	return nil
}

func (f *memFeed) Read(_ context.Context, cursor uint64, limit int) ([]string, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail > 0 {
		f.fail--
		return nil, cursor, emporium.Errorf(emporium.EUNAVAILABLE, "feed down")
	}
	var ids []string
	next := cursor
	for int(next) < len(f.entries) && len(ids) < limit {
		ids = append(ids, f.entries[next]...)
		next++
	}
	return ids, next, nil
}

// memCursors keeps a cursor in memory.
type memCursors struct {
	mu     sync.Mutex
	cursor uint64
	saved  bool
}

func (c *memCursors) LoadFeedCursor(context.Context) (uint64, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cursor, c.saved, nil
}

func (c *memCursors) SaveFeedCursor(_ context.Context, cursor uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cursor, c.saved = cursor, true
	return nil
}

// member is one cluster member's indexer over the shared source and feed,
// with an index and a cursor of its own.
type member struct {
	index   *memIndex
	cursors *memCursors
	indexer *Indexer
}

func startMember(t *testing.T, source *memSource, feed *memFeed) *member {
	t.Helper()
	m := &member{index: newMemIndex(), cursors: &memCursors{}}
	var err error
	m.indexer, err = NewIndexer(IndexerConfig{
		Index: m.index, Source: source, Feed: feed, Cursors: m.cursors,
		Logger: slog.New(slog.DiscardHandler), PollInterval: time.Hour, FeedInterval: 5 * time.Millisecond,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxBatch: 3,
	})
	require.NoError(t, err)
	runIndexer(t, m.indexer)
	return m
}

func (m *member) indexedAt(t *testing.T, id string, version uint64) {
	t.Helper()
	require.Eventually(t, func() bool {
		p, ok := m.index.get(id)
		return ok && p.Version == version
	}, 5*time.Second, 2*time.Millisecond, "product %s indexed at version %d", id, version)
}

// TestMembersFollowOneAnotherThroughTheFeed: two members with indexes of
// their own over one store. What one indexes (its grain changed it), the
// other indexes from the feed; a member that joins later, with an empty
// index, first indexes every product, including one acknowledged before
// any feed existed, and then follows.
func TestMembersFollowOneAnotherThroughTheFeed(t *testing.T) {
	t.Parallel()
	source, feed := newMemSource(), &memFeed{}
	// Indexed and acknowledged before the members had a feed.
	source.put(product("old", 1<<32))
	require.NoError(t, source.Acknowledge(context.Background(), []Loaded{{Product: product("old", 1<<32), Seq: 1 << 32}}))

	a := startMember(t, source, feed)
	b := startMember(t, source, feed)
	a.indexedAt(t, "old", 1<<32)
	b.indexedAt(t, "old", 1<<32)

	for i, id := range []string{"p1", "p2", "p3", "p4", "p5"} {
		source.put(product(id, uint64(i+1)<<32))
		a.indexer.Notify(id) // only A hears of it: its grain made the change
	}
	for i, id := range []string{"p1", "p2", "p3", "p4", "p5"} {
		b.indexedAt(t, id, uint64(i+1)<<32)
	}
	assert.False(t, source.pending("p5"), "A acknowledged once it had published")

	// B changes p1 and A follows; a feed outage only delays it.
	feed.mu.Lock()
	feed.fail = 3
	feed.mu.Unlock()
	source.put(product("p1", 9<<32))
	b.indexer.Notify("p1")
	a.indexedAt(t, "p1", 9<<32)

	// A late member catches up from nothing, then follows.
	c := startMember(t, source, feed)
	for _, id := range []string{"old", "p2", "p5"} {
		p, _ := a.index.get(id)
		c.indexedAt(t, id, p.Version)
	}
	c.indexedAt(t, "p1", 9<<32)
	source.put(product("p6", 1<<32))
	a.indexer.Notify("p6")
	c.indexedAt(t, "p6", 1<<32)
	b.indexedAt(t, "p6", 1<<32)
	require.Eventually(t, func() bool {
		feed.mu.Lock()
		defer feed.mu.Unlock()
		return c.indexer.FeedCursor() == uint64(len(feed.entries))
	}, 5*time.Second, 2*time.Millisecond, "the late member read the whole feed")
	assert.True(t, c.cursors.saved, "the cursor is kept with the index")
}

// TestFeedNeedsCursors: a feed without somewhere to keep the cursor is a
// wiring mistake, refused at once.
func TestFeedNeedsCursors(t *testing.T) {
	_, err := NewIndexer(IndexerConfig{Index: newMemIndex(), Source: newMemSource(), Feed: &memFeed{}})
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
}
