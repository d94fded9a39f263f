package catalog

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/actors/inventory"
	"github.com/emporium-shop/emporium/actors/product"
	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
	inventorypb "github.com/emporium-shop/emporium/protos/inventorypb"
	productpb "github.com/emporium-shop/emporium/protos/productpb"
	"github.com/emporium-shop/emporium/search"
	bleveindex "github.com/emporium-shop/emporium/search/bleve"
)

// searchFixture is one cluster member hosting the ProductGrain and the
// InventoryGrain over an embedded store, with their hooks feeding whichever
// indexer runs at the moment (none, to play a crash).
type searchFixture struct {
	member *cluster.Cluster
	store  persistence.Store
	source *SearchSource
	logger *slog.Logger

	mu      sync.Mutex
	indexer *search.Indexer
	// stockCalls counts the InventoryGrain's StockChanged calls per SKU.
	stockCalls map[string]int
	commands   atomic.Int64
}

func newSearchFixture(t *testing.T) *searchFixture {
	t.Helper()
	f := &searchFixture{
		store:      persistencetest.Open(t),
		logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		stockCalls: map[string]int{},
	}
	f.source = &SearchSource{Reads: f.store.Projections(), Logger: f.logger}
	require.NoError(t, f.source.EnsureIndexes(t.Context()))
	require.NoError(t, f.source.EnsureIndexes(t.Context()), "idempotent")
	grains := actors.GrainConfig{Journal: f.store.Journal(), Snapshots: f.store.Snapshots(), Logger: f.logger}
	member, err := actors.StartMember(actors.ClusterConfig{Provider: actors.ProviderLocal, Addr: "127.0.0.1:0", Logger: f.logger},
		product.NewKind(product.Config{
			GrainConfig: grains,
			Claims:      &actors.DocumentClaims{Collection: func(c string) actors.ClaimDocuments { return f.store.Documents(c) }},
			Views:       f.store.Projections(),
			Changed: func(id string) {
				if x := f.current(); x != nil {
					x.Notify(id)
				}
			},
		}),
		inventory.NewKind(inventory.Config{
			GrainConfig: grains,
			Views:       f.store.Projections(),
			StockChanged: func(sku string) {
				f.mu.Lock()
				f.stockCalls[sku]++
				f.mu.Unlock()
				if x := f.current(); x != nil {
					x.NotifySKUs(sku)
				}
			},
		}))
	require.NoError(t, err)
	f.member = member
	t.Cleanup(func() { member.Shutdown(false) })
	return f
}

func (f *searchFixture) current() *search.Indexer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.indexer
}

func (f *searchFixture) stockChanges(sku string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stockCalls[sku]
}

// openIndex opens a bleve index in a fresh directory, closed when the test
// ends.
func openIndex(t *testing.T) search.Index {
	t.Helper()
	idx, err := bleveindex.Open(filepath.Join(t.TempDir(), "search"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = idx.Close() })
	return idx
}

func (f *searchFixture) newIndexer(t *testing.T, idx search.Index) *search.Indexer {
	t.Helper()
	x, err := search.NewIndexer(search.IndexerConfig{Index: idx, Source: f.source, Logger: f.logger, PollInterval: time.Hour})
	require.NoError(t, err)
	return x
}

// start runs an indexer over idx and makes the grains notify it; the
// returned function stops it (a crash, as far as the outbox can tell).
func (f *searchFixture) start(t *testing.T, idx search.Index) (stop func()) {
	t.Helper()
	x := f.newIndexer(t, idx)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		x.Run(ctx)
	}()
	f.mu.Lock()
	f.indexer = x
	f.mu.Unlock()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			f.mu.Lock()
			f.indexer = nil
			f.mu.Unlock()
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("the indexer did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

const searchVendor = "vendor-search"

func (f *searchFixture) products(id string) *productpb.ProductGrainGrainClient {
	return productpb.GetProductGrainGrainClient(f.member, id)
}

// createActive creates and publishes a product with a variant per SKU (at
// most three), priced 15.00, 25.00 and 35.00.
func (f *searchFixture) createActive(t *testing.T, id, title string, skus ...string) *productpb.Product {
	t.Helper()
	req := &productpb.CreateRequest{
		CommandId: "create-" + id, VendorId: searchVendor, Title: title, Description: "Bright and sturdy.",
		Brand: "Acme", CategoryId: "outdoor", Currency: "EUR",
		Images: []*productpb.Image{{Url: "https://img.example.com/" + id + ".jpg", Alt: title}},
	}
	sizes := []string{"S", "M", "L"}[:len(skus)]
	req.Options = []*productpb.Option{{Name: "size", Values: sizes}}
	for i, sku := range skus {
		req.Variants = append(req.Variants, &productpb.VariantInput{
			Sku: sku, PriceAmount: int64(1500 + 1000*i), Options: map[string]string{"size": sizes[i]},
		})
	}
	_, err := f.products(id).Create(req)
	require.NoError(t, err)
	p, err := f.products(id).Publish(&productpb.PublishRequest{CommandId: "publish-" + id, Caller: &productpb.Caller{VendorId: searchVendor}})
	require.NoError(t, err)
	return p
}

func (f *searchFixture) setStock(t *testing.T, sku string, onHand int64) {
	t.Helper()
	_, err := inventorypb.GetInventoryGrainGrainClient(f.member, sku).
		SetStock(&inventorypb.SetStockRequest{CommandId: fmt.Sprintf("stock-%s-%d", sku, f.commands.Add(1)), OnHand: onHand})
	require.NoError(t, err)
}

// find answers the hit for id of q, if any.
func find(t *testing.T, idx search.Index, q search.Query, id string) (search.Product, bool) {
	t.Helper()
	res, err := idx.Search(context.Background(), q)
	require.NoError(t, err)
	for _, h := range res.Hits {
		if h.ID == id {
			return h.Product, true
		}
	}
	return search.Product{}, false
}

// waitFound waits until q finds id with got true (or no longer finds it,
// with want false) and returns the hit.
func waitFound(t *testing.T, idx search.Index, within time.Duration, what string, q search.Query, id string, want bool) search.Product {
	t.Helper()
	var hit search.Product
	actorstest.WaitFor(t, within, what, func() bool {
		var found bool
		hit, found = find(t, idx, q, id)
		return found == want
	})
	return hit
}

// waitNothingPending waits until the indexer has acknowledged every
// product; it acknowledges after the index write, so a search can see a
// product that is still pending.
func waitNothingPending(t *testing.T, f *searchFixture) {
	t.Helper()
	actorstest.WaitFor(t, 2*time.Second, "nothing pending", func() bool {
		pending, err := f.source.Pending(t.Context(), "", 10)
		return err == nil && len(pending) == 0
	})
}

// TestSearchIndexing runs the search outbox end to end on one cluster
// member (starting one costs over a second, and Proto.Actor's remote does
// not like being started and stopped many times in one process).
func TestSearchIndexing(t *testing.T) {
	f := newSearchFixture(t)
	t.Run("FollowsTheCatalog", func(t *testing.T) { testFollowsTheCatalog(t, f) })
	t.Run("SourceReadsTheReadModels", func(t *testing.T) { testSourceReadsTheReadModels(t, f) })
}

func testFollowsTheCatalog(t *testing.T, f *searchFixture) {
	idx := openIndex(t)
	stop := f.start(t, idx)
	inStock, outOfStock := true, false

	// A product write is searchable within a second.
	created := f.createActive(t, "p-lantern", "Storm lantern", "LANTERN-S", "LANTERN-L")
	hit := waitFound(t, idx, time.Second, "the new product found by its title", search.Query{Text: "lantern"}, "p-lantern", true)
	assert.Equal(t, search.Product{
		ID: "p-lantern", VendorID: searchVendor, Title: "Storm lantern", Description: "Bright and sturdy.", Brand: "Acme",
		CategoryID: "outdoor", Status: search.StatusActive,
		ImageURL: "https://img.example.com/p-lantern.jpg", ImageAlt: "Storm lantern",
		PriceMin: 1500, PriceMax: 2500, Currency: "EUR", InStock: false,
		CreatedAt: created.CreatedAt.AsTime().UTC(), Version: search.ComposeVersion(created.Version),
	}, hit)

	// A stock change flips the in-stock flag within two seconds, both ways.
	f.setStock(t, "LANTERN-L", 5)
	hit = waitFound(t, idx, 2*time.Second, "the product in stock", search.Query{Text: "lantern", InStock: &inStock}, "p-lantern", true)
	assert.Greater(t, hit.Version, search.ComposeVersion(created.Version), "the stock raised the version")
	calls := f.stockChanges("LANTERN-L")
	f.setStock(t, "LANTERN-L", 7)
	assert.Equal(t, calls, f.stockChanges("LANTERN-L"), "still in stock: the indexer is not told")
	f.setStock(t, "LANTERN-L", 0)
	assert.Equal(t, calls+1, f.stockChanges("LANTERN-L"), "out of stock: the indexer is told")
	waitFound(t, idx, 2*time.Second, "the product out of stock", search.Query{Text: "lantern", InStock: &outOfStock}, "p-lantern", true)

	// Archived products leave the default (active) search, and stay
	// indexed for those who ask for them.
	_, err := f.products("p-lantern").Archive(&productpb.ArchiveRequest{CommandId: "archive", Caller: &productpb.Caller{VendorId: searchVendor}})
	require.NoError(t, err)
	waitFound(t, idx, time.Second, "the archived product gone from search", search.Query{Text: "lantern"}, "p-lantern", false)
	hit, found := find(t, idx, search.Query{Text: "lantern", Statuses: []string{search.StatusArchived}}, "p-lantern")
	require.True(t, found)
	assert.Equal(t, search.StatusArchived, hit.Status)

	// A crash between the product write and the index write: the new
	// indexer's Run indexes what the old one never did.
	waitNothingPending(t, f)
	stop()
	f.createActive(t, "p-kettle", "Camping kettle", "KETTLE-S")
	require.NoError(t, f.store.Projections().Flush(t.Context()))
	_, found = find(t, idx, search.Query{Text: "kettle"}, "p-kettle")
	require.False(t, found, "nobody indexed it")
	pending, err := f.source.Pending(t.Context(), "", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"p-kettle"}, pending, "its read model is pending")
	f.start(t, idx)
	waitFound(t, idx, 2*time.Second, "the product written during the crash", search.Query{Text: "kettle"}, "p-kettle", true)
	waitNothingPending(t, f)

	// Reindex fills an empty index from the store, reporting progress.
	fresh := openIndex(t)
	var last atomic.Value
	var reports int
	require.NoError(t, f.newIndexer(t, fresh).Reindex(t.Context(), func(done, total int) {
		reports++
		last.Store([2]int{done, total})
	}))
	assert.Equal(t, [2]int{2, 2}, last.Load(), "done reaches the total")
	assert.GreaterOrEqual(t, reports, 2, "a report before and after")
	_, found = find(t, fresh, search.Query{Text: "kettle"}, "p-kettle")
	assert.True(t, found)
	_, found = find(t, fresh, search.Query{Statuses: []string{search.StatusArchived}}, "p-lantern")
	assert.True(t, found)
}

func testSourceReadsTheReadModels(t *testing.T, f *searchFixture) {
	ctx := t.Context()
	p := f.createActive(t, "p-tent", "Dome tent", "TENT-S", "TENT-L")
	f.setStock(t, "TENT-S", 3)

	// Load sees what was projected before it, without waiting for it.
	loaded, err := f.source.Load(ctx, []string{"p-tent", "no-such-product"})
	require.NoError(t, err)
	require.Len(t, loaded, 1)
	l := loaded[0]
	assert.True(t, l.Pending)
	assert.True(t, l.Product.InStock)
	assert.Equal(t, search.ComposeVersion(p.Version, 1), l.Product.Version, "the product's version and TENT-S's first seq")

	owners, err := f.source.ProductsOfSKUs(ctx, []string{"TENT-L", "TENT-S", "NOBODYS"})
	require.NoError(t, err)
	assert.Equal(t, []string{"p-tent"}, owners)

	n, err := f.source.Count(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n, "the tent and the products of the test before")
	var ids []string
	require.NoError(t, f.source.EachID(ctx, 2, func(batch []string) error {
		ids = append(ids, batch...)
		return nil
	}))
	assert.ElementsMatch(t, []string{"p-lantern", "p-kettle", "p-tent"}, ids)

	// An acknowledgement of an older state leaves the newer one pending.
	require.NoError(t, f.source.Acknowledge(ctx, loaded))
	pending, err := f.source.Pending(ctx, "", 10)
	require.NoError(t, err)
	assert.Empty(t, pending)
	// Reviews move the rating, and the product is pending again.
	for i, stars := range []int32{4, 5} {
		buyer := fmt.Sprint("buyer-", i)
		_, err = f.products("p-tent").PostReview(&productpb.PostReviewRequest{CommandId: "rate-" + buyer,
			ReviewId: "p-tent~" + buyer, BuyerId: buyer, Rating: stars, VerifiedPurchase: true})
		require.NoError(t, err)
	}
	loaded2, err := f.source.Load(ctx, []string{"p-tent"})
	require.NoError(t, err)
	require.Len(t, loaded2, 1)
	assert.True(t, loaded2[0].Pending)
	assert.Equal(t, 4.5, loaded2[0].Product.Rating)
	assert.Equal(t, 2, loaded2[0].Product.RatingCount)
	require.NoError(t, f.source.Acknowledge(ctx, loaded))
	pending, err = f.source.Pending(ctx, "", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"p-tent"}, pending)
}

func TestSearchProductFromTheReadModels(t *testing.T) {
	variant := func(sku string, amount int64) *productpb.VariantView {
		return &productpb.VariantView{Sku: sku, Price: &productpb.Money{Amount: amount, Currency: "USD"}}
	}
	stock := map[string]stockDocument{
		"A": {SKU: "A", Seq: 4, Available: 0},
		"B": {SKU: "B", Seq: 9, Available: 2},
	}
	tests := []struct {
		name     string
		variants []*productpb.VariantView
		want     search.Product
	}{
		{"no variants", nil, search.Product{Version: 3 << 32}},
		{"out of stock", []*productpb.VariantView{variant("A", 900)},
			search.Product{PriceMin: 900, PriceMax: 900, Currency: "USD", Version: 3<<32 + 4}},
		{"one variant available", []*productpb.VariantView{variant("A", 1200), variant("B", 700), variant("NEVER-STOCKED", 2500)},
			search.Product{PriceMin: 700, PriceMax: 2500, Currency: "USD", InStock: true, Version: 3<<32 + 13}},
	}
	for _, tt := range tests {
		got := searchProduct(&productpb.Product{Id: "p", Status: "draft", Version: 3, Variants: tt.variants}, stock)
		tt.want.ID, tt.want.Status = "p", "draft"
		assert.Equal(t, tt.want, got, tt.name)
	}
}
