// Package elasticindex is the Elasticsearch backend of search.Index, built on
// olivere/elastic v7. It works with Elasticsearch 7.x, with 8.x through the
// REST API compatibility headers, and with OpenSearch when those headers are
// turned off (DESIGN §6).
//
// Its folder is search/elastic, as DESIGN §3 lays the backends out; the
// package is named elasticindex so that it does not shadow the olivere/elastic
// client it wraps, which its files import as elastic.
package elasticindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/olivere/elastic/v7"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/search"
)

// Media types of the Elasticsearch REST API compatibility mode: an 8.x
// server answers a 7.x client as 7.x would.
const (
	compatJSON   = "application/vnd.elasticsearch+json;compatible-with=7"
	compatNDJSON = "application/vnd.elasticsearch+x-ndjson;compatible-with=7"
)

// Config says where the index lives.
type Config struct {
	// URL is the base URL of one node or of a load balancer in front of the
	// cluster, for example http://localhost:9200.
	URL string
	// Index is the index name, for example "emporium-products".
	Index string
	// Username and Password are sent as basic authentication when set.
	Username, Password string
	// Refresh is passed to bulk writes: "" returns at once and the write is
	// searchable after the next refresh (1 s by default), "wait_for" returns
	// once it is searchable, "true" forces a refresh (tests only).
	Refresh string
	// DisableCompatHeaders stops sending the compatible-with=7 media types,
	// for servers that do not know them, such as OpenSearch.
	DisableCompatHeaders bool
	// HTTPClient is the client to use; nil means http.DefaultClient's
	// transport.
	HTTPClient *http.Client
}

// Index is a search.Index kept in one Elasticsearch index.
type Index struct {
	client *elastic.Client
	name   string
	cfg    Config
}

var _ search.Index = (*Index)(nil)

// Open connects to Elasticsearch and creates the index with Emporium's
// mapping unless it exists. Sniffing and the start-up health check are off so
// that a single URL behind a proxy or in a container works.
func Open(ctx context.Context, cfg Config) (*Index, error) {
	const op = "elasticindex.Open"
	if cfg.URL == "" || cfg.Index == "" {
		return nil, &emporium.Error{Code: emporium.EINVALID, Op: op, Message: "The Elasticsearch URL and index name are required."}
	}
	switch cfg.Refresh {
	case "", "true", "false", "wait_for":
	default:
		return nil, &emporium.Error{Code: emporium.EINVALID, Op: op, Message: fmt.Sprintf("Unknown refresh policy %q.", cfg.Refresh)}
	}
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
	}
	if !cfg.DisableCompatHeaders {
		hc.Transport = compatTransport{next: hc.Transport}
	}
	opts := []elastic.ClientOptionFunc{
		elastic.SetURL(cfg.URL),
		elastic.SetSniff(false),
		elastic.SetHealthcheck(false),
		elastic.SetHttpClient(hc),
	}
	if cfg.Username != "" {
		opts = append(opts, elastic.SetBasicAuth(cfg.Username, cfg.Password))
	}
	client, err := elastic.NewClient(opts...)
	if err != nil {
		return nil, classify(op, fmt.Errorf("connect to %s: %w", cfg.URL, err))
	}
	exists, err := client.IndexExists(cfg.Index).Do(ctx)
	if err != nil {
		return nil, classify(op, fmt.Errorf("check index %s: %w", cfg.Index, err))
	}
	if !exists {
		_, err := client.CreateIndex(cfg.Index).BodyJson(indexBody()).Do(ctx)
		if err != nil && !isAlreadyExists(err) {
			return nil, classify(op, fmt.Errorf("create index %s: %w", cfg.Index, err))
		}
	}
	return &Index{client: client, name: cfg.Index, cfg: cfg}, nil
}

// compatTransport sets the compatibility media types on every request. It
// replaces rather than adds the headers: olivere already sets a Content-Type,
// and elastic.SetHeaders would add a second value next to it.
type compatTransport struct{ next http.RoundTripper }

// RoundTrip sends r with the compatibility Accept and Content-Type headers.
func (t compatTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Accept", compatJSON)
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if strings.Contains(ct, "ndjson") {
			r.Header.Set("Content-Type", compatNDJSON)
		} else {
			r.Header.Set("Content-Type", compatJSON)
		}
	}
	next := t.next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}

// indexBody is the explicit mapping: keywords for ids, brand, category and
// status (filters and aggregations), English text for title, description and
// brand (search, with keyword subfields), numbers for prices, rating and
// counts, a date for the creation time, and the image fields kept in the
// source only (shown, never searched). Unknown fields are kept in the
// source but not indexed.
func indexBody() map[string]any {
	keyword := map[string]any{"type": "keyword"}
	stored := map[string]any{"type": "keyword", "index": false, "doc_values": false}
	return map[string]any{
		"mappings": map[string]any{
			"dynamic": false,
			"properties": map[string]any{
				"id":        keyword,
				"vendor_id": keyword,
				"title": map[string]any{
					"type": "text", "analyzer": "english",
					"fields": map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": 256}},
				},
				"description": map[string]any{"type": "text", "analyzer": "english"},
				"brand": map[string]any{
					"type":   "keyword",
					"fields": map[string]any{"text": map[string]any{"type": "text", "analyzer": "english"}},
				},
				"category_id":  keyword,
				"status":       keyword,
				"image_url":    stored,
				"image_alt":    stored,
				"price_min":    map[string]any{"type": "long"},
				"price_max":    map[string]any{"type": "long"},
				"currency":     keyword,
				"in_stock":     map[string]any{"type": "boolean"},
				"rating":       map[string]any{"type": "double"},
				"rating_count": map[string]any{"type": "integer"},
				"created_at":   map[string]any{"type": "date"},
				"version":      map[string]any{"type": "long", "index": false},
			},
		},
	}
}

// Upsert bulk-indexes products with external versioning: Elasticsearch keeps
// a document only if its version is higher than the stored one, so a replay
// from the outbox is refused by the server, and that refusal is success.
func (x *Index) Upsert(ctx context.Context, products ...search.Product) error {
	const op = "elasticindex.Upsert"
	if len(products) == 0 {
		return nil
	}
	bulk := x.client.Bulk().Index(x.name)
	if x.cfg.Refresh != "" {
		bulk = bulk.Refresh(x.cfg.Refresh)
	}
	for _, p := range products {
		if p.ID == "" {
			return &emporium.Error{Code: emporium.EINVALID, Op: op, Message: "A product to index has no id."}
		}
		bulk.Add(elastic.NewBulkIndexRequest().Id(p.ID).VersionType("external").Version(int64(p.Version)).Doc(p))
	}
	return x.doBulk(ctx, op, bulk, http.StatusConflict)
}

// Delete bulk-deletes products; a product that is not there is gone already.
func (x *Index) Delete(ctx context.Context, ids ...string) error {
	const op = "elasticindex.Delete"
	if len(ids) == 0 {
		return nil
	}
	bulk := x.client.Bulk().Index(x.name)
	if x.cfg.Refresh != "" {
		bulk = bulk.Refresh(x.cfg.Refresh)
	}
	for _, id := range ids {
		bulk.Add(elastic.NewBulkDeleteRequest().Id(id))
	}
	return x.doBulk(ctx, op, bulk, http.StatusNotFound)
}

// doBulk runs a bulk request and fails on any item that failed with another
// status than ok, the one status that means the item is already as wanted.
func (x *Index) doBulk(ctx context.Context, op string, bulk *elastic.BulkService, ok int) error {
	res, err := bulk.Do(ctx)
	if err != nil {
		return classify(op, fmt.Errorf("bulk request to %s: %w", x.name, err))
	}
	var failed []string
	busy := false
	for _, item := range res.Items {
		for _, r := range item {
			if r.Status < 300 || r.Status == ok {
				continue
			}
			busy = busy || r.Status == http.StatusTooManyRequests || r.Status >= 500
			reason := ""
			if r.Error != nil {
				reason = r.Error.Type + ": " + r.Error.Reason
			}
			failed = append(failed, fmt.Sprintf("%s (%d %s)", r.Id, r.Status, reason))
		}
	}
	if len(failed) == 0 {
		return nil
	}
	err = fmt.Errorf("bulk request to %s: %d items failed: %s", x.name, len(failed), strings.Join(failed, "; "))
	if busy {
		return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Message: "The search index is busy.", Err: err}
	}
	return emporium.Wrap(op, err)
}

// Close stops the client; the index stays on the server.
func (x *Index) Close() error {
	x.client.Stop()
	return nil
}

// Search answers one page of q.
func (x *Index) Search(ctx context.Context, q search.Query) (search.Result, error) {
	const op = "elasticindex.Search"
	plan, err := search.Prepare(q)
	if err != nil {
		return search.Result{}, err
	}
	res, err := x.client.Search(x.name).SearchSource(buildSource(plan)).Do(ctx)
	if err != nil {
		return search.Result{}, classify(op, fmt.Errorf("search %s: %w", x.name, err))
	}
	out, err := parseResult(plan, res)
	if err != nil {
		return search.Result{}, emporium.Wrap(op, err)
	}
	return out, nil
}

// parseResult turns a search response into a page.
func parseResult(plan search.Plan, res *elastic.SearchResult) (search.Result, error) {
	out := search.Result{Hits: []search.Hit{}}
	if res.Hits == nil {
		return out, errors.New("the response has no hits section")
	}
	if res.Hits.TotalHits != nil {
		out.Total = int(res.Hits.TotalHits.Value)
	}
	hits := res.Hits.Hits
	more := len(hits) > plan.Limit
	if more {
		hits = hits[:plan.Limit]
	}
	for _, h := range hits {
		var p search.Product
		if err := json.Unmarshal(h.Source, &p); err != nil {
			return out, fmt.Errorf("decode product %s: %w", h.Id, err)
		}
		hit := search.Hit{ID: h.Id, Product: p}
		if plan.Sort == search.SortRelevance && h.Score != nil {
			hit.Score = *h.Score
		}
		out.Hits = append(out.Hits, hit)
	}
	if more {
		last := out.Hits[len(out.Hits)-1]
		out.NextCursor = search.EncodeCursor(plan.Sort, search.SortValues(plan.Sort, last.Product, last.Score), last.ID)
	}
	if plan.Facets {
		f, err := parseFacets(res.Aggregations)
		if err != nil {
			return out, err
		}
		out.Facets = f
	}
	return out, nil
}

func parseFacets(aggs elastic.Aggregations) (search.Facets, error) {
	f := search.Facets{Price: search.PriceBuckets()}
	terms := func(name string) ([]search.FacetValue, error) {
		agg, ok := aggs.Terms(name)
		if !ok {
			return nil, fmt.Errorf("the response has no %s aggregation", name)
		}
		out := make([]search.FacetValue, 0, len(agg.Buckets))
		for _, b := range agg.Buckets {
			out = append(out, search.FacetValue{Value: fmt.Sprint(b.Key), Count: int(b.DocCount)})
		}
		search.SortFacetValues(out)
		return out, nil
	}
	var err error
	if f.Brand, err = terms("brand"); err != nil {
		return f, err
	}
	if f.Category, err = terms("category"); err != nil {
		return f, err
	}
	price, ok := aggs.Range("price")
	if !ok || len(price.Buckets) != len(f.Price) {
		return f, errors.New("the response has no complete price aggregation")
	}
	for i, b := range price.Buckets {
		f.Price[i].Count = int(b.DocCount)
	}
	return f, nil
}

// buildSource translates a plan into the search request body. It asks for
// one hit more than the page so that the last page is known.
func buildSource(plan search.Plan) *elastic.SearchSource {
	bq := elastic.NewBoolQuery()
	if len(plan.Words) > 0 {
		// Every word must match: a bool query's musts, which also add up
		// the words' scores.
		bq.Must(textQueries(plan.Words)...)
	}
	if filters := filterQueries(plan.Query); len(filters) > 0 {
		bq.Filter(filters...)
	}
	src := elastic.NewSearchSource().Query(bq).Size(plan.Limit + 1).TrackTotalHits(true).SortBy(sorters(plan.Sort)...)
	if plan.After != nil {
		src.SearchAfter(afterValues(plan.Sort, plan.After)...)
	}
	if plan.Facets {
		src.Aggregation("brand", elastic.NewTermsAggregation().Field("brand").Size(search.FacetSize))
		src.Aggregation("category", elastic.NewTermsAggregation().Field("category_id").Size(search.FacetSize))
		// olivere names the open side: AddUnboundedFrom(to) has no lower
		// bound, AddUnboundedTo(from) no upper bound.
		price := elastic.NewRangeAggregation().Field("price_min")
		for _, b := range search.PriceBuckets() {
			switch {
			case b.Min == 0 && b.Max != nil:
				price.AddUnboundedFrom(*b.Max)
			case b.Max == nil:
				price.AddUnboundedTo(b.Min)
			default:
				price.AddRange(b.Min, *b.Max)
			}
		}
		src.Aggregation("price", price)
	}
	return src
}

// textQueries returns one multi_match per word, all of which a product must
// match: each word in title, brand or description, with the fuzziness
// search.Words chose for it; the same rule as bleve, so both tolerate the
// same typos. A word the analyzer drops (a stop word) matches every product
// (zero_terms_query "all") rather than none, as bleve ignores it.
func textQueries(words []search.Word) []elastic.Query {
	perWord := make([]elastic.Query, 0, len(words))
	for _, w := range words {
		m := elastic.NewMultiMatchQuery(w.Text, "title^3", "brand.text^2", "description").ZeroTermsQuery("all")
		if w.Fuzziness > 0 {
			m.Fuzziness(fmt.Sprint(w.Fuzziness)).PrefixLength(search.FuzzyPrefixLength)
		}
		perWord = append(perWord, m)
	}
	return perWord
}

// filterQueries returns one filter clause per filter of q.
func filterQueries(q search.Query) []elastic.Query {
	var out []elastic.Query
	anyOf := func(field string, values []string) elastic.Query {
		terms := make([]any, 0, len(values))
		for _, v := range values {
			terms = append(terms, v)
		}
		return elastic.NewTermsQuery(field, terms...)
	}
	if len(q.Statuses) > 0 {
		out = append(out, anyOf("status", q.Statuses))
	}
	if len(q.Categories) > 0 {
		out = append(out, anyOf("category_id", q.Categories))
	}
	if len(q.Brands) > 0 {
		out = append(out, anyOf("brand", q.Brands))
	}
	if q.Vendor != "" {
		out = append(out, elastic.NewTermQuery("vendor_id", q.Vendor))
	}
	if q.MinPrice != nil || q.MaxPrice != nil {
		r := elastic.NewRangeQuery("price_min")
		if q.MinPrice != nil {
			r.Gte(*q.MinPrice)
		}
		if q.MaxPrice != nil {
			r.Lte(*q.MaxPrice)
		}
		out = append(out, r)
	}
	if q.InStock != nil {
		out = append(out, elastic.NewTermQuery("in_stock", *q.InStock))
	}
	if q.MinRating != nil {
		out = append(out, elastic.NewRangeQuery("rating").Gte(*q.MinRating))
	}
	return out
}

// sorters is the sort of each order, ending with the id keyword (sorting on
// _id needs field data that Elasticsearch 8 disables).
func sorters(s search.Sort) []elastic.Sorter {
	id := elastic.NewFieldSort("id").Asc()
	switch s {
	case search.SortRelevance:
		return []elastic.Sorter{elastic.NewScoreSort().Desc(), id}
	case search.SortNewest:
		return []elastic.Sorter{elastic.NewFieldSort("created_at").Desc(), id}
	case search.SortPriceAsc:
		return []elastic.Sorter{elastic.NewFieldSort("price_min").Asc(), id}
	case search.SortPriceDesc:
		return []elastic.Sorter{elastic.NewFieldSort("price_min").Desc(), id}
	default:
		return []elastic.Sorter{elastic.NewFieldSort("rating").Desc(), elastic.NewFieldSort("rating_count").Desc(), id}
	}
}

// afterValues are the search_after values of a cursor, typed as the fields
// are: integers for longs and dates (epoch milliseconds), floats for scores
// and ratings.
func afterValues(s search.Sort, c *search.Cursor) []any {
	out := make([]any, 0, len(c.Values)+1)
	switch s {
	case search.SortRelevance:
		out = append(out, c.Values[0])
	case search.SortRating:
		out = append(out, c.Values[0], int64(c.Values[1]))
	default:
		out = append(out, int64(c.Values[0]))
	}
	return append(out, c.ID)
}

// classify maps a client error: an unreachable, overloaded or failing server
// (or a cancelled call) is EUNAVAILABLE, since asking again may work; a
// rejected request is our bug, EINTERNAL.
func classify(op string, err error) error {
	var ee *elastic.Error
	switch {
	case elastic.IsConnErr(err), errors.Is(err, elastic.ErrNoClient), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Message: "The search service is unavailable.", Err: err}
	case errors.As(err, &ee) && (ee.Status == http.StatusTooManyRequests || ee.Status >= 500 || ee.Status == http.StatusNotFound):
		// 404 means the index was deleted under us: a reindex brings it back.
		return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Message: "The search service is unavailable.", Err: err}
	}
	var ue interface{ Timeout() bool }
	if errors.As(err, &ue) {
		return &emporium.Error{Code: emporium.EUNAVAILABLE, Op: op, Message: "The search service is unavailable.", Err: err}
	}
	return emporium.Wrap(op, err)
}

// isAlreadyExists reports whether index creation failed because another node
// created the index first.
func isAlreadyExists(err error) bool {
	var ee *elastic.Error
	return errors.As(err, &ee) && ee.Details != nil && ee.Details.Type == "resource_already_exists_exception"
}
