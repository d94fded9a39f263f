// Package bleveindex is the embedded search backend: a bleve index on local
// disk, the default when no Elasticsearch is configured (DESIGN §6).
package bleveindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/mapping"
	bsearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"

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
	fInStock     = "in_stock"
	fRating      = "rating"
	fRatingCount = "rating_count"
	fCreatedAt   = "created_at"
	fVersion     = "version"
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
	// writeMu serialises Upsert and Delete so that the version read before a
	// batch is still current when the batch is written.
	writeMu sync.Mutex
}

var _ search.Index = (*Index)(nil)

// Open opens the index in dir, creating it with Emporium's mapping when the
// directory holds none.
func Open(dir string) (*Index, error) {
	const op = "bleveindex.Open"
	idx, err := bleve.Open(dir)
	if errors.Is(err, bleve.ErrorIndexPathDoesNotExist) || errors.Is(err, bleve.ErrorIndexMetaMissing) {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, emporium.Wrap(op, fmt.Errorf("create %s: %w", dir, err))
		}
		// bleve.New wants to create the directory itself.
		_ = os.Remove(dir)
		idx, err = bleve.New(dir, newMapping())
	}
	if err != nil {
		return nil, emporium.Wrap(op, fmt.Errorf("open bleve index %s: %w", dir, err))
	}
	return &Index{idx: idx}, nil
}

// newMapping is the explicit mapping: keywords for ids, brand, category and
// status, English text for title, description and brand, numbers for prices,
// rating and creation time (Unix milliseconds). Nothing is mapped dynamically
// and nothing goes to the _all field.
func newMapping() mapping.IndexMapping {
	kw := func() *mapping.FieldMapping {
		f := bleve.NewKeywordFieldMapping()
		f.Analyzer = keyword.Name
		f.IncludeInAll = false
		f.IncludeTermVectors = false
		f.DocValues = true
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
	num := func(store bool) *mapping.FieldMapping {
		f := bleve.NewNumericFieldMapping()
		f.IncludeInAll = false
		f.Store = store
		return f
	}
	doc := bleve.NewDocumentStaticMapping()
	doc.AddFieldMappingsAt(fTitle, text(fTitle))
	doc.AddFieldMappingsAt(fDescription, text(fDescription))
	brand := kw()
	brand.Name = fBrand
	doc.AddFieldMappingsAt(fBrand, brand, text(fBrandText))
	doc.AddFieldMappingsAt(fVendor, kw())
	doc.AddFieldMappingsAt(fCategory, kw())
	doc.AddFieldMappingsAt(fStatus, kw())
	doc.AddFieldMappingsAt(fPriceMin, num(false))
	doc.AddFieldMappingsAt(fRating, num(false))
	doc.AddFieldMappingsAt(fRatingCount, num(false))
	doc.AddFieldMappingsAt(fCreatedAt, num(false))
	doc.AddFieldMappingsAt(fVersion, num(true))
	inStock := bleve.NewBooleanFieldMapping()
	inStock.IncludeInAll = false
	doc.AddFieldMappingsAt(fInStock, inStock)
	source := bleve.NewTextFieldMapping()
	source.Index = false
	source.Store = true
	source.IncludeInAll = false
	source.IncludeTermVectors = false
	source.DocValues = false
	doc.AddFieldMappingsAt(fSource, source)

	m := bleve.NewIndexMapping()
	m.DefaultMapping = doc
	m.DefaultAnalyzer = en.AnalyzerName
	m.StoreDynamic = false
	m.IndexDynamic = false
	m.DocValuesDynamic = false
	return m
}

// document is what bleve indexes for a product.
func document(p search.Product) (map[string]any, error) {
	src, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		fTitle:       p.Title,
		fDescription: p.Description,
		fBrand:       p.Brand,
		fVendor:      p.VendorID,
		fCategory:    p.CategoryID,
		fStatus:      p.Status,
		fPriceMin:    float64(p.PriceMin),
		fInStock:     p.InStock,
		fRating:      p.Rating,
		fRatingCount: float64(p.RatingCount),
		fCreatedAt:   float64(p.CreatedAt.UnixMilli()),
		fVersion:     float64(p.Version),
		fSource:      string(src),
	}, nil
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
		doc, err := document(p)
		if err != nil {
			return emporium.Wrap(op, fmt.Errorf("encode product %s: %w", id, err))
		}
		if err := batch.Index(id, doc); err != nil {
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

// Search answers one page of q.
func (x *Index) Search(ctx context.Context, q search.Query) (search.Result, error) {
	const op = "bleveindex.Search"
	plan, err := search.Prepare(q)
	if err != nil {
		return search.Result{}, err
	}
	req := buildRequest(plan)
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
func buildRequest(plan search.Plan) *bleve.SearchRequest {
	bq := bleve.NewBooleanQuery()
	if len(plan.Words) > 0 {
		bq.AddMust(textQuery(plan.Words))
	} else {
		bq.AddMust(bleve.NewMatchAllQuery())
	}
	if filters := filterQueries(plan.Query); len(filters) > 0 {
		// A filter restricts without scoring, so relevance depends only on
		// the text.
		bq.AddFilter(bleve.NewConjunctionQuery(filters...))
	}
	req := bleve.NewSearchRequestOptions(bq, plan.Limit+1, 0, false)
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
		price := bleve.NewFacetRequest(fPriceMin, len(search.PriceBuckets()))
		for i, b := range search.PriceBuckets() {
			lo := float64(b.Min)
			var hi *float64
			if b.Max != nil {
				v := float64(*b.Max)
				hi = &v
			}
			price.AddNumericRange(strconv.Itoa(i), &lo, hi)
		}
		req.AddFacet("price", price)
	}
	return req
}

// textQuery matches any word in title, brand or description; a word of
// search.MinFuzzyLength letters or more also matches with one typo.
func textQuery(words []search.Word) query.Query {
	perWord := make([]query.Query, 0, len(words))
	for _, w := range words {
		fields := make([]query.Query, 0, 3)
		for _, f := range []struct {
			name  string
			boost float64
		}{{fTitle, boostTitle}, {fBrandText, boostBrand}, {fDescription, boostDescription}} {
			m := bleve.NewMatchQuery(w.Text)
			m.SetField(f.name)
			m.SetFuzziness(w.Fuzziness)
			m.SetBoost(f.boost)
			fields = append(fields, m)
		}
		perWord = append(perWord, bleve.NewDisjunctionQuery(fields...))
	}
	if len(perWord) == 1 {
		return perWord[0]
	}
	return bleve.NewDisjunctionQuery(perWord...)
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
	if fr, ok := res["price"]; ok {
		for _, r := range fr.NumericRanges {
			if i, err := strconv.Atoi(r.Name); err == nil && i >= 0 && i < len(out.Price) {
				out.Price[i].Count = r.Count
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
