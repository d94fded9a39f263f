package bleveindex

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/numeric"
	bsearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/search"
)

// Searching: a search.Plan becomes a bleve request of text queries, filters,
// a sort and facets, and its hits become search.Products.

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
