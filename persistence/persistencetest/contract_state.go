package persistencetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/protobuf/types/known/wrapperspb"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/persistence"
)

// The contract of snapshots, versioned documents and projections.

func testSnapshotsKeepNewest(t *testing.T, b Backend) {
	cfg := b.Config(t)
	cfg.Now = fixedClock
	snaps := b.open(t, cfg).Snapshots()
	ctx := ctxFor(t)

	var state wrapperspb.StringValue
	seq, found, err := snaps.Load(ctx, "s", &state)
	require.NoError(t, err)
	assert.False(t, found)
	assert.Zero(t, seq)

	save := func(seq uint64, value string) {
		t.Helper()
		require.NoError(t, snaps.Save(ctx, "s", seq, wrapperspb.String(value)))
	}
	expect := func(wantSeq uint64, want string) {
		t.Helper()
		var got wrapperspb.StringValue
		seq, found, err := snaps.Load(ctx, "s", &got)
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, wantSeq, seq)
		assert.Equal(t, want, got.GetValue())
	}
	save(5, "five")
	expect(5, "five")
	save(3, "three") // older: ignored
	expect(5, "five")
	save(5, "five again") // same seq: the first stays
	expect(5, "five")
	save(8, "eight")
	expect(8, "eight")

	require.NoError(t, snaps.Save(ctx, "other", 1, wrapperspb.String("other")))
	expect(8, "eight")

	_, _, err = snaps.Load(ctx, "s", &wrapperspb.Int64Value{})
	requireCode(t, err, emporium.EINTERNAL)
	requireCode(t, snaps.Save(ctx, "s", 9, nil), emporium.EINVALID)
	requireCode(t, snaps.Save(ctx, "", 9, wrapperspb.String("nameless")), emporium.EINVALID)
	_, _, err = snaps.Load(ctx, "s", nil)
	requireCode(t, err, emporium.EINVALID)
}

func testSnapshotsRacingSavers(t *testing.T, b Backend) {
	snaps := b.open(t, b.Config(t)).Snapshots()
	ctx := ctxFor(t)
	const savers = 30
	var wg sync.WaitGroup
	for seq := range uint64(savers) {
		wg.Go(func() {
			assert.NoError(t, snaps.Save(ctx, "raced", seq+1, wrapperspb.UInt64(seq+1)))
		})
	}
	wg.Wait()
	var got wrapperspb.UInt64Value
	seq, found, err := snaps.Load(ctx, "raced", &got)
	require.NoError(t, err)
	require.True(t, found)
	assert.EqualValues(t, savers, seq, "an older snapshot replaced the newest")
	assert.EqualValues(t, savers, got.GetValue())
}

// cartDoc is a state document as a caller would define it.
type cartDoc struct {
	ID      string   `bson:"_id,omitempty"`
	Version int64    `bson:"version,omitempty"`
	Owner   string   `bson:"owner"`
	Lines   []string `bson:"lines"`
}

func testDocumentsVersions(t *testing.T, b Backend) {
	docs := b.open(t, b.Config(t)).Documents("carts")
	ctx := ctxFor(t)

	_, err := docs.Get(ctx, "c1", &cartDoc{})
	requireCode(t, err, emporium.ENOTFOUND)

	v, err := docs.Put(ctx, "c1", 0, cartDoc{Owner: "ann", Lines: []string{"sku-1"}, Version: 99, ID: "ignored"})
	require.NoError(t, err)
	require.EqualValues(t, 1, v)

	_, err = docs.Put(ctx, "c1", 0, cartDoc{Owner: "bob"})
	requireCode(t, err, emporium.ECONFLICT)

	var got cartDoc
	v, err = docs.Get(ctx, "c1", &got)
	require.NoError(t, err)
	require.EqualValues(t, 1, v)
	assert.Equal(t, cartDoc{ID: "c1", Version: 1, Owner: "ann", Lines: []string{"sku-1"}}, got)

	v, err = docs.Put(ctx, "c1", 1, cartDoc{Owner: "ann", Lines: []string{"sku-1", "sku-2"}})
	require.NoError(t, err)
	require.EqualValues(t, 2, v)

	for _, stale := range []int64{1, 3} {
		_, err = docs.Put(ctx, "c1", stale, cartDoc{Owner: "mallory"})
		requireCode(t, err, emporium.ECONFLICT)
	}
	v, err = docs.Get(ctx, "c1", &got)
	require.NoError(t, err)
	require.EqualValues(t, 2, v, "a conflicting put changed the document")
	assert.Equal(t, cartDoc{ID: "c1", Version: 2, Owner: "ann", Lines: []string{"sku-1", "sku-2"}}, got)

	requireCode(t, docs.Delete(ctx, "c1", 1), emporium.ECONFLICT)
	require.NoError(t, docs.Delete(ctx, "c1", 2))
	_, err = docs.Get(ctx, "c1", nil)
	requireCode(t, err, emporium.ENOTFOUND)
	requireCode(t, docs.Delete(ctx, "c1", 2), emporium.ENOTFOUND)
	_, err = docs.Put(ctx, "c1", 2, cartDoc{Owner: "ann"})
	requireCode(t, err, emporium.ECONFLICT)

	// A deleted document can be created again.
	v, err = docs.Put(ctx, "c1", 0, cartDoc{Owner: "ann"})
	require.NoError(t, err)
	require.EqualValues(t, 1, v)

	_, err = docs.Put(ctx, "c2", -1, cartDoc{})
	requireCode(t, err, emporium.EINVALID)
	_, err = docs.Put(ctx, "c2", 0, "not a document")
	requireCode(t, err, emporium.EINVALID)
	_, err = docs.Put(ctx, "", 0, cartDoc{})
	requireCode(t, err, emporium.EINVALID)
	_, err = docs.Get(ctx, "c2", nil)
	requireCode(t, err, emporium.ENOTFOUND)
}

// testDocumentsDelete pins down Delete: it removes only the version named,
// tells a missing document (ENOTFOUND) from one at another version
// (ECONFLICT), and changes nothing when it refuses.
func testDocumentsDelete(t *testing.T, b Backend) {
	s := b.open(t, b.Config(t))
	docs := s.Documents("accounts")
	ctx := ctxFor(t)

	requireCode(t, s.Documents("never-written").Delete(ctx, "a", 1), emporium.ENOTFOUND)
	requireCode(t, docs.Delete(ctx, "a", 1), emporium.ENOTFOUND)

	_, err := docs.Put(ctx, "a", 0, bson.M{"name": "ann"})
	require.NoError(t, err)
	_, err = docs.Put(ctx, "a", 1, bson.M{"name": "ann b."})
	require.NoError(t, err)
	_, err = docs.Put(ctx, "b", 0, bson.M{"name": "bob"})
	require.NoError(t, err)

	for _, other := range []int64{1, 3} {
		requireCode(t, docs.Delete(ctx, "a", other), emporium.ECONFLICT)
	}
	requireCode(t, docs.Delete(ctx, "a", 0), emporium.EINVALID)
	requireCode(t, docs.Delete(ctx, "a", -1), emporium.EINVALID)
	var got struct {
		Name string `bson:"name"`
	}
	v, err := docs.Get(ctx, "a", &got)
	require.NoError(t, err, "a refused delete removed the document")
	assert.EqualValues(t, 2, v)
	assert.Equal(t, "ann b.", got.Name)

	require.NoError(t, docs.Delete(ctx, "a", 2))
	_, err = docs.Get(ctx, "a", nil)
	requireCode(t, err, emporium.ENOTFOUND)
	requireCode(t, docs.Delete(ctx, "a", 2), emporium.ENOTFOUND) // deleting twice

	v, err = docs.Get(ctx, "b", &got)
	require.NoError(t, err, "a delete removed another document")
	assert.EqualValues(t, 1, v)
	assert.Equal(t, "bob", got.Name)
}

func testDocumentsRacingWriters(t *testing.T, b Backend) {
	docs := b.open(t, b.Config(t)).Documents("counters")
	ctx := ctxFor(t)
	const writers = 25

	// Everyone creates: one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for w := range writers {
		wg.Go(func() {
			_, err := docs.Put(ctx, "n", 0, bson.M{"by": w})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				created++
			} else if !emporium.IsCode(err, emporium.ECONFLICT) {
				t.Errorf("create: %v", err)
			}
		})
	}
	wg.Wait()
	require.Equal(t, 1, created, "creates that succeeded")

	// Everyone increments from what they read, retrying on conflict: with
	// lost updates the count would fall short.
	for range writers {
		wg.Go(func() {
			for {
				var cur struct {
					Count int `bson:"count"`
				}
				v, err := docs.Get(ctx, "n", &cur)
				if err != nil {
					t.Errorf("get: %v", err)
					return
				}
				_, err = docs.Put(ctx, "n", v, bson.M{"count": cur.Count + 1})
				if err == nil {
					return
				}
				if !emporium.IsCode(err, emporium.ECONFLICT) {
					t.Errorf("put: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	var final struct {
		Count int `bson:"count"`
	}
	v, err := docs.Get(ctx, "n", &final)
	require.NoError(t, err)
	assert.Equal(t, writers, final.Count, "lost updates")
	assert.EqualValues(t, writers+1, v)
}

// listing is a read-model document.
type listing struct {
	Seq   uint64 `bson:"seq"`
	Title string `bson:"title"`
}

// getListing reads a stored projection through Projections.Get.
func getListing(t *testing.T, s persistence.Store, collection, id string) (listing, bool) {
	t.Helper()
	var got listing
	seq, err := s.Projections().Get(ctxFor(t), collection, id, &got)
	if emporium.IsCode(err, emporium.ENOTFOUND) {
		return listing{}, false
	}
	require.NoError(t, err)
	assert.Equal(t, seq, got.Seq, "Get's seq and the document's")
	return got, true
}

func testProjectionsNewestSeqWins(t *testing.T, b Backend) {
	s := b.open(t, b.Config(t))
	p := s.Projections()
	ctx := ctxFor(t)
	flush := func() {
		t.Helper()
		require.NoError(t, p.Flush(ctx))
	}

	// Older after newer while both are queued.
	p.Put("listings", "p1", 5, listing{Title: "five"})
	p.Put("listings", "p1", 3, listing{Title: "three"})
	flush()
	got, _ := getListing(t, s, "listings", "p1")
	assert.Equal(t, listing{Seq: 5, Title: "five"}, got)

	// Older after newer is stored, and the same seq again.
	p.Put("listings", "p1", 4, listing{Title: "four"})
	p.Put("listings", "p1", 5, listing{Title: "five again"})
	flush()
	got, _ = getListing(t, s, "listings", "p1")
	assert.Equal(t, listing{Seq: 5, Title: "five"}, got)

	// Newer replaces.
	p.Put("listings", "p1", 9, listing{Title: "nine"})
	flush()
	got, _ = getListing(t, s, "listings", "p1")
	assert.Equal(t, listing{Seq: 9, Title: "nine"}, got)

	// The caller may reuse its value once Put returns.
	doc := listing{Title: "first"}
	p.Put("listings", "p2", 1, &doc)
	doc.Title = "changed after Put"
	flush()
	got, _ = getListing(t, s, "listings", "p2")
	assert.Equal(t, "first", got.Title)

	// Many documents in two collections, written in batches that mix fresh
	// projections with stale ones (behind what is stored), so that a bulk
	// write partly fails.
	const ids = 90
	coll := func(i int) string { return []string{"listings", "by_vendor"}[i%2] }
	id := func(i int) string { return fmt.Sprintf("m%d", i) }
	for i := range ids {
		p.Put(coll(i), id(i), 3, listing{Title: "three"})
	}
	flush()
	want := map[int]listing{}
	for i := range ids {
		switch i % 3 {
		case 0: // stale
			p.Put(coll(i), id(i), 2, listing{Title: "two"})
			want[i] = listing{Seq: 3, Title: "three"}
		case 1: // fresh, then an older one in the queue
			p.Put(coll(i), id(i), 5, listing{Title: "five"})
			p.Put(coll(i), id(i), 4, listing{Title: "four"})
			want[i] = listing{Seq: 5, Title: "five"}
		case 2: // same seq as stored: the stored one stays
			p.Put(coll(i), id(i), 3, listing{Title: "three again"})
			want[i] = listing{Seq: 3, Title: "three"}
		}
	}
	p.Put("listings", "new", 1, listing{Title: "new"})
	want[-1] = listing{Seq: 1, Title: "new"}
	flush()
	for i, w := range want {
		c, key := "listings", "new"
		if i >= 0 {
			c, key = coll(i), id(i)
		}
		got, found := getListing(t, s, c, key)
		require.True(t, found, key)
		assert.Equal(t, w, got, key)
	}
}
