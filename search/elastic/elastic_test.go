package elasticindex

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/search"
	"github.com/emporium-shop/emporium/search/searchtest"
)

// fields are the searched fields of a word's multi_match, and the rule that
// a word the analyzer drops (a stop word) matches every product.
const fields = `"fields":["title^3","brand.text^2","description"],"zero_terms_query":"all"`

// TestQueryJSON pins the request body the backend sends for each feature.
func TestQueryJSON(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	yes := true
	rating := 4.5
	newest := `"sort":[{"created_at":{"order":"desc"}},{"id":{"order":"asc"}}]`
	relevance := `"sort":[{"_score":{"order":"desc"}},{"id":{"order":"asc"}}]`
	active := `{"terms":{"status":["active"]}}`
	cases := map[string]struct {
		q    search.Query
		want string
	}{
		"fuzzy word": {search.Query{Text: "hedphones"},
			`{"query":{"bool":{"filter":` + active + `,"must":{"multi_match":{` + fields + `,"fuzziness":"1","prefix_length":1,"query":"hedphones"}}}},"size":21,` + relevance + `,"track_total_hits":true}`},
		"short word is exact": {search.Query{Text: "Lamp"},
			`{"query":{"bool":{"filter":` + active + `,"must":{"multi_match":{` + fields + `,"query":"lamp"}}}},"size":21,` + relevance + `,"track_total_hits":true}`},
		"several words": {search.Query{Text: "red hedphones"},
			`{"query":{"bool":{"filter":` + active + `,"must":[{"multi_match":{` + fields + `,"query":"red"}},{"multi_match":{` + fields + `,"fuzziness":"1","prefix_length":1,"query":"hedphones"}}]}},"size":21,` + relevance + `,"track_total_hits":true}`},
		"possessive is one word": {search.Query{Text: "Men's coat"},
			`{"query":{"bool":{"filter":` + active + `,"must":[{"multi_match":{` + fields + `,"query":"men's"}},{"multi_match":{` + fields + `,"query":"coat"}}]}},"size":21,` + relevance + `,"track_total_hits":true}`},
		"category": {search.Query{Categories: []string{"audio"}}, `{"query":{"bool":{"filter":[` + active + `,{"terms":{"category_id":["audio"]}}]}},"size":21,` + newest + `,"track_total_hits":true}`},
		"brands":   {search.Query{Brands: []string{"Acme", "Sonix"}}, `{"query":{"bool":{"filter":[` + active + `,{"terms":{"brand":["Acme","Sonix"]}}]}},"size":21,` + newest + `,"track_total_hits":true}`},
		"vendor":   {search.Query{Vendor: "v1"}, `{"query":{"bool":{"filter":[` + active + `,{"term":{"vendor_id":"v1"}}]}},"size":21,` + newest + `,"track_total_hits":true}`},
		"price": {search.Query{MinPrice: i64(1000), MaxPrice: i64(5000)},
			`{"query":{"bool":{"filter":[` + active + `,{"range":{"price_min":{"from":1000,"include_lower":true,"include_upper":true,"to":5000}}}]}},"size":21,` + newest + `,"track_total_hits":true}`},
		"min price only": {search.Query{MinPrice: i64(1000)},
			`{"query":{"bool":{"filter":[` + active + `,{"range":{"price_min":{"from":1000,"include_lower":true,"include_upper":true,"to":null}}}]}},"size":21,` + newest + `,"track_total_hits":true}`},
		"in stock": {search.Query{InStock: &yes}, `{"query":{"bool":{"filter":[` + active + `,{"term":{"in_stock":true}}]}},"size":21,` + newest + `,"track_total_hits":true}`},
		"min rating": {search.Query{MinRating: &rating},
			`{"query":{"bool":{"filter":[` + active + `,{"range":{"rating":{"from":4.5,"include_lower":true,"include_upper":true,"to":null}}}]}},"size":21,` + newest + `,"track_total_hits":true}`},
		"text and filters": {search.Query{Text: "lamp", Categories: []string{"kitchen", "lighting"}, InStock: &yes, Limit: 5},
			`{"query":{"bool":{"filter":[` + active + `,{"terms":{"category_id":["kitchen","lighting"]}},{"term":{"in_stock":true}}],"must":{"multi_match":{` + fields + `,"query":"lamp"}}}},"size":6,` + relevance + `,"track_total_hits":true}`},
		"price asc":                        {search.Query{Sort: search.SortPriceAsc}, `{"query":{"bool":{"filter":` + active + `}},"size":21,"sort":[{"price_min":{"order":"asc"}},{"id":{"order":"asc"}}],"track_total_hits":true}`},
		"price desc":                       {search.Query{Sort: search.SortPriceDesc}, `{"query":{"bool":{"filter":` + active + `}},"size":21,"sort":[{"price_min":{"order":"desc"}},{"id":{"order":"asc"}}],"track_total_hits":true}`},
		"rating":                           {search.Query{Sort: search.SortRating}, `{"query":{"bool":{"filter":` + active + `}},"size":21,"sort":[{"rating":{"order":"desc"}},{"rating_count":{"order":"desc"}},{"id":{"order":"asc"}}],"track_total_hits":true}`},
		"relevance without text is newest": {search.Query{Sort: search.SortRelevance}, `{"query":{"bool":{"filter":` + active + `}},"size":21,` + newest + `,"track_total_hits":true}`},
		"after price": {search.Query{Sort: search.SortPriceAsc, Limit: 10, Cursor: search.EncodeCursor(search.SortPriceAsc, []float64{2500}, "p7")},
			`{"query":{"bool":{"filter":` + active + `}},"search_after":[2500,"p7"],"size":11,"sort":[{"price_min":{"order":"asc"}},{"id":{"order":"asc"}}],"track_total_hits":true}`},
		"after score": {search.Query{Text: "x1", Cursor: search.EncodeCursor(search.SortRelevance, []float64{1.25}, "p7")},
			`{"query":{"bool":{"filter":` + active + `,"must":{"multi_match":{` + fields + `,"query":"x1"}}}},"search_after":[1.25,"p7"],"size":21,` + relevance + `,"track_total_hits":true}`},
		"after rating": {search.Query{Sort: search.SortRating, Cursor: search.EncodeCursor(search.SortRating, []float64{4.5, 12}, "p7")},
			`{"query":{"bool":{"filter":` + active + `}},"search_after":[4.5,12,"p7"],"size":21,"sort":[{"rating":{"order":"desc"}},{"rating_count":{"order":"desc"}},{"id":{"order":"asc"}}],"track_total_hits":true}`},
		"after newest": {search.Query{Cursor: search.EncodeCursor(search.SortNewest, []float64{1740830400000}, "p7")},
			`{"query":{"bool":{"filter":` + active + `}},"search_after":[1740830400000,"p7"],"size":21,` + newest + `,"track_total_hits":true}`},
		"statuses": {search.Query{Statuses: []string{"draft", "archived"}}, `{"query":{"bool":{"filter":{"terms":{"status":["draft","archived"]}}}},"size":21,` + newest + `,"track_total_hits":true}`},
		"facets": {search.Query{Facets: true},
			`{"aggregations":{"brand":{"terms":{"field":"brand","size":100}},"category":{"terms":{"field":"category_id","size":100}},"price":{"range":{"field":"price_min","ranges":[{"to":1000},{"from":1000,"to":2500},{"from":2500,"to":5000},{"from":5000,"to":10000},{"from":10000,"to":25000},{"from":25000}]}}},"query":{"bool":{"filter":` + active + `}},"size":21,` + newest + `,"track_total_hits":true}`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			plan, err := search.Prepare(c.q)
			require.NoError(t, err)
			src, err := buildSource(plan).Source()
			require.NoError(t, err)
			got, err := json.Marshal(src)
			require.NoError(t, err)
			assert.JSONEq(t, c.want, string(got))
		})
	}
}

// TestMappingJSON pins the index mapping.
func TestMappingJSON(t *testing.T) {
	got, err := json.Marshal(indexBody())
	require.NoError(t, err)
	kw := `{"type":"keyword"}`
	assert.JSONEq(t, `{"mappings":{"dynamic":false,"properties":{
		"id":`+kw+`,"vendor_id":`+kw+`,
		"title":{"type":"text","analyzer":"english","fields":{"keyword":{"type":"keyword","ignore_above":256}}},
		"description":{"type":"text","analyzer":"english"},
		"brand":{"type":"keyword","fields":{"text":{"type":"text","analyzer":"english"}}},
		"category_id":`+kw+`,"status":`+kw+`,
		"image_url":{"type":"keyword","index":false,"doc_values":false},"image_alt":{"type":"keyword","index":false,"doc_values":false},
		"price_min":{"type":"long"},"price_max":{"type":"long"},"currency":`+kw+`,
		"in_stock":{"type":"boolean"},"rating":{"type":"double"},"rating_count":{"type":"integer"},
		"created_at":{"type":"date"},"version":{"type":"long","index":false}}}}`, string(got))
}

// fakeES answers the endpoints the backend uses and records what it got.
type fakeES struct {
	mu       sync.Mutex
	created  bool
	requests []string
	bulk     string
	search   string
}

func (f *fakeES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path+" "+r.Header.Get("Accept")+" "+r.Header.Get("Content-Type"))
	w.Header().Set("Content-Type", compatJSON)
	switch {
	case r.Method == http.MethodHead && r.URL.Path == "/products":
		if !f.created {
			w.WriteHeader(http.StatusNotFound)
		}
	case r.Method == http.MethodPut && r.URL.Path == "/products":
		var m map[string]any
		if json.Unmarshal(body, &m) != nil || m["mappings"] == nil {
			http.Error(w, `{"error":{"type":"parse_exception"},"status":400}`, http.StatusBadRequest)
			return
		}
		f.created = true
		_, _ = io.WriteString(w, `{"acknowledged":true,"shards_acknowledged":true,"index":"products"}`)
	case r.Method == http.MethodPost && r.URL.Path == "/products/_bulk":
		f.bulk = string(body)
		// The first item succeeds, the second is a stale replay.
		_, _ = io.WriteString(w, `{"took":3,"errors":true,"items":[
			{"index":{"_index":"products","_id":"p1","_version":3,"result":"created","status":201}},
			{"index":{"_index":"products","_id":"p2","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[p2]: version conflict, current version [5] is higher or equal to the one provided [4]"}}}]}`)
	case r.Method == http.MethodPost && r.URL.Path == "/products/_search":
		f.search = string(body)
		_, _ = io.WriteString(w, `{"took":1,"timed_out":false,"hits":{"total":{"value":3,"relation":"eq"},"max_score":null,"hits":[
			{"_index":"products","_id":"p1","_score":null,"_source":{"id":"p1","title":"Wireless Headphones","brand":"Sonix","price_min":2500,"created_at":"2025-03-01T12:00:00Z","version":3},"sort":[2500,"p1"]},
			{"_index":"products","_id":"p3","_score":null,"_source":{"id":"p3","title":"Cable","brand":"Acme","price_min":2600,"created_at":"2025-03-01T13:00:00Z","version":1},"sort":[2600,"p3"]}]},
			"aggregations":{"brand":{"buckets":[{"key":"Acme","doc_count":1},{"key":"Sonix","doc_count":2}]},
			"category":{"buckets":[{"key":"audio","doc_count":3}]},
			"price":{"buckets":[{"key":"*-1000.0","to":1000,"doc_count":0},{"key":"1000.0-2500.0","from":1000,"to":2500,"doc_count":0},{"key":"2500.0-5000.0","from":2500,"to":5000,"doc_count":3},{"key":"5000.0-10000.0","from":5000,"to":10000,"doc_count":0},{"key":"10000.0-25000.0","from":10000,"to":25000,"doc_count":0},{"key":"25000.0-*","from":25000,"doc_count":0}]}}}`)
	default:
		http.Error(w, `{"error":{"type":"unexpected"},"status":400}`, http.StatusBadRequest)
	}
}

func TestFakeServer(t *testing.T) {
	ctx := context.Background()
	fake := &fakeES{}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	idx, err := Open(ctx, Config{URL: srv.URL, Index: "products"})
	require.NoError(t, err)
	defer idx.Close()
	assert.True(t, fake.created, "the index is created when missing")

	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	err = idx.Upsert(ctx,
		search.Product{ID: "p1", Title: "Wireless Headphones", Version: 3, CreatedAt: created},
		search.Product{ID: "p2", Title: "Old", Version: 4, CreatedAt: created})
	require.NoError(t, err, "a version conflict is a replay, not a failure")
	lines := strings.Split(strings.TrimSpace(fake.bulk), "\n")
	require.Len(t, lines, 4)
	assert.JSONEq(t, `{"index":{"_id":"p1","version":3,"version_type":"external"}}`, lines[0])
	assert.Contains(t, lines[1], `"title":"Wireless Headphones"`)

	res, err := idx.Search(ctx, search.Query{Sort: search.SortPriceAsc, Limit: 1, Facets: true})
	require.NoError(t, err)
	assert.Contains(t, fake.search, `"size":2`)
	assert.Equal(t, 3, res.Total)
	require.Len(t, res.Hits, 1)
	assert.Equal(t, "p1", res.Hits[0].ID)
	assert.Equal(t, "Wireless Headphones", res.Hits[0].Product.Title)
	assert.True(t, created.Equal(res.Hits[0].Product.CreatedAt))
	assert.Equal(t, []search.FacetValue{{Value: "Sonix", Count: 2}, {Value: "Acme", Count: 1}}, res.Facets.Brand)
	assert.Equal(t, 3, res.Facets.Price[2].Count)
	require.NotEmpty(t, res.NextCursor)

	// The cursor carries the last hit's sort values into search_after.
	_, err = idx.Search(ctx, search.Query{Sort: search.SortPriceAsc, Limit: 1, Cursor: res.NextCursor})
	require.NoError(t, err)
	assert.Contains(t, fake.search, `"search_after":[2500,"p1"]`)

	for _, r := range fake.requests {
		assert.Contains(t, r, compatJSON[:len("application/vnd.elasticsearch+")], "compat headers on %s", r)
		if strings.Contains(r, "_bulk") {
			assert.True(t, strings.HasSuffix(r, compatNDJSON), "bulk is ndjson: %s", r)
		}
	}
}

// TestUnavailable checks that a server that cannot be reached is EUNAVAILABLE.
func TestUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := Open(context.Background(), Config{URL: url, Index: "products"})
	require.Error(t, err)
	assert.True(t, emporium.IsCode(err, emporium.EUNAVAILABLE), "got %v", err)
}

// TestConformance runs the shared suite against a real Elasticsearch.
func TestConformance(t *testing.T) {
	url := os.Getenv("ELASTICSEARCH_URL")
	if url == "" {
		t.Skip("ELASTICSEARCH_URL is not set; the conformance suite runs only against a real Elasticsearch")
	}
	searchtest.Run(t, func(t *testing.T) search.Index {
		name := "emporium-conformance-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")) + "-" + time.Now().Format("150405.000000")
		idx, err := Open(context.Background(), Config{URL: url, Index: name, Refresh: "true", DisableCompatHeaders: os.Getenv("ELASTICSEARCH_NO_COMPAT") != ""})
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = idx.client.DeleteIndex(name).Do(context.Background()) })
		return idx
	})
}
