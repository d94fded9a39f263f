package search

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emporium-shop/emporium"
)

// The indexer is the search outbox of DESIGN §6. The product read model is
// its outbox: the ProductGrain projects every change into it, and each
// projection stays "pending" until the indexer has put it in the index and
// acknowledged it. Grains notify the indexer of what changed so that search
// follows within a second, but notifications live in memory only; what a
// crash loses, the pending projections still name, and Run indexes them
// first on start and again every PollInterval. Stock is not part of the
// outbox: the InventoryGrain notifies when a SKU's in-stock flag flips, and
// projects (and so notifies) again on its next activation after a crash.
//
// Versions make every write safe to repeat or reorder: the index keeps a
// product's highest Version (see Product.Version and ComposeVersion), so two
// indexers, a retry or a Reindex running beside Run cannot bring an older
// state back.

// Indexer defaults.
const (
	DefaultLinger       = 50 * time.Millisecond
	DefaultMaxBatch     = 500
	DefaultPollInterval = 30 * time.Second
	DefaultMinBackoff   = 100 * time.Millisecond
	DefaultMaxBackoff   = 10 * time.Second
)

// reindexTries is how many times Reindex writes one page before it gives
// up: an operator runs it and can run it again, so it reports a lasting
// failure rather than retrying forever as Run does.
const reindexTries = 5

// Source is where the indexer reads the catalogue: the product and stock
// read models (actors/catalog implements it over MongoDB). Every method may
// fail with EUNAVAILABLE while the store is down; the indexer retries.
type Source interface {
	// Load returns the current searchable state of the products with the
	// given ids, including everything projected before the call. Ids that
	// name no product are left out.
	Load(ctx context.Context, ids []string) ([]Loaded, error)
	// Pending returns, by ascending id, up to limit ids of products whose
	// current state is not acknowledged yet, after afterID when it is not
	// empty.
	Pending(ctx context.Context, afterID string, limit int) ([]string, error)
	// Acknowledge records that the loaded states are indexed. A product
	// that changed since it was loaded stays pending.
	Acknowledge(ctx context.Context, indexed []Loaded) error
	// ProductsOfSKUs returns the ids of the products the SKUs belong to;
	// SKUs of no product are left out.
	ProductsOfSKUs(ctx context.Context, skus []string) ([]string, error)
	// Count returns about how many products there are, for progress.
	Count(ctx context.Context) (int, error)
	// EachID calls fn with the id of every product, batch at a time, in no
	// particular order, and stops at fn's first error, which it returns.
	EachID(ctx context.Context, batch int, fn func(ids []string) error) error
}

// Loaded is one product as the Source holds it.
type Loaded struct {
	Product Product
	// Seq identifies the stored state Product was made from; Acknowledge
	// gets it back.
	Seq uint64
	// Pending reports whether that state is not acknowledged yet.
	Pending bool
}

// ComposeVersion returns the Version of a product's searchable state: the
// product's own version (which counts its changes) in the high 32 bits,
// plus the sum of the seqs of its SKUs' stock read models (0 for a SKU
// never stocked). Each SKU's seq only grows, so a stock change raises the
// sum; a product change raises the high part, which outweighs any change
// of the sum while the seqs of one product's SKUs add up to less than 2^32.
func ComposeVersion(productVersion uint64, stockSeqs ...uint64) uint64 {
	var sum uint64
	for _, s := range stockSeqs {
		sum += s
	}
	return productVersion<<32 + sum
}

// IndexerConfig configures an Indexer. Zero durations and sizes take the
// defaults above.
type IndexerConfig struct {
	Index  Index
	Source Source
	// Logger receives failures (at Warn) and repairs (at Info); nil is
	// slog.Default().
	Logger *slog.Logger
	// Linger is how long a batch waits for more notifications after the
	// first one.
	Linger time.Duration
	// MaxBatch bounds the products of one batch.
	MaxBatch int
	// PollInterval is how often Run looks for pending products, the safety
	// net under notifications.
	PollInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failure; it doubles
	// with each failure in a row.
	MinBackoff, MaxBackoff time.Duration
	// Feed, when set, makes the index one of several over the store (each
	// cluster member's embedded index, feed.go): what this indexer indexes
	// it publishes there, and it follows the feed, every FeedInterval, from
	// the position Cursors keeps. Cursors is required with a Feed.
	Feed         Feed
	Cursors      FeedCursors
	FeedInterval time.Duration
}

// Indexer keeps an Index in step with a Source. Notify and NotifySKUs may
// be called at any time, from any goroutine, before or while Run runs; one
// Run at a time does the indexing.
type Indexer struct {
	index  Index
	source Source
	log    *slog.Logger
	cfg    IndexerConfig

	// cursor is the feed position followed up to (feed.go).
	cursor atomic.Uint64

	mu   sync.Mutex
	ids  map[string]struct{}
	skus map[string]struct{}
	wake chan struct{}
}

// NewIndexer returns an indexer. It is EINVALID without an Index or a
// Source.
func NewIndexer(cfg IndexerConfig) (*Indexer, error) {
	if cfg.Index == nil || cfg.Source == nil {
		return nil, &emporium.Error{Code: emporium.EINVALID, Op: "search.NewIndexer", Message: "the indexer needs an index and a source"}
	}
	if cfg.Feed != nil && cfg.Cursors == nil {
		return nil, &emporium.Error{Code: emporium.EINVALID, Op: "search.NewIndexer", Message: "an indexer that follows a feed needs somewhere to keep its cursor"}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	defaults := []struct {
		d   *time.Duration
		def time.Duration
	}{
		{&cfg.Linger, DefaultLinger}, {&cfg.PollInterval, DefaultPollInterval},
		{&cfg.MinBackoff, DefaultMinBackoff}, {&cfg.MaxBackoff, DefaultMaxBackoff},
		{&cfg.FeedInterval, DefaultFeedInterval},
	}
	for _, d := range defaults {
		if *d.d <= 0 {
			*d.d = d.def
		}
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	return &Indexer{
		index:  cfg.Index,
		source: cfg.Source,
		log:    cfg.Logger,
		cfg:    cfg,
		ids:    map[string]struct{}{},
		skus:   map[string]struct{}{},
		wake:   make(chan struct{}, 1),
	}, nil
}

// Notify tells the indexer that products changed. It never blocks.
func (x *Indexer) Notify(ids ...string) { x.queue(ids, nil) }

// NotifySKUs tells the indexer that the stock of SKUs changed; their
// products are indexed again. It never blocks.
func (x *Indexer) NotifySKUs(skus ...string) { x.queue(nil, skus) }

func (x *Indexer) queue(ids, skus []string) {
	x.mu.Lock()
	for _, id := range ids {
		if id != "" {
			x.ids[id] = struct{}{}
		}
	}
	for _, sku := range skus {
		if sku != "" {
			x.skus[sku] = struct{}{}
		}
	}
	x.mu.Unlock()
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// queued returns how many products and SKUs wait.
func (x *Indexer) queued() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.ids) + len(x.skus)
}

// take removes up to MaxBatch waiting products and SKUs.
func (x *Indexer) take() (ids, skus []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := x.cfg.MaxBatch
	for id := range x.ids {
		if len(ids) == n {
			break
		}
		ids = append(ids, id)
		delete(x.ids, id)
	}
	for sku := range x.skus {
		if len(ids)+len(skus) == n {
			break
		}
		skus = append(skus, sku)
		delete(x.skus, sku)
	}
	return ids, skus
}

// Run indexes until ctx ends. It first indexes every pending product (what
// a crash left behind), then serves notifications in batches, and looks
// for pending products again every PollInterval. A failed batch is queued
// again and retried after a backoff, never dropped. When ctx ends Run
// returns at once; what was still queued is pending in the Source, and the
// next Run indexes it.
func (x *Indexer) Run(ctx context.Context) {
	if x.cfg.Feed != nil {
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			x.follow(ctx)
		}()
	}
	pollAt := time.Now() // due at once: the repair
	var backoff, pollBackoff time.Duration
	grow := func(d time.Duration) time.Duration { return min(max(2*d, x.cfg.MinBackoff), x.cfg.MaxBackoff) }
	for ctx.Err() == nil {
		if !time.Now().Before(pollAt) {
			n, err := x.queuePending(ctx)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				// Look again after a backoff; notifications are served
				// meanwhile.
				pollBackoff = grow(pollBackoff)
				x.log.Warn("search: looking for pending products failed; retrying",
					slog.Duration("retry_in", pollBackoff), slog.Any("error", err))
				pollAt = time.Now().Add(pollBackoff)
			default:
				if n > 0 {
					x.log.Info("search: indexing pending products", slog.Int("products", n))
				}
				pollBackoff = 0
				pollAt = time.Now().Add(x.cfg.PollInterval)
			}
		}
		if x.queued() == 0 {
			if !x.await(ctx, pollAt) {
				return
			}
			continue
		}
		if !x.linger(ctx) {
			return
		}
		ids, skus := x.take()
		if err := x.indexBatch(ctx, ids, skus); err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = grow(backoff)
			x.log.Warn("search: indexing a batch failed; retrying",
				slog.Int("products", len(ids)), slog.Int("skus", len(skus)),
				slog.Duration("retry_in", backoff), slog.Any("error", err))
			if !pause(ctx, backoff) {
				return
			}
			continue
		}
		backoff = 0
	}
}

// await waits for a notification or for the poll at pollAt; it reports
// false when ctx ended first.
func (x *Indexer) await(ctx context.Context, pollAt time.Time) bool {
	timer := time.NewTimer(time.Until(pollAt))
	defer timer.Stop()
	select {
	case <-x.wake:
	case <-timer.C:
	case <-ctx.Done():
		return false
	}
	return true
}

// linger waits up to Linger for a full batch; it reports false when ctx
// ended first.
func (x *Indexer) linger(ctx context.Context) bool {
	timer := time.NewTimer(x.cfg.Linger)
	defer timer.Stop()
	for x.queued() < x.cfg.MaxBatch {
		select {
		case <-x.wake:
		case <-timer.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// queuePending queues every pending product and returns how many.
func (x *Indexer) queuePending(ctx context.Context) (int, error) {
	n, after := 0, ""
	for {
		ids, err := x.source.Pending(ctx, after, x.cfg.MaxBatch)
		if err != nil {
			return n, err
		}
		x.Notify(ids...)
		n += len(ids)
		if len(ids) < x.cfg.MaxBatch {
			return n, nil
		}
		after = ids[len(ids)-1]
	}
}

// indexBatch indexes the products named by ids and by the SKUs; on failure
// it queues them again.
func (x *Indexer) indexBatch(ctx context.Context, ids, skus []string) error {
	if len(skus) > 0 {
		owners, err := x.source.ProductsOfSKUs(ctx, skus)
		if err != nil {
			x.queue(ids, skus)
			return err
		}
		ids = append(ids, owners...)
	}
	if err := x.write(ctx, ids, true); err != nil {
		x.queue(ids, nil)
		return err
	}
	return nil
}

// write loads the products, upserts them, publishes them to the feed (when
// publish is set and there is one) and acknowledges those pending. The
// index keeps the highest version, so writing a product twice, or an older
// state after a newer one, changes nothing. Products read from the feed are
// not published again, nor are those Reindex writes into this index only.
func (x *Indexer) write(ctx context.Context, ids []string, publish bool) error {
	if len(ids) == 0 {
		return nil
	}
	loaded, err := x.source.Load(ctx, ids)
	if err != nil {
		return err
	}
	products := make([]Product, len(loaded))
	var pending []Loaded
	for i, l := range loaded {
		products[i] = l.Product
		if l.Pending {
			pending = append(pending, l)
		}
	}
	if len(products) > 0 {
		if err := x.index.Upsert(ctx, products...); err != nil {
			return err
		}
		if publish && x.cfg.Feed != nil {
			published := make([]string, len(products))
			for i, p := range products {
				published[i] = p.ID
			}
			// Before the acknowledgement: a product is acknowledged only
			// once every member can learn of it.
			if err := x.cfg.Feed.Publish(ctx, published); err != nil {
				return err
			}
		}
	}
	// With a feed, only what was published may be acknowledged: the
	// pending mark is what makes somebody publish a change the members
	// would otherwise not hear of.
	if len(pending) > 0 && (publish || x.cfg.Feed == nil) {
		return x.source.Acknowledge(ctx, pending)
	}
	return nil
}

// Reindex writes every product of the Source into the index, reporting
// progress (when not nil) after each batch with the products done and the
// total; the last report has done == total. It then deletes from the index
// the products the Source does not have (an index kept over another
// store). It runs beside Run safely. A product indexed at its current
// version is kept as it is: to rebuild an index from nothing (a changed
// mapping), remove it before Reindex. A batch that keeps failing ends
// Reindex with its error.
func (x *Indexer) Reindex(ctx context.Context, progress func(done, total int)) error {
	const op = "search.Indexer.Reindex"
	total, err := x.source.Count(ctx)
	if err != nil {
		return emporium.Wrap(op, err)
	}
	report := func(done int) {
		if progress != nil {
			progress(done, max(total, done))
		}
	}
	report(0)
	done := 0
	err = x.source.EachID(ctx, x.cfg.MaxBatch, func(ids []string) error {
		if err := x.retry(ctx, "reindexing a batch", func() error { return x.write(ctx, ids, false) }); err != nil {
			return err
		}
		done += len(ids)
		report(done)
		return nil
	})
	if err != nil {
		return emporium.Wrap(op, err)
	}
	if done != total && progress != nil {
		progress(done, done) // the count was an estimate; end at 100 %
	}
	return emporium.Wrap(op, x.prune(ctx))
}

// prune deletes from the index the products the Source does not have.
// Products are never deleted from the Source, so only an index kept over
// another store holds such products.
func (x *Indexer) prune(ctx context.Context) error {
	q := Query{Statuses: []string{StatusDraft, StatusActive, StatusArchived}, Sort: SortNewest, Limit: MaxLimit}
	for {
		res, err := x.index.Search(ctx, q)
		if err != nil {
			return err
		}
		if len(res.Hits) == 0 {
			return nil
		}
		ids := make([]string, len(res.Hits))
		for i, h := range res.Hits {
			ids[i] = h.ID
		}
		var orphans []string
		err = x.retry(ctx, "looking for products the store does not have", func() error {
			loaded, err := x.source.Load(ctx, ids)
			if err != nil {
				return err
			}
			known := make(map[string]bool, len(loaded))
			for _, l := range loaded {
				known[l.Product.ID] = true
			}
			orphans = orphans[:0]
			for _, id := range ids {
				if !known[id] {
					orphans = append(orphans, id)
				}
			}
			return x.index.Delete(ctx, orphans...)
		})
		if err != nil {
			return err
		}
		if len(orphans) > 0 {
			x.log.Info("search: deleted products the store does not have", slog.Int("products", len(orphans)))
		}
		if res.NextCursor == "" {
			return nil
		}
		q.Cursor = res.NextCursor
	}
}

// retry runs fn until it succeeds, reindexTries times, or ctx ends, with
// backoff in between.
func (x *Indexer) retry(ctx context.Context, what string, fn func() error) error {
	backoff := x.cfg.MinBackoff
	for try := 1; ; try++ {
		err := fn()
		if err == nil || try == reindexTries || ctx.Err() != nil {
			return err
		}
		x.log.Warn("search: "+what+" failed; retrying", slog.Duration("retry_in", backoff), slog.Any("error", err))
		if !pause(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(2*backoff, x.cfg.MaxBackoff)
	}
}

// pause waits d; it reports false when ctx ended first.
func pause(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// FeedCursor returns the position in the shared search feed up to which
// the index follows the store; 0 when the indexer follows no feed.
func (x *Indexer) FeedCursor() uint64 { return x.cursor.Load() }
