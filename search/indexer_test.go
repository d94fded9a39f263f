package search

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
)

// memSource is an in-memory Source: products with a seq each and the seq
// acknowledged, SKUs with their stock, and failures on demand.
type memSource struct {
	mu       sync.Mutex
	products map[string]*memProduct
	owners   map[string]string // sku -> product id
	// fail holds, per method name, how many calls fail next.
	fail  map[string]int
	loads int
}

type memProduct struct {
	p     Product
	seq   uint64
	acked uint64
}

var errOutage = emporium.Errorf(emporium.EUNAVAILABLE, "the store is down")

func newMemSource() *memSource {
	return &memSource{products: map[string]*memProduct{}, owners: map[string]string{}, fail: map[string]int{}}
}

// put stores a new state of a product, pending until acknowledged.
func (s *memSource) put(p Product, skus ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.products[p.ID]
	if !ok {
		m = &memProduct{}
		s.products[p.ID] = m
	}
	m.p, m.seq = p, m.seq+1
	for _, sku := range skus {
		s.owners[sku] = p.ID
	}
}

// setStock changes a product's stock without making it pending, as a
// stock change does.
func (s *memSource) setStock(id string, inStock bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.products[id]
	m.p.InStock = inStock
	m.p.Version++
}

func (s *memSource) version(id string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.products[id].p.Version
}

func (s *memSource) failNext(method string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[method] = n
}

// failing reports whether this call of method fails. s.mu must be held.
func (s *memSource) failing(method string) bool {
	if s.fail[method] > 0 {
		s.fail[method]--
		return true
	}
	return false
}

func (s *memSource) pending(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.products[id]
	return m.acked != m.seq
}

func (s *memSource) Load(_ context.Context, ids []string) ([]Loaded, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	if s.failing("Load") {
		return nil, errOutage
	}
	var out []Loaded
	for _, id := range ids {
		if m, ok := s.products[id]; ok {
			out = append(out, Loaded{Product: m.p, Seq: m.seq, Pending: m.acked != m.seq})
		}
	}
	return out, nil
}

func (s *memSource) Pending(_ context.Context, afterID string, limit int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing("Pending") {
		return nil, errOutage
	}
	var ids []string
	for id, m := range s.products {
		if m.acked != m.seq && id > afterID {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids[:min(limit, len(ids))], nil
}

func (s *memSource) Acknowledge(_ context.Context, indexed []Loaded) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing("Acknowledge") {
		return errOutage
	}
	for _, l := range indexed {
		if m := s.products[l.Product.ID]; m.seq == l.Seq {
			m.acked = l.Seq
		}
	}
	return nil
}

func (s *memSource) ProductsOfSKUs(_ context.Context, skus []string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing("ProductsOfSKUs") {
		return nil, errOutage
	}
	var ids []string
	for _, sku := range skus {
		if id, ok := s.owners[sku]; ok {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func (s *memSource) Count(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing("Count") {
		return 0, errOutage
	}
	return len(s.products), nil
}

func (s *memSource) EachID(ctx context.Context, batch int, fn func(ids []string) error) error {
	s.mu.Lock()
	var all []string
	for id := range s.products {
		all = append(all, id)
	}
	s.mu.Unlock()
	for chunk := range slices.Chunk(all, batch) {
		if err := fn(chunk); err != nil {
			return err
		}
	}
	return nil
}

// memIndex is an in-memory Index that keeps the highest version, records
// the size of each Upsert and fails on demand.
type memIndex struct {
	mu      sync.Mutex
	docs    map[string]Product
	batches []int
	fail    int
}

func newMemIndex() *memIndex { return &memIndex{docs: map[string]Product{}} }

func (x *memIndex) Upsert(_ context.Context, products ...Product) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.fail > 0 {
		x.fail--
		return errOutage
	}
	x.batches = append(x.batches, len(products))
	for _, p := range products {
		if old, ok := x.docs[p.ID]; !ok || p.Version > old.Version {
			x.docs[p.ID] = p
		}
	}
	return nil
}

func (x *memIndex) Delete(_ context.Context, ids ...string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, id := range ids {
		delete(x.docs, id)
	}
	return nil
}

// Search pages through every product by id; the cursor is an offset.
func (x *memIndex) Search(_ context.Context, q Query) (Result, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	var ids []string
	for id := range x.docs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	from := 0
	if q.Cursor != "" {
		from, _ = strconv.Atoi(q.Cursor)
	}
	to := min(from+q.Limit, len(ids))
	res := Result{Total: len(ids)}
	for _, id := range ids[from:to] {
		res.Hits = append(res.Hits, Hit{ID: id, Product: x.docs[id]})
	}
	if to < len(ids) {
		res.NextCursor = strconv.Itoa(to)
	}
	return res, nil
}

func (x *memIndex) Close() error { return nil }

func (x *memIndex) get(id string) (Product, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	p, ok := x.docs[id]
	return p, ok
}

func (x *memIndex) failNext(n int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.fail = n
}

// fixture runs an indexer over an in-memory source and index until the test
// ends, and checks that Run returns promptly when told to stop.
type fixture struct {
	source  *memSource
	index   *memIndex
	indexer *Indexer
}

func newFixture(t *testing.T, cfg IndexerConfig) *fixture {
	t.Helper()
	f := &fixture{source: newMemSource(), index: newMemIndex()}
	cfg.Source, cfg.Index = f.source, f.index
	cfg.Logger = slog.New(slog.DiscardHandler)
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = time.Millisecond, 5*time.Millisecond
	}
	var err error
	f.indexer, err = NewIndexer(cfg)
	require.NoError(t, err)
	return f
}

func (f *fixture) run(t *testing.T) { runIndexer(t, f.indexer) }

// runIndexer runs ix until the test ends, and fails the test if Run does
// not return once its context has ended.
func runIndexer(t *testing.T, ix *Indexer) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ix.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

// indexedAt waits until the index holds the product at the version.
func (f *fixture) indexedAt(t *testing.T, id string, version uint64) {
	t.Helper()
	require.Eventually(t, func() bool {
		p, ok := f.index.get(id)
		return ok && p.Version == version
	}, 5*time.Second, 2*time.Millisecond, "product %s indexed at version %d", id, version)
}

func product(id string, version uint64) Product {
	return Product{ID: id, Title: "Product " + id, Status: StatusActive, Version: version}
}

func TestIndexerFollowsNotifications(t *testing.T) {
	t.Parallel()
	f := newFixture(t, IndexerConfig{PollInterval: time.Hour})
	f.run(t)

	f.source.put(product("p1", 1<<32), "sku-1")
	f.indexer.Notify("p1")
	f.indexedAt(t, "p1", 1<<32)
	require.Eventually(t, func() bool { return !f.source.pending("p1") }, 5*time.Second, time.Millisecond, "acknowledged")

	// A stock change reaches the product through its SKU.
	f.source.setStock("p1", true)
	f.indexer.NotifySKUs("sku-1", "unknown-sku")
	f.indexedAt(t, "p1", 1<<32+1)
	p, _ := f.index.get("p1")
	assert.True(t, p.InStock)

	// A product change supersedes it.
	f.source.put(product("p1", 2<<32))
	f.indexer.Notify("p1", "no-such-product", "")
	f.indexedAt(t, "p1", 2<<32)
	p, _ = f.index.get("p1")
	assert.False(t, p.InStock)
}

func TestIndexerRepairsWhatWasPendingOnStart(t *testing.T) {
	t.Parallel()
	f := newFixture(t, IndexerConfig{PollInterval: time.Hour, MaxBatch: 7})
	// Written while no indexer ran: nobody notifies about them.
	for i := range 20 {
		f.source.put(product(fmt.Sprintf("p%02d", i), 1<<32))
	}
	f.index.docs["p03"] = product("p03", 1<<32) // indexed before a crash, never acknowledged
	f.run(t)
	for i := range 20 {
		f.indexedAt(t, fmt.Sprintf("p%02d", i), 1<<32)
	}
	require.Eventually(t, func() bool {
		ids, _ := f.source.Pending(context.Background(), "", 100)
		return len(ids) == 0
	}, 5*time.Second, time.Millisecond, "everything acknowledged")
	f.index.mu.Lock()
	defer f.index.mu.Unlock()
	for _, n := range f.index.batches {
		assert.LessOrEqual(t, n, 7, "batches are bounded")
	}
}

func TestIndexerPollsForWhatNoNotificationNamed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, IndexerConfig{PollInterval: 20 * time.Millisecond})
	f.run(t)
	f.source.put(product("lost", 1<<32)) // its notification was lost
	f.indexedAt(t, "lost", 1<<32)
}

func TestIndexerRetriesFailuresWithoutDroppingAnything(t *testing.T) {
	t.Parallel()
	f := newFixture(t, IndexerConfig{PollInterval: time.Hour})
	for i := range 5 {
		f.source.put(product(fmt.Sprintf("p%d", i), 1<<32), fmt.Sprintf("sku-%d", i))
	}
	f.source.failNext("Pending", 2) // the repair fails first, too
	f.run(t)
	for i := range 5 {
		f.indexedAt(t, fmt.Sprintf("p%d", i), 1<<32)
	}

	for name, inject := range map[string]func(){
		"load":  func() { f.source.failNext("Load", 3) },
		"index": func() { f.index.failNext(3) },
		"ack":   func() { f.source.failNext("Acknowledge", 3) },
		"skus":  func() { f.source.failNext("ProductsOfSKUs", 3) },
	} {
		inject()
		for i := range 5 {
			id := fmt.Sprintf("p%d", i)
			f.source.setStock(id, true)
			if name == "skus" {
				f.indexer.NotifySKUs(fmt.Sprintf("sku-%d", i))
			} else {
				f.indexer.Notify(id)
			}
		}
		for i := range 5 {
			id := fmt.Sprintf("p%d", i)
			f.indexedAt(t, id, f.source.version(id))
		}
	}

	// A failed acknowledgement leaves the product pending; the retry
	// acknowledges it.
	f.source.failNext("Acknowledge", 2)
	f.source.put(product("p0", 5<<32))
	f.indexer.Notify("p0")
	f.indexedAt(t, "p0", 5<<32)
	require.Eventually(t, func() bool { return !f.source.pending("p0") }, 5*time.Second, time.Millisecond)
}

func TestIndexerServesNotificationsWhileItCannotPoll(t *testing.T) {
	t.Parallel()
	f := newFixture(t, IndexerConfig{PollInterval: time.Hour})
	f.source.failNext("Pending", 1_000_000)
	f.run(t)
	f.source.put(product("p", 1<<32))
	f.indexer.Notify("p")
	f.indexedAt(t, "p", 1<<32)
}

func TestIndexerLeavesAProductChangedMeanwhilePending(t *testing.T) {
	t.Parallel()
	f := newFixture(t, IndexerConfig{PollInterval: time.Hour})
	f.source.put(product("p", 1<<32))
	loaded, err := f.source.Load(context.Background(), []string{"p"})
	require.NoError(t, err)
	f.source.put(product("p", 2<<32)) // changed after the load
	require.NoError(t, f.source.Acknowledge(context.Background(), loaded))
	assert.True(t, f.source.pending("p"), "the newer state is still pending")

	f.run(t) // the repair finds it
	f.indexedAt(t, "p", 2<<32)
}

func TestIndexerBatchesNotifications(t *testing.T) {
	t.Parallel()
	f := newFixture(t, IndexerConfig{PollInterval: time.Hour, Linger: 20 * time.Millisecond, MaxBatch: 100})
	const n = 450
	for i := range n {
		f.source.put(product(fmt.Sprintf("p%03d", i), 1<<32))
	}
	// Acknowledged already, as if indexed, so that only notifications
	// bring them in.
	for _, m := range f.source.products {
		m.acked = m.seq
	}
	f.run(t)
	for i := range n {
		f.indexer.Notify(fmt.Sprintf("p%03d", i))
	}
	for i := range n {
		f.indexedAt(t, fmt.Sprintf("p%03d", i), 1<<32)
	}
	f.index.mu.Lock()
	defer f.index.mu.Unlock()
	total := 0
	for _, b := range f.index.batches {
		assert.LessOrEqual(t, b, 100)
		total += b
	}
	assert.Equal(t, n, total, "each product once")
	assert.Less(t, len(f.index.batches), 20, "lingering gathers notifications into few batches")
}

func TestIndexerNotifyNeverBlocks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, IndexerConfig{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10000 {
			f.indexer.Notify(strconv.Itoa(i))
			f.indexer.NotifySKUs(strconv.Itoa(i))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Notify blocked without Run")
	}
	assert.Equal(t, 20000, f.indexer.queued(), "kept for Run")
}

func TestIndexerReindex(t *testing.T) {
	t.Parallel()
	f := newFixture(t, IndexerConfig{MaxBatch: 4})
	for i := range 10 {
		f.source.put(product(fmt.Sprintf("p%02d", i), 3<<32))
	}
	f.index.docs["p00"] = product("p00", 9<<32)   // newer than the store: kept
	f.index.docs["gone"] = product("gone", 1<<32) // not in the store: deleted
	f.index.docs["gone2"] = product("gone2", 1<<32)
	f.source.failNext("Load", 2) // retried

	var reports [][2]int
	require.NoError(t, f.indexer.Reindex(context.Background(), func(done, total int) {
		reports = append(reports, [2]int{done, total})
	}))
	assert.Equal(t, [][2]int{{0, 10}, {4, 10}, {8, 10}, {10, 10}}, reports)
	for i := 1; i < 10; i++ {
		p, ok := f.index.get(fmt.Sprintf("p%02d", i))
		require.True(t, ok)
		assert.EqualValues(t, 3<<32, p.Version)
	}
	p, _ := f.index.get("p00")
	assert.EqualValues(t, 9<<32, p.Version)
	_, ok := f.index.get("gone")
	assert.False(t, ok, "products the store does not have are deleted")
	_, ok = f.index.get("gone2")
	assert.False(t, ok)
	ids, err := f.source.Pending(context.Background(), "", 100)
	require.NoError(t, err)
	assert.Empty(t, ids, "reindexed products are acknowledged")

	require.NoError(t, f.indexer.Reindex(context.Background(), nil), "progress is optional")
}

func TestIndexerReindexReportsLastingFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t, IndexerConfig{})
	f.source.put(product("p", 1<<32))

	f.source.failNext("Count", 1)
	err := f.indexer.Reindex(context.Background(), nil)
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err))

	f.source.failNext("Load", reindexTries)
	err = f.indexer.Reindex(context.Background(), nil)
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err))
	assert.True(t, errors.Is(err, errOutage))
	_, ok := f.index.get("p")
	assert.False(t, ok)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.source.failNext("Load", 1)
	assert.Error(t, f.indexer.Reindex(ctx, nil), "a cancelled reindex stops")
}

func TestNewIndexerNeedsAnIndexAndASource(t *testing.T) {
	t.Parallel()
	_, err := NewIndexer(IndexerConfig{Index: newMemIndex()})
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	_, err = NewIndexer(IndexerConfig{Source: newMemSource()})
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
}

func TestComposeVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		product uint64
		stock   []uint64
		want    uint64
	}{
		{"never stocked", 1, nil, 1 << 32},
		{"stock seqs add up", 3, []uint64{4, 0, 7}, 3<<32 + 11},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ComposeVersion(tt.product, tt.stock...), tt.name)
	}
	// A stock change raises the version; a product change raises it more,
	// even when it drops a SKU with a long history.
	before := ComposeVersion(5, 1000, 20)
	assert.Greater(t, ComposeVersion(5, 1000, 21), before)
	assert.Greater(t, ComposeVersion(6, 20), ComposeVersion(5, 1000, 21))
}
