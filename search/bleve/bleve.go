// Package bleveindex is the embedded search backend: a bleve index on local
// disk, the default when no Elasticsearch is configured (DESIGN §6).
//
// Its folder is search/bleve, as DESIGN §3 lays the backends out; the package
// is named bleveindex so that it does not shadow the bleve library it wraps,
// which its files import as bleve.
package bleveindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"sync"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/numeric"
	bsearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
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

// Search answers one page of q.
func (x *Index) Search(ctx context.Context, q search.Query) (search.Result, error) {
	const op = "bleveindex.Search"
	plan, err := search.Prepare(q)
	if err != nil {
		return search.Result{}, err
	}
	req := x.buildRequest(plan)
	res, err := x.idx.SearchInContext(ctx, req)
	if err != nil {
		return search.Result{}, backendError(op, err)
	}
	out := search.Result{Total: int(res.Total)}
	hits := res.Hits
	more := len(hits) > plan.Limit
	if more {
		hits = hits[:plan.Limit]
	}
	out.Hits = make([]search.Hit, 0, len(hits))
	for _, h := range hits {
		p, err := sourceOf(h)
		if err != nil {
			return search.Result{}, emporium.Wrap(op, err)
		}
		hit := search.Hit{ID: h.ID, Product: p}
		if plan.Sort == search.SortRelevance {
			hit.Score = h.Score
		}
		out.Hits = append(out.Hits, hit)
	}
	if more {
		last := out.Hits[len(out.Hits)-1]
		out.NextCursor = search.EncodeCursor(plan.Sort, search.SortValues(plan.Sort, last.Product, last.Score), last.ID)
	}
	if plan.Facets {
		out.Facets = facets(res.Facets)
	}
	return out, nil
}

// buildRequest translates a plan into a bleve search request. It asks for one
// hit more than the page so that the last page is known without a cursor
// that leads nowhere.
func (x *Index) buildRequest(plan search.Plan) *bleve.SearchRequest {
	words := x.textQueries(plan.Words)
	filters := plan.Query
	priced := len(words) > 0 && (plan.MinPrice != nil || plan.MaxPrice != nil)
	if priced {
		// The words narrow the matches: their prices are checked one by
		// one (priceFilter) rather than by a range query.
		filters.MinPrice, filters.MaxPrice = nil, nil
	}
	// There is always a filter: the statuses. It restricts without scoring,
	// so relevance depends only on the text.
	var q query.Query = unscored{bleve.NewConjunctionQuery(filterQueries(filters)...)}
	if len(words) > 0 {
		// One conjunction of every word and the filters: bleve's
		// conjunction leapfrogs from its rarest clause, so the rarest word
		// or a selective filter skips most matches of the others instead
		// of scoring every one of them and then testing it.
		q = bleve.NewConjunctionQuery(append(words, q)...)
	}
	if priced {
		q = priceFilter{Query: q, min: plan.MinPrice, max: plan.MaxPrice}
	}
	req := bleve.NewSearchRequestOptions(q, plan.Limit+1, 0, false)
	req.Fields = []string{fSource}
	if plan.Sort != search.SortRelevance {
		req.Score = "none"
	}
	req.SortByCustom(sortOrder(plan.Sort))
	if plan.After != nil {
		after := make([]string, 0, len(plan.After.Values)+1)
		for _, v := range plan.After.Values {
			after = append(after, strconv.FormatFloat(v, 'g', -1, 64))
		}
		req.SearchAfter = append(after, plan.After.ID)
	}
	if plan.Facets {
		req.AddFacet("brand", bleve.NewFacetRequest(fBrand, search.FacetSize))
		req.AddFacet("category", bleve.NewFacetRequest(fCategory, search.FacetSize))
		req.AddFacet("price", bleve.NewFacetRequest(fPriceBucket, len(search.PriceBuckets())))
	}
	return req
}

// unscored runs a query as a filter: its searcher neither scores nor reads
// frequencies or norms, so bleve answers term filters and disjunctions of
// terms from their postings bitmaps alone (its "unadorned" optimisations) and
// the filter adds nothing to a hit's score.
type unscored struct{ query.Query }

// Searcher returns the wrapped query's searcher with scoring off.
func (u unscored) Searcher(ctx context.Context, i index.IndexReader, m mapping.IndexMapping, options bsearch.SearcherOptions) (bsearch.Searcher, error) {
	options.Score = "none"
	options.IncludeTermVectors = false
	options.Explain = false
	return u.Query.Searcher(ctx, i, m, options)
}

// priceFilter keeps the matches of a text query whose PriceMin lies in
// [min, max], reading each match's price from the doc values. A numeric
// range query would instead OR the postings of every prefix-coded term in
// the range, bitmaps of tens of thousands of products at 100,000, to then
// intersect them with the few hundred products that match every word: the
// largest cost of a text search with a price range. A browse has no words to
// narrow it, so it keeps the range query (see filterQueries).
type priceFilter struct {
	query.Query
	min, max *int64
}

// Searcher returns the wrapped query's searcher, filtered by price.
func (p priceFilter) Searcher(ctx context.Context, i index.IndexReader, m mapping.IndexMapping, options bsearch.SearcherOptions) (bsearch.Searcher, error) {
	s, err := p.Query.Searcher(ctx, i, m, options)
	if err != nil {
		return nil, err
	}
	dv, err := i.DocValueReader([]string{fPriceMin})
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	c := &priceCheck{lo: math.Inf(-1), hi: math.Inf(1)}
	if p.min != nil {
		c.lo = float64(*p.min)
	}
	if p.max != nil {
		c.hi = float64(*p.max)
	}
	// One visitor for all the matches of the search, which bleve checks
	// one after the other: a closure per match would be an allocation per
	// match.
	visit := c.visit
	return searcher.NewFilteringSearcher(ctx, s, func(_ *bsearch.SearchContext, d *bsearch.DocumentMatch) bool {
		c.in = false
		// A match whose price cannot be read is left out, as a range
		// query leaves out a product without the field.
		return dv.VisitDocValues(d.IndexInternalID, visit) == nil && c.in
	}), nil
}

// priceCheck tells whether the doc values of one match hold a price in
// [lo, hi].
type priceCheck struct {
	lo, hi float64
	in     bool
}

// visit reads one doc value term of fPriceMin. The doc values hold the
// number at every precision; only the full-precision term (shift 0) is the
// price.
func (c *priceCheck) visit(_ string, term []byte) {
	if ok, shift := numeric.ValidPrefixCodedTermBytes(term); !ok || shift != 0 {
		return
	}
	if v, err := numeric.PrefixCoded(term).Int64(); err == nil {
		price := numeric.Int64ToFloat64(v)
		c.in = c.in || (price >= c.lo && price <= c.hi)
	}
}

// textQueries returns one query per word, each matching the word in title,
// brand or description; a word of search.MinFuzzyLength letters or more also
// matches with one typo after its first search.FuzzyPrefixLength letters. A
// word the English analyzer drops (a stop word) gets no query: the index
// holds no stop words, so requiring one would match nothing, and
// Elasticsearch's zero_terms_query "all" ignores it the same way. A fuzzy
// word's terms come from the index's fuzzyCache (see fuzzyMatch); an exact
// word is bleve's match query.
func (x *Index) textQueries(words []search.Word) []query.Query {
	out := make([]query.Query, 0, len(words))
	for _, w := range words {
		stream := x.english.Analyze([]byte(w.Text))
		if len(stream) == 0 {
			continue
		}
		tokens := make([]string, 0, len(stream))
		for _, t := range stream {
			tokens = append(tokens, string(t.Term))
		}
		fields := make([]query.Query, 0, 3)
		for _, f := range []struct {
			name  string
			boost float64
		}{{fTitle, boostTitle}, {fBrandText, boostBrand}, {fDescription, boostDescription}} {
			if w.Fuzziness > 0 {
				fields = append(fields, x.fuzzyMatch(tokens, f.name, w.Fuzziness, search.FuzzyPrefixLength, f.boost))
				continue
			}
			m := bleve.NewMatchQuery(w.Text)
			m.SetField(f.name)
			m.SetBoost(f.boost)
			fields = append(fields, m)
		}
		out = append(out, bleve.NewDisjunctionQuery(fields...))
	}
	return out
}

// filterQueries returns one query per filter of q.
func filterQueries(q search.Query) []query.Query {
	var out []query.Query
	term := func(field, value string) query.Query {
		t := bleve.NewTermQuery(value)
		t.SetField(field)
		return t
	}
	anyOf := func(field string, values []string) query.Query {
		if len(values) == 1 {
			return term(field, values[0])
		}
		terms := make([]query.Query, 0, len(values))
		for _, v := range values {
			terms = append(terms, term(field, v))
		}
		return bleve.NewDisjunctionQuery(terms...)
	}
	if len(q.Statuses) > 0 {
		out = append(out, anyOf(fStatus, q.Statuses))
	}
	if len(q.Categories) > 0 {
		out = append(out, anyOf(fCategory, q.Categories))
	}
	if len(q.Brands) > 0 {
		out = append(out, anyOf(fBrand, q.Brands))
	}
	if q.Vendor != "" {
		out = append(out, term(fVendor, q.Vendor))
	}
	if q.MinPrice != nil || q.MaxPrice != nil {
		var lo, hi *float64
		if q.MinPrice != nil {
			v := float64(*q.MinPrice)
			lo = &v
		}
		if q.MaxPrice != nil {
			v := float64(*q.MaxPrice)
			hi = &v
		}
		yes := true
		r := bleve.NewNumericRangeInclusiveQuery(lo, hi, &yes, &yes)
		r.SetField(fPriceMin)
		out = append(out, r)
	}
	if q.InStock != nil {
		b := bleve.NewBoolFieldQuery(*q.InStock)
		b.SetField(fInStock)
		out = append(out, b)
	}
	if q.MinRating != nil {
		yes := true
		lo := *q.MinRating
		r := bleve.NewNumericRangeInclusiveQuery(&lo, nil, &yes, nil)
		r.SetField(fRating)
		out = append(out, r)
	}
	return out
}

// sortOrder is the bleve sort of each order, ending with the document id.
func sortOrder(s search.Sort) bsearch.SortOrder {
	num := func(field string, desc bool) bsearch.SearchSort {
		return &bsearch.SortField{Field: field, Desc: desc, Type: bsearch.SortFieldAsNumber, Mode: bsearch.SortFieldDefault, Missing: bsearch.SortFieldMissingLast}
	}
	id := &bsearch.SortDocID{}
	switch s {
	case search.SortRelevance:
		return bsearch.SortOrder{&bsearch.SortScore{Desc: true}, id}
	case search.SortNewest:
		return bsearch.SortOrder{num(fCreatedAt, true), id}
	case search.SortPriceAsc:
		return bsearch.SortOrder{num(fPriceMin, false), id}
	case search.SortPriceDesc:
		return bsearch.SortOrder{num(fPriceMin, true), id}
	default:
		return bsearch.SortOrder{num(fRating, true), num(fRatingCount, true), id}
	}
}

// facets converts bleve's facet results.
func facets(res bsearch.FacetResults) search.Facets {
	terms := func(name string) []search.FacetValue {
		fr, ok := res[name]
		if !ok || fr.Terms == nil {
			return []search.FacetValue{}
		}
		out := make([]search.FacetValue, 0, len(fr.Terms.Terms()))
		for _, t := range fr.Terms.Terms() {
			out = append(out, search.FacetValue{Value: t.Term, Count: t.Count})
		}
		search.SortFacetValues(out)
		return out
	}
	out := search.Facets{Brand: terms("brand"), Category: terms("category"), Price: search.PriceBuckets()}
	if fr, ok := res["price"]; ok && fr.Terms != nil {
		for _, t := range fr.Terms.Terms() {
			if i, err := strconv.Atoi(t.Term); err == nil && i >= 0 && i < len(out.Price) {
				out.Price[i].Count = t.Count
			}
		}
	}
	return out
}

// sourceOf decodes the product stored with a hit.
func sourceOf(h *bsearch.DocumentMatch) (search.Product, error) {
	raw, ok := h.Fields[fSource].(string)
	if !ok {
		return search.Product{}, fmt.Errorf("product %s has no stored source", h.ID)
	}
	var p search.Product
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return search.Product{}, fmt.Errorf("decode stored product %s: %w", h.ID, err)
	}
	return p, nil
}

// backendError classifies a bleve failure: a closed index cannot answer now
// but a reopened one will, so it is EUNAVAILABLE; anything else is internal.
func backendError(op string, err error) error {
	if errors.Is(err, bleve.ErrorIndexClosed) {
		return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Message: "The search index is closed.", Err: err}
	}
	return emporium.Wrap(op, err)
}
