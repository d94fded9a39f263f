package category

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors/actorstest"
)

func cat(id, name, slug, parent string) emporium.Category {
	return emporium.Category{ID: id, Name: name, Slug: slug, ParentID: parent}
}

// shopTree is Clothing > (shoes > Boots, Shirts); Garden > Tools; in a
// scrambled order.
func shopTree() *Tree {
	return NewTree([]emporium.Category{
		cat("boots", "Boots", "boots", "shoes"),
		cat("garden", "Garden", "garden", ""),
		cat("shirts", "Shirts", "shirts", "clothing"),
		cat("clothing", "Clothing", "clothing", ""),
		cat("shoes", "shoes", "all-shoes", "clothing"),
		cat("tools", "Tools", "tools", "garden"),
	}, 7)
}

// names renders nested categories as "name(child,child)" lists.
func names(cs []emporium.Category) []string {
	out := []string{}
	for _, c := range cs {
		s := c.Name
		if len(c.Children) > 0 {
			s += "("
			for i, k := range names(c.Children) {
				if i > 0 {
					s += ","
				}
				s += k
			}
			s += ")"
		}
		out = append(out, s)
	}
	return out
}

func TestTreeRoots(t *testing.T) {
	tr := shopTree()
	assert.Equal(t, uint64(7), tr.Version())
	assert.Equal(t, 6, tr.Len())
	roots := tr.Roots()
	assert.Equal(t, []string{"Clothing(Shirts,shoes(Boots))", "Garden(Tools)"}, names(roots),
		"children sorted by name, ignoring case")
	assert.Equal(t, "", roots[0].ParentID)
	assert.Equal(t, "clothing", roots[0].Children[1].ParentID)

	// Leaves have an empty, not a nil, list of children: the API shows [].
	raw, err := json.Marshal(roots[1].Children[0])
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"tools","name":"Tools","slug":"tools","parent_id":"garden","children":[]}`, string(raw))

	// Answers are copies.
	roots[0].Children[0].Name = "changed"
	assert.Equal(t, "Shirts", tr.Roots()[0].Children[0].Name)

	// Same names sort by id.
	twins := NewTree([]emporium.Category{cat("b", "Same", "b", ""), cat("a", "Same", "a", "")}, 1)
	assert.Equal(t, "a", twins.Roots()[0].ID)
}

func TestTreeFind(t *testing.T) {
	tr := shopTree()
	c, ok := tr.Find("shoes")
	require.True(t, ok)
	assert.Equal(t, "all-shoes", c.Slug)
	assert.Equal(t, []string{"Boots"}, names(c.Children))
	c, ok = tr.Find("all-shoes")
	require.True(t, ok, "found by slug")
	assert.Equal(t, "shoes", c.ID)
	_, ok = tr.Find("nope")
	assert.False(t, ok)
	_, ok = tr.Find("")
	assert.False(t, ok)
}

func TestTreeDescendantsAndAncestors(t *testing.T) {
	tr := shopTree()
	assert.Equal(t, []string{"clothing", "shirts", "shoes", "boots"}, tr.Descendants("clothing"))
	assert.Equal(t, []string{"shoes", "boots"}, tr.Descendants("all-shoes"))
	assert.Equal(t, []string{"boots"}, tr.Descendants("boots"))
	assert.Nil(t, tr.Descendants("nope"))

	assert.Equal(t, []string{"clothing", "shoes"}, tr.Ancestors("boots"))
	assert.Equal(t, []string{}, tr.Ancestors("garden"))
	assert.Nil(t, tr.Ancestors("nope"))
}

func TestTreeRollUp(t *testing.T) {
	tr := shopTree()
	got := tr.RollUp(map[string]int{"boots": 3, "shoes": 1, "shirts": 2, "tools": 0, "gone": 4})
	assert.Equal(t, map[string]int{"boots": 3, "shoes": 4, "shirts": 2, "clothing": 6, "gone": 4}, got)
	assert.Empty(t, tr.RollUp(nil))
}

func TestTreeSurvivesABrokenReadModel(t *testing.T) {
	tr := NewTree([]emporium.Category{
		cat("a", "A", "a", "b"),
		cat("b", "B", "b", "a"), // a cycle
		cat("c", "C", "c", "missing"),
		cat("c", "C2", "c2", ""), // a duplicate id
		cat("d", "D", "a", ""),   // a duplicate slug
		cat("e", "E", "e", "e"),  // its own parent
	}, 3)
	assert.Equal(t, 5, tr.Len())
	assert.ElementsMatch(t, []string{"A(B)", "C", "D", "E"}, names(tr.Roots()))
	assert.Equal(t, []string{"a", "b"}, tr.Descendants("a"))
	c, ok := tr.Find("a")
	require.True(t, ok)
	assert.Equal(t, "A", c.Name, "the first of two slugs wins")
}

// fakeViews is an in-memory ViewGetter holding one tree document. Each Get
// can be held until released, and each bumps the version when grow is set.
type fakeViews struct {
	mu    sync.Mutex
	doc   *View
	err   error
	gets  atomic.Int64
	hold  chan struct{} // when set, every Get waits for it to close
	grow  bool          // every Get first adds one to the version
	found chan struct{} // receives a token as each Get starts
}

func (f *fakeViews) Get(ctx context.Context, collection, id string, into any) (uint64, error) {
	f.gets.Add(1)
	if f.found != nil {
		f.found <- struct{}{}
	}
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if collection != ViewCollection || id != TreeID {
		return 0, emporium.Errorf(emporium.ENOTFOUND, "no %s/%s", collection, id)
	}
	if f.err != nil {
		return 0, f.err
	}
	if f.doc == nil {
		return 0, emporium.Errorf(emporium.ENOTFOUND, "no tree")
	}
	if f.grow {
		f.doc.Version++
	}
	v := into.(*View)
	v.Version = f.doc.Version
	v.Categories = append([]ViewCategory(nil), f.doc.Categories...)
	return uint64(f.doc.Version), nil
}

func (f *fakeViews) set(version int64, cats ...ViewCategory) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.doc = &View{Version: version, Categories: cats}
}

func TestReaderCachesForTheTTL(t *testing.T) {
	clock := actorstest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	views := &fakeViews{}
	r := NewReader(views, ReaderConfig{Clock: clock, TTL: time.Second})

	tr, err := r.Tree(t.Context())
	require.NoError(t, err)
	assert.Zero(t, tr.Len(), "no read model yet: an empty tree")
	assert.Equal(t, []emporium.Category{}, tr.Roots())

	views.set(1, ViewCategory{ID: "a", Name: "A", Slug: "a"})
	tr, err = r.Tree(t.Context())
	require.NoError(t, err)
	assert.Zero(t, tr.Len(), "served from the cache within the TTL")
	assert.Equal(t, int64(1), views.gets.Load())

	clock.Advance(time.Second)
	tr, err = r.Tree(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, tr.Len(), "loaded again once the TTL passed")
	assert.Equal(t, uint64(1), tr.Version())

	views.set(2, ViewCategory{ID: "a", Name: "A", Slug: "a"}, ViewCategory{ID: "b", Name: "B", Slug: "b", ParentID: "a"})
	r.Invalidate()
	tr, err = r.Tree(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, tr.Descendants("a"), "Invalidate makes the next call load")
	assert.Equal(t, int64(3), views.gets.Load())
}

func TestReaderDoesNotCacheFailures(t *testing.T) {
	clock := actorstest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	views := &fakeViews{err: emporium.Errorf(emporium.EUNAVAILABLE, "store down")}
	r := NewReader(views, ReaderConfig{Clock: clock})
	_, err := r.Tree(t.Context())
	require.Error(t, err)
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err))

	views.mu.Lock()
	views.err = nil
	views.mu.Unlock()
	views.set(4, ViewCategory{ID: "a", Name: "A", Slug: "a"})
	tr, err := r.Tree(t.Context())
	require.NoError(t, err, "the next call tries again")
	assert.Equal(t, uint64(4), tr.Version())
}

func TestReaderSharesOneLoad(t *testing.T) {
	clock := actorstest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	views := &fakeViews{hold: make(chan struct{}), found: make(chan struct{}, 100)}
	views.set(1, ViewCategory{ID: "a", Name: "A", Slug: "a"})
	r := NewReader(views, ReaderConfig{Clock: clock})

	const callers = 20
	var wg sync.WaitGroup
	trees := make([]*Tree, callers)
	for i := range callers {
		wg.Go(func() {
			tr, err := r.Tree(context.Background())
			assert.NoError(t, err)
			trees[i] = tr
		})
	}
	<-views.found // the one load started; callers join it or, later, find its tree cached
	// A caller that gives up does not cancel the load the others share.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Tree(ctx)
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err))
	close(views.hold)
	wg.Wait()
	assert.Equal(t, int64(1), views.gets.Load(), "one load for every caller")
	for _, tr := range trees {
		assert.Same(t, trees[0], tr)
	}
}

func TestReaderWaitsForALocalWrite(t *testing.T) {
	clock := actorstest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	views := &fakeViews{}
	views.set(5)
	r := NewReader(views, ReaderConfig{Clock: clock})
	tr, err := r.Tree(t.Context())
	require.NoError(t, err)
	require.Equal(t, uint64(5), tr.Version())

	// The write made version 7; the projection lands on the second read.
	views.grow = true
	r.Wrote(7)
	tr, err = r.Tree(t.Context())
	require.NoError(t, err)
	assert.Equal(t, uint64(7), tr.Version(), "the load read again until it saw the write")
	assert.Equal(t, int64(3), views.gets.Load())
	views.grow = false
	tr, err = r.Tree(t.Context())
	require.NoError(t, err)
	assert.Equal(t, uint64(7), tr.Version(), "and cached it")
	assert.Equal(t, int64(3), views.gets.Load())

	// A projection that never comes: the Reader stops waiting and serves
	// what the store holds.
	r.Wrote(100)
	tr, err = r.Tree(t.Context())
	require.NoError(t, err)
	assert.Equal(t, uint64(7), tr.Version())
	assert.Equal(t, int64(3+1+staleRetries), views.gets.Load())
	_, err = r.Tree(t.Context())
	require.NoError(t, err)
	assert.Equal(t, int64(3+1+staleRetries), views.gets.Load(), "then cached it")
}

func TestReaderInvalidateDuringALoad(t *testing.T) {
	clock := actorstest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	views := &fakeViews{hold: make(chan struct{}), found: make(chan struct{}, 10)}
	views.set(1)
	r := NewReader(views, ReaderConfig{Clock: clock})
	done := make(chan *Tree)
	go func() {
		tr, err := r.Tree(context.Background())
		assert.NoError(t, err)
		done <- tr
	}()
	<-views.found
	r.Invalidate() // a write happened while the old load ran
	close(views.hold)
	old := <-done
	assert.Equal(t, uint64(1), old.Version())
	views.set(2)
	tr, err := r.Tree(t.Context())
	require.NoError(t, err)
	assert.Equal(t, uint64(2), tr.Version(), "the load begun before Invalidate was not cached")
}
