package persistencetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/persistence"
)

// The read side of the contract: lookups, queries by declared fields, marks
// and walks over a collection.

var readTests = []contractTest{
	{"ProjectionsGet", false, false, testProjectionsGet},
	{"ProjectionsGetMany", false, false, testProjectionsGetMany},
	{"ProjectionsList", false, false, testProjectionsList},
	{"ProjectionsDueBefore", false, false, testProjectionsDueBefore},
	{"ProjectionsIndexBackfill", false, false, testProjectionsIndexBackfill},
	{"ProjectionsUndeclaredIndex", false, false, testProjectionsUndeclaredIndex},
	{"ProjectionsMarks", false, false, testProjectionsMarks},
	{"ProjectionsMarkNeverClobbersAWrite", true, false, testProjectionsMarkNeverClobbersAWrite},
	{"ProjectionsEachIDAndCount", false, false, testProjectionsEachIDAndCount},
}

// view is a read-model document as the read tests store it.
type view struct {
	ID     string `bson:"_id"`
	Seq    uint64 `bson:"seq"`
	Vendor string `bson:"vendor"`
	Title  string `bson:"title"`
}

// viewIDs returns the ids of views, in order.
func viewIDs(views []view) []string {
	ids := make([]string, 0, len(views))
	for _, v := range views {
		ids = append(ids, v.ID)
	}
	return ids
}

// putViews stores projections and waits until they are written.
func putViews(t *testing.T, s persistence.Store, collection string, views ...view) {
	t.Helper()
	for _, v := range views {
		s.Projections().Put(collection, v.ID, v.Seq, bson.M{"vendor": v.Vendor, "title": v.Title})
	}
	require.NoError(t, s.Projections().Flush(ctxFor(t)))
}

func testProjectionsGet(t *testing.T, b Backend) {
	s := b.open(t, b.Config(t))
	ctx := ctxFor(t)
	putViews(t, s, "views", view{ID: "a", Seq: 3, Vendor: "v1", Title: "Lamp"})

	var got view
	seq, err := s.Projections().Get(ctx, "views", "a", &got)
	require.NoError(t, err)
	assert.EqualValues(t, 3, seq)
	assert.Equal(t, view{ID: "a", Seq: 3, Vendor: "v1", Title: "Lamp"}, got)

	seq, err = s.Projections().Get(ctx, "views", "a", nil)
	require.NoError(t, err)
	assert.EqualValues(t, 3, seq, "nil into learns only the seq")

	_, err = s.Projections().Get(ctx, "views", "missing", &got)
	requireCode(t, err, emporium.ENOTFOUND)
	_, err = s.Projections().Get(ctx, "never-written", "a", nil)
	requireCode(t, err, emporium.ENOTFOUND)

	var wrong struct {
		Title int `bson:"title"`
	}
	_, err = s.Projections().Get(ctx, "views", "a", &wrong)
	requireCode(t, err, emporium.EINTERNAL)
}

func testProjectionsGetMany(t *testing.T, b Backend) {
	s := b.open(t, b.Config(t))
	ctx := ctxFor(t)
	putViews(t, s, "views",
		view{ID: "a", Seq: 1, Title: "A"}, view{ID: "b", Seq: 2, Title: "B"}, view{ID: "c", Seq: 3, Title: "C"})

	var got []view
	require.NoError(t, s.Projections().GetMany(ctx, "views", []string{"c", "missing", "a", "c", ""}, &got))
	assert.Equal(t, []view{{ID: "c", Seq: 3, Title: "C"}, {ID: "a", Seq: 1, Title: "A"}}, got,
		"in the order asked, the missing left out, each id once")

	raws := []bson.Raw{{}} // replaced, not appended to
	require.NoError(t, s.Projections().GetMany(ctx, "views", []string{"b"}, &raws))
	require.Len(t, raws, 1)
	assert.Equal(t, "B", raws[0].Lookup("title").StringValue())

	require.NoError(t, s.Projections().GetMany(ctx, "views", nil, &got))
	assert.Empty(t, got)
	require.NoError(t, s.Projections().GetMany(ctx, "never-written", []string{"a"}, &got))
	assert.Empty(t, got)

	// More ids than one statement of some stores takes, found in several
	// of its chunks.
	var many []view
	var ids []string
	for i := range 1200 {
		id := fmt.Sprintf("many-%04d", i)
		ids = append(ids, id)
		if i%250 == 0 {
			many = append(many, view{ID: id, Seq: 1})
		}
	}
	putViews(t, s, "views", many...)
	require.NoError(t, s.Projections().GetMany(ctx, "views", ids, &got))
	assert.Equal(t, viewIDs(many), viewIDs(got))

	// Versioned documents read as well.
	_, err := s.Documents("carts").Put(ctx, "c1", 0, bson.M{"owner": "ann"})
	require.NoError(t, err)
	var carts []struct {
		ID      string `bson:"_id"`
		Version int64  `bson:"version"`
		Owner   string `bson:"owner"`
	}
	require.NoError(t, s.Projections().GetMany(ctx, "carts", []string{"c1", "c2"}, &carts))
	require.Len(t, carts, 1)
	assert.Equal(t, "c1", carts[0].ID)
	assert.EqualValues(t, 1, carts[0].Version)
	assert.Equal(t, "ann", carts[0].Owner)

	for _, bad := range []any{nil, got, &struct{}{}, (*[]view)(nil)} {
		err := s.Projections().GetMany(ctx, "views", []string{"a"}, bad)
		requireCode(t, err, emporium.EINVALID)
	}
	var wrong []struct {
		Title int `bson:"title"`
	}
	err = s.Projections().GetMany(ctx, "views", []string{"a"}, &wrong)
	requireCode(t, err, emporium.EINTERNAL)
}

func testProjectionsList(t *testing.T, b Backend) {
	s := b.open(t, b.Config(t))
	ctx := ctxFor(t)
	p := s.Projections()
	require.NoError(t, p.EnsureIndex(ctx, "views", "vendor", "-_id"))
	require.NoError(t, p.EnsureIndex(ctx, "views", "vendor", "-_id"), "declaring the index again changes nothing")
	var mine []view
	for i := range 7 {
		mine = append(mine, view{ID: fmt.Sprintf("p%02d", i), Seq: 1, Vendor: "v1", Title: fmt.Sprint(i)})
	}
	putViews(t, s, "views", append(mine, view{ID: "p99", Seq: 1, Vendor: "v2"}, view{ID: "p03x", Seq: 1, Vendor: "v2"})...)

	// Page through v1's documents, newest (highest _id) first.
	var pages [][]string
	before := ""
	for {
		var page []view
		require.NoError(t, p.List(ctx, "views", "vendor", "v1", before, 3, &page))
		if len(page) == 0 {
			break
		}
		for _, v := range page {
			assert.Equal(t, "v1", v.Vendor)
		}
		ids := viewIDs(page)
		pages = append(pages, ids)
		before = ids[len(ids)-1]
		require.Less(t, len(pages), 10, "paging does not end")
	}
	assert.Equal(t, [][]string{{"p06", "p05", "p04"}, {"p03", "p02", "p01"}, {"p00"}}, pages)

	// A document that moves to another vendor leaves the first's list.
	putViews(t, s, "views", view{ID: "p05", Seq: 2, Vendor: "v2"})
	var page []view
	require.NoError(t, p.List(ctx, "views", "vendor", "v2", "", 10, &page))
	assert.Equal(t, []string{"p99", "p05", "p03x"}, viewIDs(page))
	require.NoError(t, p.List(ctx, "views", "vendor", "v1", "", 2, &page))
	assert.Equal(t, []string{"p06", "p04"}, viewIDs(page))

	var none []view
	require.NoError(t, p.List(ctx, "views", "vendor", "nobody", "", 10, &none))
	assert.Empty(t, none)

	for _, err := range []error{
		p.List(ctx, "views", "", "v1", "", 10, &none),
		p.List(ctx, "views", "vendor", "v1", "", 0, &none),
		p.List(ctx, "views", "vendor", "v1", "", 10, none),
		p.EnsureIndex(ctx, "views"),
		p.EnsureIndex(ctx, "views", "-"),
		p.EnsureIndex(ctx, "", "vendor"),
	} {
		requireCode(t, err, emporium.EINVALID)
	}
}

// due is a document with work due at a time, as sweepers find them.
type due struct {
	At *time.Time `bson:"at"`
}

func testProjectionsDueBefore(t *testing.T, b Backend) {
	s := b.open(t, b.Config(t))
	ctx := ctxFor(t)
	p := s.Projections()
	require.NoError(t, p.EnsureIndex(ctx, "holds", "at"))
	at := func(minutes int) *time.Time {
		ts := testTime.Add(time.Duration(minutes) * time.Minute)
		return &ts
	}
	// Ids in another order than times, so that the order is the times'.
	docs := map[string]due{
		"a": {At: at(3)}, "b": {At: at(-5)}, "c": {At: at(1)}, "d": {At: at(10)},
		"e": {At: at(0)}, "f": {}, "g": {At: at(-1)},
	}
	for id, d := range docs {
		p.Put("holds", id, 1, d)
	}
	p.Put("holds", "h", 1, bson.M{"other": "no at field at all"})
	require.NoError(t, p.Flush(ctx))

	ids, err := p.DueBefore(ctx, "holds", "at", testTime.Add(3*time.Minute), 100)
	require.NoError(t, err)
	assert.Equal(t, []string{"b", "g", "e", "c", "a"}, ids, "earliest first, at or before the time, nulls never due")
	ids, err = p.DueBefore(ctx, "holds", "at", testTime.Add(3*time.Minute), 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"b", "g"}, ids, "at most limit")
	ids, err = p.DueBefore(ctx, "holds", "at", testTime.Add(-time.Hour), 10)
	require.NoError(t, err)
	assert.Empty(t, ids)

	// A document whose time is cleared or moved is due no more, or later.
	p.Put("holds", "b", 2, due{})
	p.Put("holds", "g", 2, due{At: at(20)})
	require.NoError(t, p.Flush(ctx))
	ids, err = p.DueBefore(ctx, "holds", "at", testTime.Add(time.Hour), 100)
	require.NoError(t, err)
	assert.Equal(t, []string{"e", "c", "a", "d", "g"}, ids)

	_, err = p.DueBefore(ctx, "holds", "at", testTime, 0)
	requireCode(t, err, emporium.EINVALID)
	_, err = p.DueBefore(ctx, "holds", "", testTime, 10)
	requireCode(t, err, emporium.EINVALID)
}

// testProjectionsIndexBackfill declares indexes after documents are stored:
// the queries find those documents as well as later ones.
func testProjectionsIndexBackfill(t *testing.T, b Backend) {
	s := b.open(t, b.Config(t))
	ctx := ctxFor(t)
	p := s.Projections()
	putViews(t, s, "late",
		view{ID: "a", Seq: 1, Vendor: "v1"}, view{ID: "b", Seq: 1, Vendor: "v2"}, view{ID: "c", Seq: 1, Vendor: "v1"})
	p.Put("late", "d", 1, bson.M{"at": testTime})
	require.NoError(t, p.Flush(ctx))

	require.NoError(t, p.EnsureIndex(ctx, "late", "vendor", "-_id"))
	require.NoError(t, p.EnsureIndex(ctx, "late", "at"))
	require.NoError(t, p.EnsureIndex(ctx, "late", "indexed", "_id"))

	var page []view
	require.NoError(t, p.List(ctx, "late", "vendor", "v1", "", 10, &page))
	assert.Equal(t, []string{"c", "a"}, viewIDs(page))
	ids, err := p.DueBefore(ctx, "late", "at", testTime, 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"d"}, ids)
	ids, err = p.Unmarked(ctx, "late", "indexed", "", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c", "d"}, ids)

	// Documents written after the index are found too, and one that
	// changes field leaves the old value's list.
	putViews(t, s, "late", view{ID: "e", Seq: 1, Vendor: "v1"}, view{ID: "a", Seq: 2, Vendor: "v2"})
	require.NoError(t, p.List(ctx, "late", "vendor", "v1", "", 10, &page))
	assert.Equal(t, []string{"e", "c"}, viewIDs(page))
	require.NoError(t, p.List(ctx, "late", "vendor", "v2", "", 10, &page))
	assert.Equal(t, []string{"b", "a"}, viewIDs(page))
}

// testProjectionsUndeclaredIndex queries fields no declared index starts
// with: a strict backend refuses with EINVALID, so that no query silently
// scans; any other backend must still answer right.
func testProjectionsUndeclaredIndex(t *testing.T, b Backend) {
	s := b.open(t, b.Config(t))
	ctx := ctxFor(t)
	p := s.Projections()
	// "title" is in an index, but not first: it cannot serve a query by title.
	require.NoError(t, p.EnsureIndex(ctx, "views", "vendor", "title"))
	putViews(t, s, "views", view{ID: "a", Seq: 1, Vendor: "v1", Title: "Lamp"}, view{ID: "b", Seq: 1, Vendor: "v1", Title: "Desk"})
	p.Put("views", "c", 1, bson.M{"at": testTime})
	require.NoError(t, p.Flush(ctx))

	var page []view
	listErr := p.List(ctx, "views", "title", "Lamp", "", 10, &page)
	unlistedErr := p.List(ctx, "never-written", "title", "Lamp", "", 10, &page)
	dueIDs, dueErr := p.DueBefore(ctx, "views", "at", testTime, 10)
	unmarked, unmarkedErr := p.Unmarked(ctx, "views", "indexed", "", 10)
	markErr := p.SetMark(ctx, "views", "indexed", persistence.Mark{ID: "a", Seq: 1})
	if b.StrictIndexes {
		for _, err := range []error{listErr, unlistedErr, dueErr, unmarkedErr, markErr} {
			requireCode(t, err, emporium.EINVALID)
			assert.Contains(t, err.Error(), "EnsureIndex", "the error says how to declare the index")
		}
		return
	}
	require.NoError(t, listErr)
	require.NoError(t, p.List(ctx, "views", "title", "Lamp", "", 10, &page))
	assert.Equal(t, []string{"a"}, viewIDs(page))
	require.NoError(t, unlistedErr)
	require.NoError(t, dueErr)
	assert.Equal(t, []string{"c"}, dueIDs)
	require.NoError(t, unmarkedErr)
	assert.Equal(t, []string{"a", "b", "c"}, unmarked)
	require.NoError(t, markErr)
	unmarked, err := p.Unmarked(ctx, "views", "indexed", "", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"b", "c"}, unmarked)
}

func testProjectionsMarks(t *testing.T, b Backend) {
	s := b.open(t, b.Config(t))
	ctx := ctxFor(t)
	p := s.Projections()
	require.NoError(t, p.EnsureIndex(ctx, "views", "indexed", "_id"))
	putViews(t, s, "views", view{ID: "a", Seq: 1}, view{ID: "b", Seq: 4}, view{ID: "c", Seq: 2}, view{ID: "d", Seq: 1})

	unmarked, err := p.Unmarked(ctx, "views", "indexed", "", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c", "d"}, unmarked)

	// b is marked at a seq it is not at, and missing is not there: both
	// stay as they are.
	require.NoError(t, p.SetMark(ctx, "views", "indexed",
		persistence.Mark{ID: "a", Seq: 1}, persistence.Mark{ID: "b", Seq: 3},
		persistence.Mark{ID: "c", Seq: 2}, persistence.Mark{ID: "missing", Seq: 1}))
	unmarked, err = p.Unmarked(ctx, "views", "indexed", "", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"b", "d"}, unmarked)
	_, err = p.Get(ctx, "views", "missing", nil)
	requireCode(t, err, emporium.ENOTFOUND)
	var marked view
	seq, err := p.Get(ctx, "views", "a", &marked)
	require.NoError(t, err)
	assert.EqualValues(t, 1, seq, "a mark changes no seq")
	assert.Equal(t, view{ID: "a", Seq: 1}, marked, "a mark changes no field of the projection")
	require.NoError(t, p.SetMark(ctx, "views", "indexed"), "no marks at all")

	// A newer projection replaces the document and its mark.
	putViews(t, s, "views", view{ID: "a", Seq: 2, Title: "new"})
	unmarked, err = p.Unmarked(ctx, "views", "indexed", "", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "d"}, unmarked)
	_, err = p.Get(ctx, "views", "a", &marked)
	require.NoError(t, err)
	assert.Equal(t, "new", marked.Title)
	// An older one changes neither.
	putViews(t, s, "views", view{ID: "c", Seq: 1, Title: "old"})
	unmarked, err = p.Unmarked(ctx, "views", "indexed", "", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "d"}, unmarked)

	// Paged by _id.
	page, err := p.Unmarked(ctx, "views", "indexed", "", 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, page)
	page, err = p.Unmarked(ctx, "views", "indexed", "b", 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"d"}, page)

	// Bad input changes nothing.
	for _, err := range []error{
		p.SetMark(ctx, "views", "", persistence.Mark{ID: "a", Seq: 2}),
		p.SetMark(ctx, "views", "seq", persistence.Mark{ID: "a", Seq: 2}),
		p.SetMark(ctx, "views", "_id", persistence.Mark{ID: "a", Seq: 2}),
		p.SetMark(ctx, "views", "indexed", persistence.Mark{ID: "b", Seq: 4}, persistence.Mark{ID: "", Seq: 2}),
		p.SetMark(ctx, "views", "indexed", persistence.Mark{ID: "a", Seq: 0}),
	} {
		requireCode(t, err, emporium.EINVALID)
	}
	_, err = p.Unmarked(ctx, "views", "indexed", "", 0)
	requireCode(t, err, emporium.EINVALID)
	_, err = p.Unmarked(ctx, "views", "", "", 10)
	requireCode(t, err, emporium.EINVALID)
	unmarked, err = p.Unmarked(ctx, "views", "indexed", "", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "d"}, unmarked)
}

// testProjectionsMarkNeverClobbersAWrite races marks against the projection
// writer on one document: a mark must never land on a newer projection nor
// bring an older one back (as an update that rewrites the whole document it
// read would).
func testProjectionsMarkNeverClobbersAWrite(t *testing.T, b Backend) {
	s := b.open(t, b.Config(t))
	ctx := ctxFor(t)
	p := s.Projections()
	require.NoError(t, p.EnsureIndex(ctx, "race", "indexed", "_id"))
	const writes = 150
	type doc struct {
		Seq     int64  `bson:"seq"`
		N       int64  `bson:"n"`
		Indexed *int64 `bson:"indexed"`
	}

	done := make(chan struct{})
	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		failures   []string
		marks      int
		lastMarked uint64 // the seq of the last mark set
	)
	wg.Go(func() {
		last := int64(0)
		for {
			select {
			case <-done:
				return
			default:
			}
			var d doc
			seq, err := p.Get(ctx, "race", "x", &d)
			if emporium.IsCode(err, emporium.ENOTFOUND) {
				continue
			}
			if err == nil {
				err = p.SetMark(ctx, "race", "indexed", persistence.Mark{ID: "x", Seq: seq})
			}
			mu.Lock()
			switch {
			case err != nil:
				failures = append(failures, err.Error())
			case d.Seq < last:
				failures = append(failures, fmt.Sprintf("seq went back from %d to %d", last, d.Seq))
			case d.N != d.Seq:
				failures = append(failures, fmt.Sprintf("document at seq %d holds n=%d", d.Seq, d.N))
			case d.Indexed != nil && *d.Indexed != d.Seq:
				failures = append(failures, fmt.Sprintf("document at seq %d marked at %d", d.Seq, *d.Indexed))
			default:
				marks++
				lastMarked = seq
			}
			mu.Unlock()
			last = d.Seq
		}
	})
	for i := int64(1); i <= writes; i++ {
		p.Put("race", "x", uint64(i), bson.M{"n": i})
		if i%10 == 0 {
			require.NoError(t, p.Flush(ctx))
		}
	}
	require.NoError(t, p.Flush(ctx))
	// Stop the marker only once it has set a mark, so that the test did race
	// marks against writes.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := marks
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(done)
	wg.Wait()
	assert.Empty(t, failures)
	assert.Positive(t, marks, "the marker never set a mark")

	var d doc
	_, err := p.Get(ctx, "race", "x", &d)
	require.NoError(t, err)
	assert.EqualValues(t, writes, d.Seq)
	assert.EqualValues(t, writes, d.N)
	if d.Indexed != nil {
		assert.EqualValues(t, writes, *d.Indexed)
	}
	// The mark stands only if it was set at the last projection's seq.
	unmarked, err := p.Unmarked(ctx, "race", "indexed", "", 10)
	require.NoError(t, err)
	if lastMarked == writes {
		assert.Empty(t, unmarked, "the mark at the last seq was lost")
	} else {
		assert.Equal(t, []string{"x"}, unmarked, "a mark at seq %d landed on the projection at seq %d", lastMarked, writes)
	}
}

func testProjectionsEachIDAndCount(t *testing.T, b Backend) {
	s := b.open(t, b.Config(t))
	ctx := ctxFor(t)
	p := s.Projections()
	var want []string
	var views []view
	for i := range 23 {
		id := fmt.Sprintf("id-%02d", i)
		want = append(want, id)
		views = append(views, view{ID: id, Seq: 1})
	}
	putViews(t, s, "views", views...)

	n, err := p.Count(ctx, "views")
	require.NoError(t, err)
	assert.Equal(t, 23, n)
	n, err = p.Count(ctx, "empty")
	require.NoError(t, err)
	assert.Zero(t, n)

	var got []string
	var sizes []int
	require.NoError(t, p.EachID(ctx, "views", 10, func(ids []string) error {
		sizes = append(sizes, len(ids))
		got = append(got, ids...)
		return nil
	}))
	sort.Strings(got)
	assert.Equal(t, want, got)
	assert.Equal(t, []int{10, 10, 3}, sizes)

	calls := 0
	require.NoError(t, p.EachID(ctx, "empty", 10, func([]string) error { calls++; return nil }))
	assert.Zero(t, calls, "an empty collection has no batch")

	stop := errors.New("enough")
	err = p.EachID(ctx, "views", 10, func([]string) error { calls++; return stop })
	assert.Same(t, stop, err, "fn's error comes back as it is")
	assert.Equal(t, 1, calls)

	err = p.EachID(ctx, "views", 0, func([]string) error { return nil })
	requireCode(t, err, emporium.EINVALID)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	err = p.EachID(cancelled, "views", 10, func([]string) error { return nil })
	requireCode(t, err, emporium.EUNAVAILABLE)
}
