package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/actors/cart"
	"github.com/emporium-shop/emporium/actors/inventory"
	"github.com/emporium-shop/emporium/actors/product"
	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
	productpb "github.com/emporium-shop/emporium/protos/productpb"
)

// The cart's catalogue over the read models the real grains write.
func TestItemsReadTheGrainsReadModels(t *testing.T) {
	f := newSearchFixture(t)
	ctx := t.Context()
	f.createActive(t, "p-stove", "Camp stove", "STOVE-S", "STOVE-M")
	f.setStock(t, "STOVE-S", 4)
	_, err := f.products("p-draft").Create(&productpb.CreateRequest{
		CommandId: "create", VendorId: searchVendor, Title: "Draft lamp", Currency: "EUR",
		Options:  []*productpb.Option{{Name: "size", Values: []string{"S"}}},
		Variants: []*productpb.VariantInput{{Sku: "LAMP-S", PriceAmount: 990, Options: map[string]string{"size": "S"}}},
	})
	require.NoError(t, err)
	f.setStock(t, "LAMP-S", 2)
	f.createActive(t, "p-old", "Old pot", "POT-S")
	_, err = f.products("p-old").Archive(&productpb.ArchiveRequest{CommandId: "archive", Caller: &productpb.Caller{VendorId: searchVendor}})
	require.NoError(t, err)
	require.NoError(t, f.store.Projections().Flush(ctx))

	items, err := NewItems(ItemsConfig{Reads: f.store.Projections()})
	require.NoError(t, err)
	got, err := items.Items(ctx, "STOVE-S", "STOVE-M", "LAMP-S", "POT-S", "NO-SUCH-SKU", "STOVE-S")
	require.NoError(t, err)
	assert.Equal(t, map[string]cart.Item{
		"STOVE-S": {SKU: "STOVE-S", ProductID: "p-stove", VendorID: "vendor-search", Title: "Camp stove", Options: map[string]string{"size": "S"},
			Price: emporium.Money{Amount: 1500, Currency: "EUR"}, Active: true, Available: 4},
		"STOVE-M": {SKU: "STOVE-M", ProductID: "p-stove", VendorID: "vendor-search", Title: "Camp stove", Options: map[string]string{"size": "M"},
			Price: emporium.Money{Amount: 2500, Currency: "EUR"}, Active: true},
		"LAMP-S": {SKU: "LAMP-S", ProductID: "p-draft", VendorID: "vendor-search", Title: "Draft lamp", Options: map[string]string{"size": "S"},
			Price: emporium.Money{Amount: 990, Currency: "EUR"}, Available: 2},
		"POT-S": {SKU: "POT-S", ProductID: "p-old", VendorID: "vendor-search", Title: "Old pot", Options: map[string]string{"size": "S"},
			Price: emporium.Money{Amount: 1500, Currency: "EUR"}},
	}, got, "unknown SKUs are left out; drafts and archived products are not active")

	none, err := items.Items(ctx)
	require.NoError(t, err)
	assert.Empty(t, none)
}

// countingReads counts the batch reads of each collection and can hold
// them until released.
type countingReads struct {
	inner ItemReads
	mu    sync.Mutex
	calls map[string][][]string
	gate  chan struct{} // when set, every read waits for it to close
	fail  error         // when set, every read fails with it
}

func (c *countingReads) GetMany(ctx context.Context, collection string, ids []string, into any) error {
	c.mu.Lock()
	c.calls[collection] = append(c.calls[collection], slices.Clone(ids))
	gate, fail := c.gate, c.fail
	c.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if fail != nil {
		return fail
	}
	return c.inner.GetMany(ctx, collection, ids, into)
}

func (c *countingReads) count(collection string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.calls[collection])
}

func (c *countingReads) last(collection string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls := c.calls[collection]
	if len(calls) == 0 {
		return nil
	}
	return calls[len(calls)-1]
}

// itemsStore is an embedded store holding catalogue read models written
// the way the grains write them: SKU claims, product documents and stock
// documents.
type itemsStore struct {
	store persistence.Store
	seq   atomic.Uint64
}

func newItemsStore(t *testing.T) *itemsStore {
	return &itemsStore{store: persistencetest.Open(t)}
}

// product writes a product document (as actors/product projects it) and
// claims its SKUs.
func (s *itemsStore) product(t *testing.T, p *productpb.Product) {
	t.Helper()
	raw, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(p)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	doc["version"] = int64(p.Version)
	claims := &actors.DocumentClaims{Collection: func(c string) actors.ClaimDocuments { return s.store.Documents(c) }}
	var skus []string
	for _, v := range p.Variants {
		skus = append(skus, v.Sku)
		require.NoError(t, claims.Claim(t.Context(), product.SKUsCollection, v.Sku, p.Id))
	}
	doc["skus"] = skus
	s.store.Projections().Put(product.ViewCollection, p.Id, s.seq.Add(1), doc)
	require.NoError(t, s.store.Projections().Flush(t.Context()))
}

func (s *itemsStore) stock(t *testing.T, sku string, available int64) {
	t.Helper()
	s.store.Projections().Put(inventory.ViewCollection, sku, s.seq.Add(1),
		inventory.View{SKU: sku, OnHand: available, Available: available})
	require.NoError(t, s.store.Projections().Flush(t.Context()))
}

func mug(price int64, status string) *productpb.Product {
	variant := func(sku, color string) *productpb.VariantView {
		return &productpb.VariantView{Sku: sku, Options: map[string]string{"color": color},
			Price: &productpb.Money{Amount: price, Currency: "USD"}}
	}
	return &productpb.Product{Id: "p-mug", Title: "Mug", Status: status, Version: 1,
		Variants: []*productpb.VariantView{variant("MUG-W", "white"), variant("MUG-B", "black")}}
}

func TestItemsBatchAndCache(t *testing.T) {
	s := newItemsStore(t)
	s.product(t, mug(900, emporium.StatusActive))
	s.stock(t, "MUG-W", 5)
	s.stock(t, "MUG-B", 1)
	reads := &countingReads{inner: s.store.Projections(), calls: map[string][][]string{}}
	clock := actorstest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	items, err := NewItems(ItemsConfig{Reads: reads, Clock: clock})
	require.NoError(t, err)
	ctx := t.Context()
	loads := func() [3]int {
		return [3]int{reads.count(product.SKUsCollection), reads.count(product.ViewCollection), reads.count(inventory.ViewCollection)}
	}

	// One batch per read model, whatever the number of SKUs.
	got, err := items.Items(ctx, "MUG-W", "MUG-B", "GHOST")
	require.NoError(t, err)
	assert.Equal(t, int64(5), got["MUG-W"].Available)
	assert.Equal(t, int64(1), got["MUG-B"].Available)
	assert.NotContains(t, got, "GHOST")
	assert.Equal(t, [3]int{1, 1, 1}, loads())
	assert.ElementsMatch(t, []string{"MUG-W", "MUG-B", "GHOST"}, reads.last(product.SKUsCollection))
	assert.Equal(t, []string{"p-mug"}, reads.last(product.ViewCollection))

	// Within the times to live, nothing is read, unknown SKUs included.
	s.stock(t, "MUG-W", 3)
	s.product(t, mug(1200, emporium.StatusArchived))
	clock.Advance(DefaultItemsStockTTL - time.Millisecond)
	got, err = items.Items(ctx, "MUG-W", "GHOST")
	require.NoError(t, err)
	assert.Equal(t, int64(5), got["MUG-W"].Available)
	assert.Equal(t, [3]int{1, 1, 1}, loads())

	// Past its time to live, availability is still answered at once, and
	// reloaded in the background for the next call.
	clock.Advance(2 * time.Millisecond)
	got, err = items.Items(ctx, "MUG-W")
	require.NoError(t, err)
	assert.Equal(t, int64(5), got["MUG-W"].Available, "served while it reloads")
	actorstest.WaitFor(t, 5*time.Second, "availability reloaded", func() bool {
		got, err := items.Items(ctx, "MUG-W")
		return err == nil && got["MUG-W"].Available == 3
	})
	assert.Equal(t, 2, reads.count(inventory.ViewCollection))
	assert.Equal(t, 1, reads.count(product.ViewCollection), "product facts keep their longer time to live")
	assert.Equal(t, int64(900), got["MUG-W"].Price.Amount)

	// Past twice its time to live, nothing stale is served: the call waits
	// for the store.
	clock.Advance(2*DefaultItemsProductTTL + time.Millisecond)
	got, err = items.Items(ctx, "MUG-W", "MUG-B")
	require.NoError(t, err)
	assert.Equal(t, int64(1200), got["MUG-W"].Price.Amount)
	assert.False(t, got["MUG-W"].Active, "the product was archived")
	assert.Equal(t, 2, reads.count(product.ViewCollection))
}

func TestItemsFailures(t *testing.T) {
	s := newItemsStore(t)
	s.product(t, mug(900, emporium.StatusActive))
	reads := &countingReads{inner: s.store.Projections(), calls: map[string][][]string{}, fail: errors.New("the store is down")}
	items, err := NewItems(ItemsConfig{Reads: reads})
	require.NoError(t, err)
	_, err = items.Items(t.Context(), "MUG-W")
	require.Error(t, err)

	// A failure is not kept: the next call reads again.
	reads.mu.Lock()
	reads.fail = nil
	reads.mu.Unlock()
	got, err := items.Items(t.Context(), "MUG-W")
	require.NoError(t, err)
	assert.True(t, got["MUG-W"].Active)

	assert.Panics(t, func() { _, _ = NewItems(ItemsConfig{}) }, "a missing store is a wiring mistake")
}

// TestItemsDocumentThatCannotBeDecoded: one bad product document leaves
// its SKUs out instead of failing every cart.
func TestItemsDocumentThatCannotBeDecoded(t *testing.T) {
	s := newItemsStore(t)
	s.product(t, mug(900, emporium.StatusActive))
	s.store.Projections().Put(product.ViewCollection, "p-bad", 1, map[string]any{"title": 42})
	require.NoError(t, (&actors.DocumentClaims{Collection: func(c string) actors.ClaimDocuments { return s.store.Documents(c) }}).
		Claim(t.Context(), product.SKUsCollection, "BAD-1", "p-bad"))
	require.NoError(t, s.store.Projections().Flush(t.Context()))
	items, err := NewItems(ItemsConfig{Reads: s.store.Projections(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	got, err := items.Items(t.Context(), "BAD-1", "MUG-B")
	require.NoError(t, err)
	assert.NotContains(t, got, "BAD-1")
	assert.Contains(t, got, "MUG-B")
}

// newTestCache is a cache over a load that counts its calls and waits for
// gate (when not nil) before answering each key with its length.
func newTestCache(clock actors.Clock, gate chan struct{}, calls *atomic.Int64) *ttlCache[int] {
	return newTTLCache("test", time.Second, &ItemsConfig{Clock: clock, LoadTimeout: time.Minute, Logger: slog.New(slog.DiscardHandler)},
		func(ctx context.Context, keys []string) (map[string]int, error) {
			calls.Add(1)
			if gate != nil {
				select {
				case <-gate:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			out := map[string]int{}
			for _, k := range keys {
				out[k] = len(k)
			}
			return out, nil
		})
}

func TestConcurrentMissesShareOneLoad(t *testing.T) {
	clock := actorstest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	gate := make(chan struct{})
	var calls atomic.Int64
	c := newTestCache(clock, gate, &calls)
	const callers = 10
	results := make([]map[string]int, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { results[i], errs[i] = c.get(context.Background(), []string{"a", "bb", "a"}) })
	}
	// All but the first caller wait for the first one's load of both keys.
	actorstest.WaitFor(t, 5*time.Second, "the other callers waiting", func() bool {
		return c.shared.Load() == 2*(callers-1)
	})
	close(gate)
	wg.Wait()
	assert.Equal(t, int64(1), calls.Load(), "one load for every caller")
	for i := range callers {
		require.NoError(t, errs[i])
		assert.Equal(t, map[string]int{"a": 1, "bb": 2}, results[i])
	}

	// A caller that gives up does not spoil the load for the others.
	gate2 := make(chan struct{})
	c2 := newTestCache(clock, gate2, &calls)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c2.get(ctx, []string{"ccc"})
		done <- err
	}()
	actorstest.WaitFor(t, 5*time.Second, "the load started", func() bool { return calls.Load() == 2 })
	waiter := make(chan map[string]int, 1)
	go func() {
		got, _ := c2.get(context.Background(), []string{"ccc"})
		waiter <- got
	}()
	actorstest.WaitFor(t, 5*time.Second, "the second caller waiting", func() bool { return c2.shared.Load() == 1 })
	cancel()
	close(gate2)
	select {
	case got := <-waiter:
		assert.Equal(t, map[string]int{"ccc": 3}, got)
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting caller got no answer")
	}
	<-done
}

func TestCacheSweepsDeadEntries(t *testing.T) {
	clock := actorstest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	var calls atomic.Int64
	c := newTestCache(clock, nil, &calls)
	keys := make([]string, minSweep-1)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
	}
	_, err := c.get(context.Background(), keys)
	require.NoError(t, err)
	clock.Advance(2*time.Second + time.Millisecond)
	_, err = c.get(context.Background(), []string{"fresh"})
	require.NoError(t, err)
	assert.Equal(t, int64(2), calls.Load())
	c.mu.Lock()
	defer c.mu.Unlock()
	assert.Equal(t, 1, len(c.entries), "only the fresh entry is left")
	assert.Equal(t, minSweep, c.sweepAt)
}
