// Package bleveindex is the embedded search backend: a bleve index on local
// disk, the default when no Elasticsearch is configured (DESIGN §6).
//
// Its folder is search/bleve, as DESIGN §3 lays the backends out; the package
// is named bleveindex so that it does not shadow the bleve library it wraps,
// which its files import as bleve.
package bleveindex

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/mapping"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/search"
)

// Field names of the bleve documents.
const (
	fTitle       = "title"
	fDescription = "description"
	fBrand       = "brand"
	fBrandText   = "brand_text"
	fVendor      = "vendor_id"
	fCategory    = "category_id"
	fStatus      = "status"
	fPriceMin    = "price_min"
	// fPriceBucket is the index of the product's search.PriceBuckets entry:
	// a term facet over it reads one short doc value per hit, where a
	// numeric range facet over fPriceMin decodes and visits the sixteen
	// prefix-coded terms bleve keeps per number (most of the cost of a
	// search at 100,000 products). Changing the buckets needs a reindex.
	fPriceBucket = "price_bucket"
	fInStock     = "in_stock"
	fRating      = "rating"
	fRatingCount = "rating_count"
	fCreatedAt   = "created_at"
	// fSource keeps the whole Product as JSON so that hits return it exactly;
	// it is stored, not indexed.
	fSource = "source"
)

// Boosts of the text fields: a word in the title says more about a product
// than the same word in its description.
const (
	boostTitle       = 3.0
	boostBrand       = 2.0
	boostDescription = 1.0
)

// Index is a search.Index kept by bleve in one directory.
type Index struct {
	idx bleve.Index
	// english and keyword are the mapping's analyzers, which Upsert uses to
	// build documents.
	english, keyword analysis.Analyzer
	// fuzzy caches the expansions of fuzzy words in the current snapshot.
	fuzzy *fuzzyCache
	// writeMu serialises Upsert and Delete so that the version read before a
	// batch is still current when the batch is written.
	writeMu sync.Mutex
}

var _ search.Index = (*Index)(nil)

// Open opens the index in dir, creating it with Emporium's mapping when the
// directory holds none.
func Open(dir string) (*Index, error) {
	const op = "bleveindex.Open"
	idx, err := bleve.OpenUsing(dir, scorchConfig())
	if errors.Is(err, bleve.ErrorIndexPathDoesNotExist) || errors.Is(err, bleve.ErrorIndexMetaMissing) {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, emporium.Wrap(op, fmt.Errorf("create %s: %w", dir, err))
		}
		// bleve.New wants to create the directory itself.
		_ = os.Remove(dir)
		idx, err = bleve.NewUsing(dir, newMapping(), bleve.Config.DefaultIndexType, bleve.Config.DefaultKVStore, scorchConfig())
	}
	if err != nil {
		return nil, emporium.Wrap(op, fmt.Errorf("open bleve index %s: %w", dir, err))
	}
	x := &Index{idx: idx, english: idx.Mapping().AnalyzerNamed(en.AnalyzerName), keyword: idx.Mapping().AnalyzerNamed(keyword.Name), fuzzy: &fuzzyCache{}}
	if x.english == nil || x.keyword == nil {
		_ = idx.Close()
		return nil, emporium.Wrap(op, fmt.Errorf("bleve index %s: the mapping lacks the english or keyword analyzer", dir))
	}
	return x, nil
}

// scorchConfig tunes scorch's merge policy for search speed: every query
// pays per segment (term dictionary lookups, fuzzy automata, bitmaps), so
// fewer, larger segments answer faster than bleve's default of up to ten
// segments per size tier, for somewhat more merging while indexing.
func scorchConfig() map[string]any {
	return map[string]any{
		"scorchMergePlanOptions": map[string]any{
			"MaxSegmentsPerTier":   mergeWidth,
			"SegmentsPerMergeTask": mergeWidth,
		},
	}
}

// mergeWidth is how many segments of a size tier scorch keeps before it
// merges them into one of the next tier.
const mergeWidth = 3

// newMapping is the explicit mapping: keywords for ids, brand, category,
// status and price bucket, English text for title, description and brand,
// numbers for prices, rating and creation time (Unix milliseconds). Nothing
// is mapped dynamically and there is no _all field.
func newMapping() mapping.IndexMapping {
	// Doc values only where a facet or a sort reads them: filters use the
	// inverted index, and every doc value costs index size and merge time.
	kw := func(docValues bool) *mapping.FieldMapping {
		f := bleve.NewKeywordFieldMapping()
		f.Analyzer = keyword.Name
		f.IncludeInAll = false
		f.IncludeTermVectors = false
		f.DocValues = docValues
		return f
	}
	text := func(name string) *mapping.FieldMapping {
		f := bleve.NewTextFieldMapping()
		f.Name = name
		f.Analyzer = en.AnalyzerName
		f.IncludeInAll = false
		f.Store = false
		f.DocValues = false
		return f
	}
	num := func() *mapping.FieldMapping {
		f := bleve.NewNumericFieldMapping()
		f.IncludeInAll = false
		f.Store = false
		return f
	}
	doc := bleve.NewDocumentStaticMapping()
	doc.AddFieldMappingsAt(fTitle, text(fTitle))
	doc.AddFieldMappingsAt(fDescription, text(fDescription))
	brand := kw(true)
	brand.Name = fBrand
	doc.AddFieldMappingsAt(fBrand, brand, text(fBrandText))
	doc.AddFieldMappingsAt(fVendor, kw(false))
	doc.AddFieldMappingsAt(fCategory, kw(true))
	doc.AddFieldMappingsAt(fStatus, kw(false))
	doc.AddFieldMappingsAt(fPriceBucket, kw(true))
	doc.AddFieldMappingsAt(fPriceMin, num())
	doc.AddFieldMappingsAt(fRating, num())
	doc.AddFieldMappingsAt(fRatingCount, num())
	doc.AddFieldMappingsAt(fCreatedAt, num())
	inStock := bleve.NewBooleanFieldMapping()
	inStock.IncludeInAll = false
	inStock.DocValues = false
	doc.AddFieldMappingsAt(fInStock, inStock)
	source := bleve.NewTextFieldMapping()
	source.Index = false
	source.Store = true
	source.IncludeInAll = false
	source.IncludeTermVectors = false
	source.DocValues = false
	doc.AddFieldMappingsAt(fSource, source)
	// No field goes to _all, so the composite field would be empty; not
	// building it saves a pass over the fields of every document.
	doc.AddSubDocumentMapping("_all", bleve.NewDocumentDisabledMapping())

	m := bleve.NewIndexMapping()
	m.DefaultMapping = doc
	m.DefaultAnalyzer = en.AnalyzerName
	m.StoreDynamic = false
	m.IndexDynamic = false
	m.DocValuesDynamic = false
	return m
}

// Indexing options of the document fields. Upsert builds documents itself
// rather than through the mapping so that it can choose options the mapping
// cannot express: the facet fields keep their doc values one document per
// chunk, uncompressed (zapx supports the one only with the other). A facet
// then reads a hit's values directly, where the default chunks of 1,024
// documents cost a header decode and a snappy decompression per chunk and
// field touched: at 100,000 products, with hits spread over the whole index,
// that was the largest cost of a search. Sort fields keep the default,
// compact chunks, since the hits of a browse, which sorts, are dense; but
// PriceMin, which a text search's price filter reads hit by hit, is stored
// as a facet field is. The mapping declares the same fields, so that
// queries analyse and find them.
const (
	optText   = index.IndexField
	optFilter = index.IndexField
	optSort   = index.IndexField | index.DocValues
	optFacet  = index.IndexField | index.DocValues | index.SkipDVChunking | index.SkipDVCompression
	// optPrice is a sort field that a text search's price filter also
	// reads hit by hit (see priceFilter), from hits as sparse as a facet's.
	optPrice  = optFacet
	optSource = index.StoreField
)

// document is what bleve indexes for a product.
func (x *Index) document(p search.Product) (*document.Document, error) {
	src, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	doc := document.NewDocument(p.ID)
	text := func(name, value string) {
		doc.AddField(document.NewTextFieldCustom(name, nil, []byte(value), optText, x.english))
	}
	keyword := func(name, value string, opts index.FieldIndexingOptions) {
		// An empty value is no value: it would be a facet entry no shopper
		// can pick.
		if value != "" {
			doc.AddField(document.NewTextFieldCustom(name, nil, []byte(value), opts, x.keyword))
		}
	}
	number := func(name string, value float64, opts index.FieldIndexingOptions) {
		doc.AddField(document.NewNumericFieldWithIndexingOptions(name, nil, value, opts))
	}
	text(fTitle, p.Title)
	text(fDescription, p.Description)
	text(fBrandText, p.Brand)
	keyword(fBrand, p.Brand, optFacet)
	keyword(fCategory, p.CategoryID, optFacet)
	keyword(fPriceBucket, strconv.Itoa(search.PriceBucketOf(p.PriceMin)), optFacet)
	keyword(fVendor, p.VendorID, optFilter)
	keyword(fStatus, p.Status, optFilter)
	number(fPriceMin, float64(p.PriceMin), optPrice)
	number(fRating, p.Rating, optSort)
	number(fRatingCount, float64(p.RatingCount), optSort)
	number(fCreatedAt, float64(p.CreatedAt.UnixMilli()), optSort)
	doc.AddField(document.NewBooleanFieldWithIndexingOptions(fInStock, nil, p.InStock, optFilter))
	doc.AddField(document.NewTextFieldWithIndexingOptions(fSource, nil, src, optSource))
	return doc, nil
}

// Upsert writes products in one bleve batch, skipping any whose version is
// not higher than the indexed one, as Elasticsearch's external versioning does.
func (x *Index) Upsert(ctx context.Context, products ...search.Product) error {
	const op = "bleveindex.Upsert"
	if len(products) == 0 {
		return nil
	}
	latest := make(map[string]search.Product, len(products))
	for _, p := range products {
		if p.ID == "" {
			return &emporium.Error{Code: emporium.EINVALID, Op: op, Message: "A product to index has no id."}
		}
		// Within one call the highest version wins, as it would over calls.
		if old, ok := latest[p.ID]; !ok || p.Version >= old.Version {
			latest[p.ID] = p
		}
	}
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	stored, err := x.versions(ctx, latest)
	if err != nil {
		return emporium.Wrap(op, err)
	}
	batch := x.idx.NewBatch()
	for id, p := range latest {
		if v, ok := stored[id]; ok && p.Version <= v {
			continue
		}
		doc, err := x.document(p)
		if err != nil {
			return emporium.Wrap(op, fmt.Errorf("encode product %s: %w", id, err))
		}
		if err := batch.IndexAdvanced(doc); err != nil {
			return emporium.Wrap(op, fmt.Errorf("index product %s: %w", id, err))
		}
	}
	if batch.Size() == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return emporium.Wrap(op, err)
	}
	if err := x.idx.Batch(batch); err != nil {
		return backendError(op, fmt.Errorf("write batch of %d: %w", batch.Size(), err))
	}
	return nil
}

// versions reads the indexed versions of the given products in one search.
func (x *Index) versions(ctx context.Context, products map[string]search.Product) (map[string]uint64, error) {
	ids := make([]string, 0, len(products))
	for id := range products {
		ids = append(ids, id)
	}
	req := bleve.NewSearchRequestOptions(bleve.NewDocIDQuery(ids), len(ids), 0, false)
	req.Fields = []string{fSource}
	req.Score = "none"
	res, err := x.idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, backendError("bleveindex.versions", fmt.Errorf("read stored versions: %w", err))
	}
	out := make(map[string]uint64, len(res.Hits))
	for _, h := range res.Hits {
		p, err := sourceOf(h)
		if err != nil {
			return nil, err
		}
		out[h.ID] = p.Version
	}
	return out, nil
}

// Delete removes products in one batch.
func (x *Index) Delete(ctx context.Context, ids ...string) error {
	const op = "bleveindex.Delete"
	if len(ids) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return emporium.Wrap(op, err)
	}
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	batch := x.idx.NewBatch()
	for _, id := range ids {
		batch.Delete(id)
	}
	if err := x.idx.Batch(batch); err != nil {
		return backendError(op, fmt.Errorf("delete %d products: %w", len(ids), err))
	}
	return nil
}

// Close closes the index.
func (x *Index) Close() error {
	if err := x.idx.Close(); err != nil {
		return emporium.Wrap("bleveindex.Close", err)
	}
	return nil
}

// Merging reports whether the index is merging segments in the background
// right now. A bulk load leaves many small segments that bleve merges for a
// while afterwards, taking CPU from searches; benchmarks wait for it.
func (x *Index) Merging() bool {
	stats, _ := x.idx.StatsMap()["index"].(map[string]interface{})
	beg, _ := stats["TotFileMergeLoopBeg"].(uint64)
	end, _ := stats["TotFileMergeLoopEnd"].(uint64)
	return beg != end
}

// backendError classifies a bleve failure: a closed index cannot answer now
// but a reopened one will, so it is EUNAVAILABLE; anything else is internal.
func backendError(op string, err error) error {
	if errors.Is(err, bleve.ErrorIndexClosed) {
		return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Message: "The search index is closed.", Err: err}
	}
	return emporium.Wrap(op, err)
}

// feedCursorKey is the key of the index's internal storage under which
// SaveFeedCursor keeps the feed position: beside the documents, so that an
// index removed to be rebuilt takes its position with it.
var feedCursorKey = []byte("emporium.feed_cursor")

// LoadFeedCursor implements search.FeedCursors: the feed position this
// index was last saved at; found is false for an index that never was.
func (x *Index) LoadFeedCursor(context.Context) (cursor uint64, found bool, err error) {
	raw, err := x.idx.GetInternal(feedCursorKey)
	if err != nil {
		return 0, false, backendError("bleveindex.LoadFeedCursor", err)
	}
	if len(raw) == 0 {
		return 0, false, nil
	}
	if len(raw) != 8 {
		return 0, false, &emporium.Error{Code: emporium.EINTERNAL, Op: "bleveindex.LoadFeedCursor", Message: fmt.Sprintf("the stored feed cursor has %d bytes, not 8", len(raw))}
	}
	return binary.BigEndian.Uint64(raw), true, nil
}

// SaveFeedCursor implements search.FeedCursors.
func (x *Index) SaveFeedCursor(_ context.Context, cursor uint64) error {
	if err := x.idx.SetInternal(feedCursorKey, binary.BigEndian.AppendUint64(nil, cursor)); err != nil {
		return backendError("bleveindex.SaveFeedCursor", err)
	}
	return nil
}

var _ search.FeedCursors = (*Index)(nil)
