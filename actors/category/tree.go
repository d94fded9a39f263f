package category

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/categorypb"
)

// The read side of the tree: Tree answers the questions the catalogue asks
// of it (the nested roots, a category by id or slug, the sub-categories a
// filter covers, counts rolled up), and Reader loads it from the read model
// and caches it for a moment.

// Tree is the category tree, built once from its flat list and not changed
// afterwards; it is safe for concurrent use. Every answer is a copy.
type Tree struct {
	version uint64
	byID    map[string]*node
	bySlug  map[string]*node
	roots   []*node
}

type node struct {
	c        emporium.Category // without children
	parent   *node
	children []*node
}

// NewTree builds the tree of flat, in which every category names its parent
// and has no Children. It never fails: the read model holds a valid tree,
// and should it not, the first of two categories with one id or slug wins,
// and a category whose parent is missing, or that would be its own
// ancestor, becomes a root.
func NewTree(flat []emporium.Category, version uint64) *Tree {
	t := &Tree{version: version, byID: make(map[string]*node, len(flat)), bySlug: make(map[string]*node, len(flat))}
	var order []*node
	for _, c := range flat {
		if c.ID == "" || t.byID[c.ID] != nil {
			continue
		}
		c.Children = nil
		n := &node{c: c}
		t.byID[c.ID] = n
		if _, taken := t.bySlug[c.Slug]; !taken && c.Slug != "" {
			t.bySlug[c.Slug] = n
		}
		order = append(order, n)
	}
	for _, n := range order {
		if p := t.byID[n.c.ParentID]; p != nil && p != n {
			n.parent = p
		}
	}
	// Cut every cycle at the first of its categories met, so that walks end.
	for _, n := range order {
		seen := map[*node]bool{}
		for a := n; a != nil; a = a.parent {
			if seen[a] {
				n.parent = nil
				break
			}
			seen[a] = true
		}
	}
	for _, n := range order {
		if n.parent == nil {
			n.c.ParentID = ""
			t.roots = append(t.roots, n)
		} else {
			n.parent.children = append(n.parent.children, n)
		}
	}
	byName := func(a, b *node) int {
		return cmp.Or(
			cmp.Compare(strings.ToLower(a.c.Name), strings.ToLower(b.c.Name)),
			cmp.Compare(a.c.Name, b.c.Name),
			cmp.Compare(a.c.ID, b.c.ID))
	}
	slices.SortFunc(t.roots, byName)
	for _, n := range order {
		slices.SortFunc(n.children, byName)
	}
	return t
}

// TreeOf builds the Tree of a grain's answer.
func TreeOf(t *pb.Tree) *Tree {
	flat := make([]emporium.Category, len(t.GetCategories()))
	for i, c := range t.GetCategories() {
		flat[i] = FromProto(c)
	}
	return NewTree(flat, t.GetVersion())
}

// FromProto returns a category of a grain's answer as the API shows it,
// with no children.
func FromProto(c *pb.Category) emporium.Category {
	return emporium.Category{ID: c.GetId(), Name: c.GetName(), Slug: c.GetSlug(), ParentID: c.GetParentId(), Children: []emporium.Category{}}
}

// Version is the version of the tree the Tree was built from; 0 for a tree
// never written.
func (t *Tree) Version() uint64 { return t.version }

// Len is the number of categories.
func (t *Tree) Len() int { return len(t.byID) }

// Roots returns the root categories, each with its sub-categories nested;
// siblings are sorted by name (ignoring case), then by id. Children is
// never nil, so that it encodes as [].
func (t *Tree) Roots() []emporium.Category {
	out := make([]emporium.Category, len(t.roots))
	for i, n := range t.roots {
		out[i] = n.nested()
	}
	return out
}

// Find returns the category with the given id or, failing that, the given
// slug, with its sub-categories nested.
func (t *Tree) Find(idOrSlug string) (emporium.Category, bool) {
	n := t.lookup(idOrSlug)
	if n == nil {
		return emporium.Category{}, false
	}
	return n.nested(), true
}

// Descendants returns the id of the category with the given id (or slug)
// and the ids of all its sub-categories, at any depth, parents before their
// children: the categories a filter on it covers. It is nil for an unknown
// category.
func (t *Tree) Descendants(idOrSlug string) []string {
	n := t.lookup(idOrSlug)
	if n == nil {
		return nil
	}
	var out []string
	var walk func(n *node)
	walk = func(n *node) {
		out = append(out, n.c.ID)
		for _, k := range n.children {
			walk(k)
		}
	}
	walk(n)
	return out
}

// Ancestors returns the ids of the categories above the one with the given
// id (or slug), its root first and its parent last: a breadcrumb without
// the category itself. It is empty for a root and nil for an unknown
// category.
func (t *Tree) Ancestors(idOrSlug string) []string {
	n := t.lookup(idOrSlug)
	if n == nil {
		return nil
	}
	out := []string{}
	for a := n.parent; a != nil; a = a.parent {
		out = append(out, a.c.ID)
	}
	slices.Reverse(out)
	return out
}

// RollUp turns per-category counts (products directly in each category)
// into counts that include every sub-category: a category's count is its
// own plus its descendants'. The answer holds the categories whose count
// is not zero; counts of ids the tree does not know are kept as given.
func (t *Tree) RollUp(counts map[string]int) map[string]int {
	out := make(map[string]int, len(counts))
	for id, n := range counts {
		if t.byID[id] == nil && n != 0 {
			out[id] = n
		}
	}
	var total func(n *node) int
	total = func(n *node) int {
		sum := counts[n.c.ID]
		for _, k := range n.children {
			sum += total(k)
		}
		if sum != 0 {
			out[n.c.ID] = sum
		}
		return sum
	}
	for _, r := range t.roots {
		total(r)
	}
	return out
}

func (t *Tree) lookup(idOrSlug string) *node {
	if n := t.byID[idOrSlug]; n != nil {
		return n
	}
	return t.bySlug[idOrSlug]
}

func (n *node) nested() emporium.Category {
	c := n.c
	c.Children = make([]emporium.Category, len(n.children))
	for i, k := range n.children {
		c.Children[i] = k.nested()
	}
	return c
}

// ViewGetter reads one read-model document: persistence.Projections.Get.
// It decodes the document into into and returns the journal seq it was
// projected at; a missing document is ENOTFOUND.
type ViewGetter interface {
	Get(ctx context.Context, collection, id string, into any) (seq uint64, err error)
}

// ReaderConfig tunes a Reader; the zero value is the default.
type ReaderConfig struct {
	// TTL is how long a loaded tree is served before a call loads it again;
	// default one second. Writes on other nodes show within it.
	TTL time.Duration
	// Timeout bounds one load; default four seconds.
	Timeout time.Duration
	// Clock times the TTL; default the system clock.
	Clock actors.Clock
	// ID is the _id of the tree's document; default TreeID.
	ID string
}

// Reader loads the tree from its read model and caches it for a short TTL.
// Callers that find the cache stale while a load runs share that load. It
// is safe for concurrent use.
//
// The read model is written just after a write's answer, so a reader right
// after a local write could load the tree before it. Wrote tells the Reader
// the version the write made, and the next load retries briefly until it
// sees that version.
type Reader struct {
	views ViewGetter
	cfg   ReaderConfig

	mu       sync.Mutex
	tree     *Tree
	loadedAt time.Time
	loading  *loadCall
	// gen counts invalidations: a load that began before one does not fill
	// the cache.
	gen uint64
	// want is the lowest version a load must see to be cached.
	want uint64
}

// loadCall is one load, shared by the callers waiting for it.
type loadCall struct {
	done chan struct{}
	tree *Tree
	err  error
}

// Waits between loads that found the read model behind a local write: the
// projection lands within milliseconds.
const (
	staleRetries      = 6
	staleFirstBackoff = 5 * time.Millisecond
)

// NewReader returns a Reader over views.
func NewReader(views ViewGetter, cfg ReaderConfig) *Reader {
	if cfg.TTL <= 0 {
		cfg.TTL = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 4 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = actors.SystemClock{}
	}
	if cfg.ID == "" {
		cfg.ID = TreeID
	}
	return &Reader{views: views, cfg: cfg}
}

// Tree returns the tree, from the cache while it is fresh. A failed load is
// not cached: the next call tries again. ctx bounds only this caller's
// wait, not the load others may share.
func (r *Reader) Tree(ctx context.Context) (*Tree, error) {
	const op = "category.Reader.Tree"
	r.mu.Lock()
	if r.tree != nil && r.cfg.Clock.Now().Before(r.loadedAt.Add(r.cfg.TTL)) {
		t := r.tree
		r.mu.Unlock()
		return t, nil
	}
	call := r.loading
	if call == nil {
		call = &loadCall{done: make(chan struct{})}
		r.loading = call
		go r.load(call, r.gen, r.want)
	}
	r.mu.Unlock()
	select {
	case <-call.done:
		if call.err != nil {
			return nil, emporium.Wrap(op, call.err)
		}
		return call.tree, nil
	case <-ctx.Done():
		return nil, &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Err: ctx.Err()}
	}
}

// Invalidate drops the cached tree, so the next call loads it again; a
// load already running does not fill the cache.
func (r *Reader) Invalidate() { r.Wrote(0) }

// Wrote tells the Reader that a local write made the tree reach version
// (Change.version): it invalidates the cache, and the next load waits
// briefly for the read model to reach version rather than cache an older
// tree.
func (r *Reader) Wrote(version uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tree, r.loading = nil, nil
	r.gen++
	r.want = max(r.want, version)
}

// load reads the tree for call. A tree older than want is read again a few
// times; if the write still does not show (its projection is failing and
// being retried), the Reader stops waiting for it and caches what the
// store holds.
func (r *Reader) load(call *loadCall, gen, want uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	t, err := r.read(ctx)
	for i, wait := 0, staleFirstBackoff; err == nil && t.Version() < want && i < staleRetries; i, wait = i+1, wait*2 {
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
			t, err = r.read(ctx)
		case <-ctx.Done():
			timer.Stop()
		}
		if ctx.Err() != nil {
			break
		}
	}
	r.mu.Lock()
	if r.loading == call {
		r.loading = nil
	}
	if err == nil && t.Version() < want && r.want == want {
		r.want = 0
	}
	if err == nil && gen == r.gen && t.Version() >= r.want {
		r.tree, r.loadedAt = t, r.cfg.Clock.Now()
	}
	r.mu.Unlock()
	call.tree, call.err = t, err
	close(call.done)
}

// read loads the read model once; a missing document is an empty tree.
func (r *Reader) read(ctx context.Context) (*Tree, error) {
	var v View
	if _, err := r.views.Get(ctx, ViewCollection, r.cfg.ID, &v); err != nil {
		if emporium.IsCode(err, emporium.ENOTFOUND) {
			return NewTree(nil, 0), nil
		}
		return nil, err
	}
	flat := make([]emporium.Category, len(v.Categories))
	for i, c := range v.Categories {
		flat[i] = emporium.Category{ID: c.ID, Name: c.Name, Slug: c.Slug, ParentID: c.ParentID}
	}
	return NewTree(flat, uint64(max(v.Version, 0))), nil
}
