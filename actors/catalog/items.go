package catalog

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/cart"
	"github.com/emporium-shop/emporium/actors/product"
)

// Items is the catalogue as carts see it (cart.Catalog): the facts of SKUs
// read from the read models, the SKU claims ("skus": SKU -> product id), the
// product read model ("products": title, options, price, status) and the
// stock read model ("inventory": available), each read in one batch per
// call.
//
// One Items serves every cart of a node, through a short cache, since a cart
// answer needs the facts of every line and an uncached read costs about a
// millisecond on the embedded store. Product facts and SKU owners are kept
// for ProductTTL (2 s by default), availability for StockTTL (500 ms); once
// past it, a value is still served for as long again while one background
// load replaces it, so that a busy cart never waits for the store.
// Concurrent misses of one key share one load. So a cart sees a change of
// price or status within 2×ProductTTL and of stock within 2×StockTTL (a
// second). That is acceptable in a cart: checkout reserves the stock
// atomically in the InventoryGrain and prices the order then, so a stale
// answer costs at most a refusal at checkout, never an oversold unit. (The
// read models themselves follow the grains within milliseconds: projections
// are written in batches after the events.)
type Items struct {
	cfg      ItemsConfig
	owners   *ttlCache[string]
	products *ttlCache[*productFacts]
	stock    *ttlCache[int64]
}

// ItemReads is what Items reads of the read-model store
// (*persistence.Projections).
type ItemReads interface {
	// GetMany decodes the documents of collection with the given ids into
	// into, a pointer to a slice, leaving out ids without a document.
	GetMany(ctx context.Context, collection string, ids []string, into any) error
}

// Defaults of ItemsConfig.
const (
	DefaultItemsProductTTL  = 2 * time.Second
	DefaultItemsStockTTL    = 500 * time.Millisecond
	DefaultItemsLoadTimeout = 4 * time.Second
)

// ItemsConfig is what Items needs.
type ItemsConfig struct {
	// Reads reads the read models; required.
	Reads ItemReads
	// ProductTTL is how long product facts and SKU owners are served
	// without a reload (and at most twice that long in all, see Items);
	// DefaultItemsProductTTL when zero.
	ProductTTL time.Duration
	// StockTTL is the same for availability; DefaultItemsStockTTL when
	// zero.
	StockTTL time.Duration
	// LoadTimeout bounds one batch read. A load outlives the call that
	// started it (other calls may wait for it), so it has its own timeout;
	// DefaultItemsLoadTimeout when zero.
	LoadTimeout time.Duration
	// Clock dates the cache entries; the wall clock when nil.
	Clock actors.Clock
	// Logger receives product documents that cannot be decoded and failed
	// background loads; nil is slog.Default().
	Logger *slog.Logger
}

// NewItems checks cfg and returns the catalogue for carts.
func NewItems(cfg ItemsConfig) (*Items, error) {
	if cfg.Reads == nil {
		panic("catalog.NewItems: Reads is required") // a wiring mistake
	}
	if cfg.ProductTTL <= 0 {
		cfg.ProductTTL = DefaultItemsProductTTL
	}
	if cfg.StockTTL <= 0 {
		cfg.StockTTL = DefaultItemsStockTTL
	}
	if cfg.LoadTimeout <= 0 {
		cfg.LoadTimeout = DefaultItemsLoadTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = actors.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	i := &Items{cfg: cfg}
	i.owners = newTTLCache("SKU owners", cfg.ProductTTL, &cfg, i.loadOwners)
	i.products = newTTLCache("products", cfg.ProductTTL, &cfg, i.loadProducts)
	i.stock = newTTLCache("availability", cfg.StockTTL, &cfg, i.loadStock)
	return i, nil
}

var _ cart.Catalog = (*Items)(nil)

// Items implements cart.Catalog. A SKU nobody claims, whose product
// document is missing (not yet projected) or no longer lists it, is left out
// of the answer. Availability is read beside the owners, so that a cold
// call costs two store round trips, not three.
func (i *Items) Items(ctx context.Context, skus ...string) (map[string]cart.Item, error) {
	const op = "catalog.Items"
	out := make(map[string]cart.Item, len(skus))
	if len(skus) == 0 {
		return out, nil
	}
	var stock map[string]int64
	var stockErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		stock, stockErr = i.stock.get(ctx, skus)
	}()
	owners, err := i.owners.get(ctx, skus)
	var products map[string]*productFacts
	if err == nil {
		ids := make([]string, 0, len(owners))
		for _, id := range owners {
			if id != "" {
				ids = append(ids, id)
			}
		}
		products, err = i.products.get(ctx, ids)
	}
	<-done
	if err == nil {
		err = stockErr
	}
	if err != nil {
		return nil, emporium.Wrap(op, err)
	}
	for _, sku := range skus {
		p := products[owners[sku]]
		if p == nil {
			continue
		}
		v, ok := p.variants[sku]
		if !ok {
			continue
		}
		out[sku] = cart.Item{
			SKU:       sku,
			ProductID: p.id,
			VendorID:  p.vendorID,
			Title:     p.title,
			Options:   v.options, // shared with the cache, read-only (cart.Item)
			Price:     v.price,
			Active:    p.status == emporium.StatusActive,
			Available: stock[sku],
		}
	}
	return out, nil
}

// productFacts is what a cart needs of a product read model.
type productFacts struct {
	id, vendorID, title, status string
	variants                    map[string]variantFacts
}

type variantFacts struct {
	options map[string]string
	price   emporium.Money
}

func (i *Items) loadOwners(ctx context.Context, skus []string) (map[string]string, error) {
	return ownersOf(ctx, i.cfg.Reads, skus)
}

// loadProducts decodes the product read models. A document that cannot be
// decoded is logged and treated as missing, so that one bad product does
// not break every cart holding another.
func (i *Items) loadProducts(ctx context.Context, ids []string) (map[string]*productFacts, error) {
	var docs []productDoc
	if err := i.cfg.Reads.GetMany(ctx, product.ViewCollection, ids, &docs); err != nil {
		return nil, err
	}
	out := make(map[string]*productFacts, len(docs))
	for _, d := range docs {
		p, err := d.message()
		if err != nil {
			i.cfg.Logger.Error("catalog: a product read model cannot be decoded for carts",
				slog.String("product", d.ID), slog.Any("error", err))
			continue
		}
		f := &productFacts{id: p.Id, vendorID: p.VendorId, title: p.Title, status: p.Status, variants: make(map[string]variantFacts, len(p.Variants))}
		for _, v := range p.Variants {
			f.variants[v.Sku] = variantFacts{options: v.Options, price: moneyOf(v.Price)}
		}
		out[d.ID] = f
	}
	return out, nil
}

func (i *Items) loadStock(ctx context.Context, skus []string) (map[string]int64, error) {
	stock, err := stockOf(ctx, i.cfg.Reads, skus)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(stock))
	for sku, d := range stock {
		out[sku] = d.Available
	}
	return out, nil
}

// ttlCache keeps values by key for ttl after they were loaded, and serves
// them for up to another ttl while one background load replaces them, so
// that a key in steady use never makes a caller wait for the store: a value
// served is at most twice ttl old (plus the load's own time). A key missing
// from a load is kept as the zero value (a negative answer is cached too).
// Concurrent gets of a key being loaded wait for that load instead of
// starting another; a failed load is not kept.
type ttlCache[V any] struct {
	name        string
	ttl         time.Duration
	clock       actors.Clock
	loadTimeout time.Duration
	logger      *slog.Logger
	load        func(ctx context.Context, keys []string) (map[string]V, error)

	mu      sync.Mutex
	entries map[string]*cacheEntry[V]
	// sweepAt is the size at which the next insertion drops dead entries,
	// doubling with the live ones so that sweeps stay amortised.
	sweepAt int

	// loads counts the loads run, shared the gets that waited for
	// another's load, for tests.
	loads, shared atomic.Int64
}

// cacheEntry is one key's value. ready is closed once value, err and loaded
// are set, and they never change after: a background load replaces the
// whole entry. refreshing (guarded by the cache's mu) marks an entry whose
// replacement is being loaded.
type cacheEntry[V any] struct {
	ready      chan struct{}
	value      V
	err        error
	loaded     time.Time
	refreshing bool
}

// minSweep is the smallest cache size that is swept.
const minSweep = 1024

// newTTLCache returns a cache of what load reads, named name in logs.
func newTTLCache[V any](name string, ttl time.Duration, cfg *ItemsConfig,
	load func(ctx context.Context, keys []string) (map[string]V, error)) *ttlCache[V] {
	return &ttlCache[V]{name: name, ttl: ttl, clock: cfg.Clock, loadTimeout: cfg.LoadTimeout, logger: cfg.Logger,
		load: load, entries: map[string]*cacheEntry[V]{}, sweepAt: minSweep}
}

// get answers the values of keys. Fresh values are answered at once;
// values past their ttl but within the grace are answered at once too and
// reloaded in the background, in one batch; keys that have no value, or
// only a dead one, are loaded in one batch before get answers; and keys
// another get is loading are waited for.
func (c *ttlCache[V]) get(ctx context.Context, keys []string) (map[string]V, error) {
	out := make(map[string]V, len(keys))
	seen := make(map[string]bool, len(keys))
	var mine, stale, theirKeys []string
	var theirs, old []*cacheEntry[V]
	c.mu.Lock()
	now := c.clock.Now()
	for _, k := range keys {
		if seen[k] || k == "" {
			continue
		}
		seen[k] = true
		if e, ok := c.entries[k]; ok {
			select {
			case <-e.ready:
				if e.err == nil && now.Before(e.loaded.Add(2*c.ttl)) {
					out[k] = e.value
					if !now.Before(e.loaded.Add(c.ttl)) && !e.refreshing {
						e.refreshing = true
						stale, old = append(stale, k), append(old, e)
					}
					continue
				}
			default:
				theirs, theirKeys = append(theirs, e), append(theirKeys, k)
				continue
			}
		}
		c.entries[k] = &cacheEntry[V]{ready: make(chan struct{})}
		mine = append(mine, k)
	}
	if len(mine) > 0 && len(c.entries) >= c.sweepAt {
		c.sweep(now)
	}
	c.mu.Unlock()

	if len(stale) > 0 {
		go c.refresh(context.WithoutCancel(ctx), stale, old)
	}
	if len(mine) > 0 {
		if err := c.fill(ctx, mine, out); err != nil {
			return nil, err
		}
	}
	if len(theirs) > 0 {
		c.shared.Add(int64(len(theirs)))
	}
	for i, e := range theirs {
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err != nil {
			return nil, e.err
		}
		out[theirKeys[i]] = e.value
	}
	return out, nil
}

// fill loads keys, whose entries this get created, and publishes the
// result to whoever waits for them. The load runs under its own timeout,
// not ctx: others may be waiting for it after this caller gave up.
func (c *ttlCache[V]) fill(ctx context.Context, keys []string, out map[string]V) error {
	values, err := c.loadDetached(ctx, keys)
	loaded := c.clock.Now()
	c.mu.Lock()
	for _, k := range keys {
		e := c.entries[k]
		if err != nil {
			e.err = err
			delete(c.entries, k) // the next get loads again
		} else {
			e.value, e.loaded = values[k], loaded
			out[k] = e.value
		}
		close(e.ready)
	}
	c.mu.Unlock()
	return err
}

// refresh reloads keys whose entries old went stale, and puts the new
// values in their place unless something else replaced them meanwhile. A
// failed refresh keeps the stale values for what is left of their grace.
func (c *ttlCache[V]) refresh(ctx context.Context, keys []string, old []*cacheEntry[V]) {
	values, err := c.loadDetached(ctx, keys)
	if err != nil {
		c.logger.Warn("catalog: refreshing the carts' cache failed; serving what it holds",
			slog.String("cache", c.name), slog.Int("keys", len(keys)), slog.Any("error", err))
	}
	loaded := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, k := range keys {
		old[i].refreshing = false
		if err != nil || c.entries[k] != old[i] {
			continue
		}
		e := &cacheEntry[V]{ready: make(chan struct{}), value: values[k], loaded: loaded}
		close(e.ready)
		c.entries[k] = e
	}
}

func (c *ttlCache[V]) loadDetached(ctx context.Context, keys []string) (map[string]V, error) {
	c.loads.Add(1)
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.loadTimeout)
	defer cancel()
	return c.load(lctx, keys)
}

// sweep drops the entries no get would answer from any more. c.mu is held.
func (c *ttlCache[V]) sweep(now time.Time) {
	for k, e := range c.entries {
		select {
		case <-e.ready:
			if e.err != nil || !now.Before(e.loaded.Add(2*c.ttl)) {
				delete(c.entries, k)
			}
		default:
		}
	}
	c.sweepAt = max(2*len(c.entries), minSweep)
}
