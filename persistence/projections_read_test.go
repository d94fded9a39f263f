package persistence_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
)

// view is a read-model document as the read tests store it.
type view struct {
	ID     string `bson:"_id"`
	Seq    uint64 `bson:"seq"`
	Vendor string `bson:"vendor"`
	Title  string `bson:"title"`
}

// putViews stores projections and waits until they are written.
func putViews(t *testing.T, s *persistence.Store, collection string, views ...view) {
	t.Helper()
	for _, v := range views {
		s.Projections().Put(collection, v.ID, v.Seq, bson.M{"vendor": v.Vendor, "title": v.Title})
	}
	require.NoError(t, s.Projections().Flush(ctxFor(t)))
}

func TestProjectionsGet(t *testing.T) {
	t.Parallel()
	s := persistencetest.Open(t)
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
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err))
	_, err = s.Projections().Get(ctx, "never-written", "a", nil)
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err), "a collection never written holds nothing")
}

func TestProjectionsGetMany(t *testing.T) {
	t.Parallel()
	s := persistencetest.Open(t)
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

	for _, bad := range []any{nil, got, &struct{}{}, (*[]view)(nil)} {
		err := s.Projections().GetMany(ctx, "views", []string{"a"}, bad)
		assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "into %T", bad)
	}
	var wrong []struct {
		Title int `bson:"title"`
	}
	err := s.Projections().GetMany(ctx, "views", []string{"a"}, &wrong)
	assert.Equal(t, emporium.EINTERNAL, emporium.ErrorCode(err), "a document that does not decode is reported")
}

func TestProjectionsList(t *testing.T) {
	t.Parallel()
	s := persistencetest.Open(t)
	ctx := ctxFor(t)
	p := s.Projections()
	require.NoError(t, p.EnsureIndex(ctx, "views", "vendor", "-_id"))
	require.NoError(t, p.EnsureIndex(ctx, "views", "vendor", "-_id"), "creating the index again changes nothing")
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
		var ids []string
		for _, v := range page {
			assert.Equal(t, "v1", v.Vendor)
			ids = append(ids, v.ID)
		}
		pages = append(pages, ids)
		before = ids[len(ids)-1]
	}
	assert.Equal(t, [][]string{{"p06", "p05", "p04"}, {"p03", "p02", "p01"}, {"p00"}}, pages)

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
		assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "%v", err)
	}
}

// TestProjectionsEnsureIndexOnMongoDB checks the index EnsureIndex makes on
// MongoDB; on the embedded store it makes none (FerretDB would not use it).
func TestProjectionsEnsureIndexOnMongoDB(t *testing.T) {
	t.Parallel()
	s := persistencetest.Open(t)
	if s.Embedded() {
		persistence.UseMongoDBStrategies(s) // so that the MongoDB path runs here too
	}
	ctx := ctxFor(t)
	require.NoError(t, s.Projections().EnsureIndex(ctx, "views", "vendor", "-_id"))
	require.NoError(t, s.Projections().EnsureIndex(ctx, "views", "vendor", "-_id"))
	specs, err := s.Database().Collection("views").Indexes().ListSpecifications(ctx)
	require.NoError(t, err)
	var names []string
	for _, spec := range specs {
		names = append(names, spec.Name)
	}
	assert.Contains(t, names, "vendor_1__id_-1")
}

func TestProjectionsMarks(t *testing.T) {
	t.Parallel()
	for name, prepare := range map[string]func(*persistence.Store){
		"native":  func(*persistence.Store) {},
		"mongodb": persistence.UseMongoDBStrategies,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := persistencetest.Open(t)
			prepare(s)
			ctx := ctxFor(t)
			p := s.Projections()
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
			assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err), "a mark creates nothing")
			var marked struct {
				Indexed int64  `bson:"indexed"`
				Title   string `bson:"title"`
			}
			_, err = p.Get(ctx, "views", "a", &marked)
			require.NoError(t, err)
			assert.EqualValues(t, 1, marked.Indexed)

			// A newer projection replaces the document and its mark.
			putViews(t, s, "views", view{ID: "a", Seq: 2, Title: "new"})
			unmarked, err = p.Unmarked(ctx, "views", "indexed", "", 10)
			require.NoError(t, err)
			assert.Equal(t, []string{"a", "b", "d"}, unmarked)
			_, err = p.Get(ctx, "views", "a", &marked)
			require.NoError(t, err)
			assert.Equal(t, "new", marked.Title)

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
				p.SetMark(ctx, "views", "indexed", persistence.Mark{ID: "b", Seq: 4}, persistence.Mark{ID: "", Seq: 2}),
				p.SetMark(ctx, "views", "indexed", persistence.Mark{ID: "a", Seq: 0}),
			} {
				assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "%v", err)
			}
			_, err = p.Unmarked(ctx, "views", "indexed", "", 0)
			assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
			unmarked, err = p.Unmarked(ctx, "views", "indexed", "", 10)
			require.NoError(t, err)
			assert.Equal(t, []string{"a", "b", "d"}, unmarked)
		})
	}
}

// TestProjectionsMarkNeverClobbersAWrite races marks against the projection
// writer on one document: a mark must never land on a newer projection nor
// bring an older one back (on FerretDB an update rewrites the whole
// document it read).
func TestProjectionsMarkNeverClobbersAWrite(t *testing.T) {
	t.Parallel()
	s := persistencetest.Open(t)
	ctx := ctxFor(t)
	p := s.Projections()
	const writes = 150
	type doc struct {
		Seq     int64  `bson:"seq"`
		N       int64  `bson:"n"`
		Indexed *int64 `bson:"indexed"`
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	var failures []string
	var mu sync.Mutex
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
	close(done)
	wg.Wait()
	assert.Empty(t, failures)

	var d doc
	_, err := p.Get(ctx, "race", "x", &d)
	require.NoError(t, err)
	assert.EqualValues(t, writes, d.Seq)
	assert.EqualValues(t, writes, d.N)
	if d.Indexed != nil {
		assert.EqualValues(t, writes, *d.Indexed)
	}
}

func TestProjectionsEachIDAndCount(t *testing.T) {
	t.Parallel()
	s := persistencetest.Open(t)
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

	stop := errors.New("enough")
	calls := 0
	err = p.EachID(ctx, "views", 10, func([]string) error { calls++; return stop })
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, calls)

	err = p.EachID(ctx, "views", 0, func([]string) error { return nil })
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	err = p.EachID(cancelled, "views", 10, func([]string) error { return nil })
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err))
}
