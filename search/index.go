// Package search is Emporium's product search: the Index interface both
// backends implement, the query model the gateway fills from the query string
// (DESIGN §6, §8), its validation, and the opaque cursor used for search_after
// pagination. Search is never the source of truth; the outbox feeds it.
package search

import (
	"context"
	"time"
)

// Product is the searchable projection of a catalogue product. The JSON names
// are those the Elasticsearch backend stores as the document source.
type Product struct {
	ID          string `json:"id"`
	VendorID    string `json:"vendor_id"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Brand       string `json:"brand"`
	CategoryID  string `json:"category_id"`
	// Status is "draft", "active" or "archived". Every product is indexed
	// whatever its status, so that versions order every change (no
	// tombstones); queries match active products unless they say otherwise.
	Status string `json:"status"`
	// ImageURL and ImageAlt are the first image, shown in listings; they are
	// stored, not searched.
	ImageURL string `json:"image_url,omitempty"`
	ImageAlt string `json:"image_alt,omitempty"`
	// PriceMin and PriceMax span the prices of the active variants, in minor
	// units. Filters, price sorts and price buckets use PriceMin, the "from"
	// price a shopper sees in a listing.
	PriceMin    int64     `json:"price_min"`
	PriceMax    int64     `json:"price_max"`
	Currency    string    `json:"currency"`
	InStock     bool      `json:"in_stock"`
	Rating      float64   `json:"rating"`
	RatingCount int       `json:"rating_count"`
	CreatedAt   time.Time `json:"created_at"`
	// Version orders the states of a product: an Upsert carrying a version
	// not higher than the one indexed is ignored. It must grow with every
	// change of what is indexed, so the indexer composes it from both
	// sources of those fields (ComposeVersion): the product's version (which
	// counts the product's changes) shifted left by 32 bits, plus the sum of
	// the seqs of its SKUs' stock read models (each of which only grows), so
	// that a stock change raises it as a product change does.
	Version uint64 `json:"version"`
}

// Query is one search or browse request.
type Query struct {
	// Text is the full-text query over title, description and brand.
	Text string
	// Categories matches products whose CategoryID is any of them; the
	// caller expands a category into its sub-categories.
	Categories []string
	// Statuses matches products in any of these statuses; empty means
	// active only.
	Statuses []string
	// Brands matches any of the given brands exactly.
	Brands []string
	// Vendor matches the vendor id exactly.
	Vendor string
	// MinPrice and MaxPrice bound PriceMin, both inclusive, in minor units.
	MinPrice, MaxPrice *int64
	// InStock, when set, keeps only products whose in-stock flag equals it.
	InStock *bool
	// MinRating keeps products rated at least this much.
	MinRating *float64
	// Sort is the order; the zero value means relevance with Text and newest
	// without.
	Sort Sort
	// Limit is the page size: 0 means DefaultLimit; at most MaxLimit.
	Limit int
	// Cursor is the NextCursor of the previous page, or empty for the first.
	Cursor string
	// Facets asks for brand, category and price facet counts.
	Facets bool
}

// Result is one page of hits.
type Result struct {
	Hits []Hit
	// Total counts every product matching the query, not only this page.
	Total int
	// NextCursor fetches the next page; it is empty on the last page.
	NextCursor string
	// Facets is filled when the query asked for facets.
	Facets Facets
}

// Hit is one matching product.
type Hit struct {
	ID string
	// Score is the relevance score; it is meaningful only for SortRelevance.
	Score   float64
	Product Product
}

// Facets are counts over every product matching the query (all pages).
type Facets struct {
	// Brand counts products per brand, most frequent first.
	Brand []FacetValue
	// Category counts products per CategoryID (leaf counts: the caller
	// rolls them up the category tree).
	Category []FacetValue
	// Price counts products per fixed price bucket (PriceBuckets), always in
	// the same order and including empty buckets.
	Price []PriceBucket
}

// FacetValue is the number of matching products having one value.
type FacetValue struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// PriceBucket counts matching products with Min <= PriceMin < Max. A nil Max
// means no upper bound.
type PriceBucket struct {
	Min   int64  `json:"min"`
	Max   *int64 `json:"max,omitempty"`
	Count int    `json:"count"`
}

// Index is a product search index. Implementations are safe for concurrent
// use.
type Index interface {
	// Upsert adds or replaces products in one batch. A product whose Version
	// is not higher than the indexed one is ignored, since the outbox may
	// replay; a product's first version is always written.
	Upsert(ctx context.Context, products ...Product) error
	// Delete removes products; unknown ids are not an error.
	Delete(ctx context.Context, ids ...string) error
	// Search answers one page of a query. A bad query is EINVALID; a backend
	// that cannot answer is EUNAVAILABLE.
	Search(ctx context.Context, q Query) (Result, error)
	// Close releases the index.
	Close() error
}
