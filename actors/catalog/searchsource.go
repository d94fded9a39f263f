package catalog

import (
	"context"
	"log/slog"
	"time"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors/product"
	"github.com/emporium-shop/emporium/persistence"
	productpb "github.com/emporium-shop/emporium/protos/productpb"
	"github.com/emporium-shop/emporium/search"
)

// SearchMarkField is the field of a product read-model document that says
// which of its seqs the search index holds. A new projection replaces the
// whole document, mark included, so a product without the mark is pending:
// the product read model is the search outbox (DESIGN §6).
const SearchMarkField = "search_indexed"

// DefaultSearchFlushTimeout bounds the wait for queued projections before
// the search source reads.
const DefaultSearchFlushTimeout = 5 * time.Second

// SearchReads is what the search source needs of the read-model store
// (*persistence.Projections).
type SearchReads interface {
	Flush(ctx context.Context) error
	GetMany(ctx context.Context, collection string, ids []string, into any) error
	Unmarked(ctx context.Context, collection, field, afterID string, limit int) ([]string, error)
	SetMark(ctx context.Context, collection, field string, marks ...persistence.Mark) error
	EachID(ctx context.Context, collection string, batch int, fn func(ids []string) error) error
	Count(ctx context.Context, collection string) (int, error)
	EnsureIndex(ctx context.Context, collection string, keys ...string) error
}

// SearchSource is the search indexer's view of the catalogue
// (search.Source): the ProductGrain's read model ("products"), the
// InventoryGrain's ("inventory") for stock, and the SKU claims ("skus") to
// find the product of a SKU.
type SearchSource struct {
	Reads SearchReads
	// FlushTimeout bounds the wait for queued projections in Load; zero is
	// DefaultSearchFlushTimeout.
	FlushTimeout time.Duration
	// Logger receives read-model documents that cannot be decoded; nil is
	// slog.Default().
	Logger *slog.Logger
}

// Load implements search.Source. It first waits until every projection
// queued on this node is stored, so that a product the indexer was told
// about is read as it was told. A document that cannot be decoded is logged
// and left out; it stays pending.
func (s *SearchSource) Load(ctx context.Context, ids []string) ([]search.Loaded, error) {
	const op = "catalog.SearchSource.Load"
	timeout := s.FlushTimeout
	if timeout <= 0 {
		timeout = DefaultSearchFlushTimeout
	}
	fctx, cancel := context.WithTimeout(ctx, timeout)
	err := s.Reads.Flush(fctx)
	cancel()
	if err != nil {
		return nil, emporium.Wrap(op, err)
	}
	var docs []productDoc
	if err := s.Reads.GetMany(ctx, product.ViewCollection, ids, &docs); err != nil {
		return nil, emporium.Wrap(op, err)
	}
	products := make([]indexState, 0, len(docs))
	var skus []string
	for _, d := range docs {
		f, err := searchState(&d)
		if err != nil {
			s.logger().Error("catalog: a product read model cannot be decoded for search; it stays pending",
				slog.String("product", d.ID), slog.Any("error", err))
			continue
		}
		products = append(products, f)
		for _, v := range f.p.Variants {
			skus = append(skus, v.Sku)
		}
	}
	stock, err := stockOf(ctx, s.Reads, skus)
	if err != nil {
		return nil, emporium.Wrap(op, err)
	}
	out := make([]search.Loaded, len(products))
	for i, f := range products {
		out[i] = search.Loaded{
			Product: searchProduct(f.p, stock),
			Seq:     f.seq,
			Pending: f.pending,
		}
	}
	return out, nil
}

// indexState is a product read model as the search source reads it: the
// product, the seq of the document and whether the index may lack it.
type indexState struct {
	p       *productpb.Product
	seq     uint64
	pending bool
}

// searchState decodes a product read model and its search mark.
func searchState(d *productDoc) (indexState, error) {
	p, err := d.message()
	if err != nil {
		return indexState{}, err
	}
	seq, ok := d.raw.Lookup("seq").AsInt64OK()
	if !ok || seq <= 0 {
		return indexState{}, &emporium.Error{Code: emporium.EINTERNAL, Op: "catalog.SearchSource.Load", Message: "product document " + d.ID + " has no seq"}
	}
	mark, marked := d.raw.Lookup(SearchMarkField).AsInt64OK()
	return indexState{p: p, seq: uint64(seq), pending: !marked || mark != seq}, nil
}

// searchProduct is the searchable form of a product with the stock of its
// SKUs (a SKU without a stock read model has none).
func searchProduct(p *productpb.Product, stock map[string]stockDocument) search.Product {
	out := search.Product{
		ID:          p.Id,
		VendorID:    p.VendorId,
		Title:       p.Title,
		Description: p.Description,
		Brand:       p.Brand,
		CategoryID:  p.CategoryId,
		Status:      p.Status,
		Rating:      p.GetRating().GetAverage(),
		RatingCount: int(p.GetRating().GetCount()),
	}
	if len(p.Images) > 0 {
		out.ImageURL, out.ImageAlt = p.Images[0].Url, p.Images[0].Alt
	}
	if p.CreatedAt != nil {
		out.CreatedAt = p.CreatedAt.AsTime().UTC()
	}
	seqs := make([]uint64, 0, len(p.Variants))
	for i, v := range p.Variants {
		price := v.GetPrice().GetAmount()
		if i == 0 {
			out.PriceMin, out.PriceMax, out.Currency = price, price, v.GetPrice().GetCurrency()
		}
		out.PriceMin, out.PriceMax = min(out.PriceMin, price), max(out.PriceMax, price)
		st := stock[v.Sku]
		seqs = append(seqs, st.Seq)
		out.InStock = out.InStock || st.Available > 0
	}
	out.Version = search.ComposeVersion(p.Version, seqs...)
	return out
}

// Pending implements search.Source: the products whose read model carries
// no search mark.
func (s *SearchSource) Pending(ctx context.Context, afterID string, limit int) ([]string, error) {
	ids, err := s.Reads.Unmarked(ctx, product.ViewCollection, SearchMarkField, afterID, limit)
	return ids, emporium.Wrap("catalog.SearchSource.Pending", err)
}

// Acknowledge implements search.Source: it marks each read model at the
// seq loaded, unless a newer one replaced it meanwhile.
func (s *SearchSource) Acknowledge(ctx context.Context, indexed []search.Loaded) error {
	marks := make([]persistence.Mark, len(indexed))
	for i, l := range indexed {
		marks[i] = persistence.Mark{ID: l.Product.ID, Seq: l.Seq}
	}
	err := s.Reads.SetMark(ctx, product.ViewCollection, SearchMarkField, marks...)
	return emporium.Wrap("catalog.SearchSource.Acknowledge", err)
}

// ProductsOfSKUs implements search.Source through the SKU claims.
func (s *SearchSource) ProductsOfSKUs(ctx context.Context, skus []string) ([]string, error) {
	owners, err := ownersOf(ctx, s.Reads, skus)
	if err != nil {
		return nil, emporium.Wrap("catalog.SearchSource.ProductsOfSKUs", err)
	}
	seen := make(map[string]bool, len(owners))
	var ids []string
	for _, sku := range skus {
		if owner, ok := owners[sku]; ok && !seen[owner] {
			seen[owner] = true
			ids = append(ids, owner)
		}
	}
	return ids, nil
}

// Count implements search.Source.
func (s *SearchSource) Count(ctx context.Context) (int, error) {
	n, err := s.Reads.Count(ctx, product.ViewCollection)
	return n, emporium.Wrap("catalog.SearchSource.Count", err)
}

// EachID implements search.Source.
func (s *SearchSource) EachID(ctx context.Context, batch int, fn func(ids []string) error) error {
	return s.Reads.EachID(ctx, product.ViewCollection, batch, fn)
}

// EnsureIndexes creates the index that lets MongoDB find the pending
// products without reading them all (a product without the mark is indexed
// under null). It is idempotent; run it at start-up.
func (s *SearchSource) EnsureIndexes(ctx context.Context) error {
	err := s.Reads.EnsureIndex(ctx, product.ViewCollection, SearchMarkField, "_id")
	return emporium.Wrap("catalog.SearchSource.EnsureIndexes", err)
}

func (s *SearchSource) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

var _ search.Source = (*SearchSource)(nil)
