package persistencetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/protobuf/types/known/wrapperspb"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/persistence"
)

// The contract of a store's life: what one store wrote, the next one opened on
// the same data finds, and a closed store flushes what it accepted and
// refuses more.

func testReopenFindsData(t *testing.T, b Backend) {
	cfg := b.Config(t)
	ctx := ctxFor(t)
	s := b.open(t, cfg)
	_, err := s.Journal().Append(ctx, "s", 0, wrapperspb.String("kept"))
	require.NoError(t, err)
	require.NoError(t, s.Snapshots().Save(ctx, "s", 1, wrapperspb.String("state")))
	_, err = s.Documents("docs").Put(ctx, "d", 0, bson.M{"v": "doc"})
	require.NoError(t, err)
	s.Projections().Put("views", "v", 1, bson.M{"v": "view"})
	require.NoError(t, s.Close(ctx))

	s = b.open(t, cfg)
	got, last := loadAll(t, s.Journal(), "s", 0)
	require.EqualValues(t, 1, last)
	requireEvents(t, got, 1, wrapperspb.String("kept"))
	// The commit guard still holds after reopening.
	_, err = s.Journal().Append(ctx, "s", 0, wrapperspb.String("again"))
	requireCode(t, err, emporium.ECONFLICT)

	var state wrapperspb.StringValue
	seq, found, err := s.Snapshots().Load(ctx, "s", &state)
	require.NoError(t, err)
	require.True(t, found)
	assert.EqualValues(t, 1, seq)
	assert.Equal(t, "state", state.GetValue())

	var doc struct{ V string }
	v, err := s.Documents("docs").Get(ctx, "d", &doc)
	require.NoError(t, err)
	assert.EqualValues(t, 1, v)
	assert.Equal(t, "doc", doc.V)

	var view struct{ V string }
	seq, err = s.Projections().Get(ctx, "views", "v", &view)
	require.NoError(t, err)
	assert.EqualValues(t, 1, seq)
	assert.Equal(t, "view", view.V)
}

// testReopenKeepsEverything writes every kind of data several times over
// (events in several commits, replaced snapshots, documents updated and
// deleted, projections replaced and marked, indexes declared), closes the
// store and opens it again: everything reads back as it was last written,
// the queries by field answer as before without declaring their indexes
// again, and writes go on where they stopped.
func testReopenKeepsEverything(t *testing.T, b Backend) {
	cfg := b.Config(t)
	ctx := ctxFor(t)
	s := b.open(t, cfg)
	p := s.Projections()
	require.NoError(t, p.EnsureIndex(ctx, "orders", "vendor", "-_id"))
	require.NoError(t, p.EnsureIndex(ctx, "orders", "due"))
	require.NoError(t, p.EnsureIndex(ctx, "orders", "indexed", "_id"))

	for i := range 3 {
		stream := fmt.Sprintf("order/%d", i)
		seq := uint64(0)
		for c := range 3 {
			last, err := s.Journal().Append(ctx, stream, seq, wrapperspb.Int32(int32(10*i+c)), wrapperspb.Int32(int32(10*i+c)))
			require.NoError(t, err)
			seq = last
		}
		require.NoError(t, s.Snapshots().Save(ctx, stream, 2, wrapperspb.String("at 2")))
		require.NoError(t, s.Snapshots().Save(ctx, stream, 4, wrapperspb.String("at 4")))
	}
	docs := s.Documents("accounts")
	v, err := docs.Put(ctx, "kept", 0, bson.M{"name": "first"})
	require.NoError(t, err)
	_, err = docs.Put(ctx, "kept", v, bson.M{"name": "second"})
	require.NoError(t, err)
	_, err = docs.Put(ctx, "gone", 0, bson.M{"name": "gone"})
	require.NoError(t, err)
	require.NoError(t, docs.Delete(ctx, "gone", 1))

	due := testTime
	for i := range 4 {
		p.Put("orders", fmt.Sprintf("o%d", i), 1, bson.M{"vendor": "v1", "title": "old", "due": due.Add(time.Duration(i) * time.Minute)})
	}
	require.NoError(t, p.Flush(ctx))
	p.Put("orders", "o1", 2, bson.M{"vendor": "v2", "title": "moved"})
	require.NoError(t, p.Flush(ctx))
	require.NoError(t, p.SetMark(ctx, "orders", "indexed", persistence.Mark{ID: "o0", Seq: 1}, persistence.Mark{ID: "o1", Seq: 2}))
	require.NoError(t, s.Close(ctx))

	s = b.open(t, cfg)
	p = s.Projections()
	for i := range 3 {
		stream := fmt.Sprintf("order/%d", i)
		got, last := loadAll(t, s.Journal(), stream, 0)
		require.EqualValues(t, 6, last, stream)
		require.Len(t, got, 6, stream)
		var state wrapperspb.StringValue
		seq, found, err := s.Snapshots().Load(ctx, stream, &state)
		require.NoError(t, err)
		require.True(t, found)
		assert.EqualValues(t, 4, seq)
		assert.Equal(t, "at 4", state.GetValue())
		// Appends go on at the end, and nowhere else.
		_, err = s.Journal().Append(ctx, stream, 4, wrapperspb.Int32(-1))
		requireCode(t, err, emporium.ECONFLICT)
		last, err = s.Journal().Append(ctx, stream, 6, wrapperspb.Int32(99))
		require.NoError(t, err)
		assert.EqualValues(t, 7, last)
	}

	docs = s.Documents("accounts")
	var acct struct {
		Name string `bson:"name"`
	}
	v, err = docs.Get(ctx, "kept", &acct)
	require.NoError(t, err)
	assert.EqualValues(t, 2, v)
	assert.Equal(t, "second", acct.Name)
	_, err = docs.Get(ctx, "gone", nil)
	requireCode(t, err, emporium.ENOTFOUND)
	_, err = docs.Put(ctx, "kept", 1, bson.M{"name": "stale"})
	requireCode(t, err, emporium.ECONFLICT)
	v, err = docs.Put(ctx, "kept", 2, bson.M{"name": "third"})
	require.NoError(t, err)
	assert.EqualValues(t, 3, v)

	var moved listing
	seq, err := p.Get(ctx, "orders", "o1", &moved)
	require.NoError(t, err)
	assert.EqualValues(t, 2, seq)
	assert.Equal(t, "moved", moved.Title)
	var page []view
	require.NoError(t, p.List(ctx, "orders", "vendor", "v1", "", 10, &page))
	assert.Equal(t, []string{"o3", "o2", "o0"}, viewIDs(page))
	dueIDs, err := p.DueBefore(ctx, "orders", "due", due.Add(90*time.Second), 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"o0"}, dueIDs, "o1 has no due time any more, o2 and o3 are later")
	unmarked, err := p.Unmarked(ctx, "orders", "indexed", "", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"o2", "o3"}, unmarked)
	n, err := p.Count(ctx, "orders")
	require.NoError(t, err)
	assert.Equal(t, 4, n)
}

func testCloseFlushesAndRefuses(t *testing.T, b Backend) {
	cfg := b.Config(t)
	// Nothing would leave on its own for an hour: only Close writes.
	cfg.GroupCommit = persistence.GroupCommit{Linger: time.Hour, MaxBatch: 1000}
	ctx := ctxFor(t)
	s := b.open(t, cfg)
	for i := range 20 {
		s.Projections().Put("views", fmt.Sprintf("v%d", i), 1, bson.M{"i": i})
	}
	pending := make(chan error, 1)
	go func() {
		_, err := s.Journal().Append(ctx, "s", 0, wrapperspb.String("queued at close"))
		pending <- err
	}()
	// Close may start before the append is queued; then the append is
	// refused, which is also correct. Either way nothing is lost silently.
	require.NoError(t, s.Close(ctx))
	var appendErr error
	select {
	case appendErr = <-pending:
	case <-ctx.Done():
		t.Fatal("the append queued at close never returned")
	}

	_, err := s.Journal().Append(ctx, "s", 1, wrapperspb.String("late"))
	requireCode(t, err, emporium.EUNAVAILABLE)
	_, err = s.Documents("docs").Put(ctx, "d", 0, bson.M{"late": true})
	requireCode(t, err, emporium.EUNAVAILABLE)
	require.NoError(t, s.Close(ctx), "Close twice")

	s = b.open(t, cfg)
	n, err := s.Projections().Count(ctx, "views")
	require.NoError(t, err)
	assert.Equal(t, 20, n, "projections queued before Close")
	got, _ := loadAll(t, s.Journal(), "s", 0)
	if appendErr == nil {
		requireEvents(t, got, 1, wrapperspb.String("queued at close"))
	} else {
		requireCode(t, appendErr, emporium.EUNAVAILABLE)
		assert.Empty(t, got)
	}
	_, err = s.Documents("docs").Get(ctx, "d", nil)
	requireCode(t, err, emporium.ENOTFOUND)
}
