// Package searchtest is the conformance suite every search.Index backend
// passes (DESIGN §11): the same catalogue, queries and expectations for the
// embedded bleve index and for Elasticsearch.
package searchtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/search"
)

// Run runs the suite. open returns a new, empty index; the suite closes it.
func Run(t *testing.T, open func(t *testing.T) search.Index) {
	ctx := context.Background()
	fresh := func(t *testing.T) search.Index {
		t.Helper()
		idx := open(t)
		t.Cleanup(func() { _ = idx.Close() })
		return idx
	}
	seeded := func(t *testing.T) search.Index {
		t.Helper()
		idx := fresh(t)
		require.NoError(t, idx.Upsert(ctx, Catalogue()...), "seed the catalogue")
		return idx
	}

	t.Run("EmptyIndex", func(t *testing.T) {
		idx := fresh(t)
		for _, q := range []search.Query{{}, {Text: "headphones", Facets: true}, {Categories: []string{"audio"}, Sort: search.SortPriceAsc, Facets: true}} {
			res, err := idx.Search(ctx, q)
			require.NoError(t, err)
			assert.Empty(t, res.Hits)
			assert.Zero(t, res.Total)
			assert.Empty(t, res.NextCursor)
			if q.Facets {
				assert.Empty(t, res.Facets.Brand)
				assert.Empty(t, res.Facets.Category)
				assert.Equal(t, search.PriceBuckets(), res.Facets.Price)
			}
		}
	})

	t.Run("ReadOnly", func(t *testing.T) {
		idx := seeded(t)
		t.Run("Text", func(t *testing.T) { testText(t, idx) })
		t.Run("Filters", func(t *testing.T) { testFilters(t, idx) })
		t.Run("Sorts", func(t *testing.T) { testSorts(t, idx) })
		t.Run("Relevance", func(t *testing.T) { testRelevancePages(t, idx) })
		t.Run("Facets", func(t *testing.T) { testFacets(t, idx) })
		t.Run("Invalid", func(t *testing.T) { testInvalid(t, idx) })
		t.Run("Statuses", func(t *testing.T) { testStatuses(t, idx) })
		t.Run("ReturnsProduct", func(t *testing.T) {
			res, err := idx.Search(ctx, search.Query{Text: "wireless headphones"})
			require.NoError(t, err)
			require.NotEmpty(t, res.Hits)
			want := byID()[res.Hits[0].ID]
			got := res.Hits[0].Product
			assert.True(t, want.CreatedAt.Equal(got.CreatedAt), "created_at round-trips")
			got.CreatedAt = want.CreatedAt
			assert.Equal(t, want, got)
		})
	})

	t.Run("UpsertReplaces", func(t *testing.T) {
		idx := seeded(t)
		p := byID()["p01"]
		p.Title, p.Version = "Studio Monitor Cans", p.Version+1
		require.NoError(t, idx.Upsert(ctx, p))
		assert.Equal(t, []string{"p01"}, ids(t, idx, search.Query{Text: "monitor cans"}))
		assert.NotContains(t, ids(t, idx, search.Query{Text: "wireless"}), "p01")
		res, err := idx.Search(ctx, search.Query{})
		require.NoError(t, err)
		assert.Equal(t, len(reference(search.Query{})), res.Total, "a replacement is not a new product")
	})

	t.Run("StaleVersionIgnored", func(t *testing.T) {
		idx := seeded(t)
		p := byID()["p01"]
		newer := p
		newer.Title, newer.Version = "Studio Monitor Cans", p.Version+2
		require.NoError(t, idx.Upsert(ctx, newer))
		stale := p
		stale.Title, stale.Version = "Stale Replay Title", p.Version+1
		require.NoError(t, idx.Upsert(ctx, stale), "a stale version is not an error")
		same := newer
		same.Title = "Same Version Replay"
		require.NoError(t, idx.Upsert(ctx, same), "a replayed version is not an error")
		assert.Equal(t, []string{"p01"}, ids(t, idx, search.Query{Text: "monitor cans"}))
		assert.Empty(t, ids(t, idx, search.Query{Text: "stale replay"}))
		assert.Empty(t, ids(t, idx, search.Query{Text: "same version"}))

		// In one batch the highest version wins whatever the order.
		a, b := p, p
		a.ID, b.ID = "batch", "batch"
		a.Title, a.Version = "Batch Newer Title", 7
		b.Title, b.Version = "Batch Older Title", 6
		require.NoError(t, idx.Upsert(ctx, a, b))
		assert.Equal(t, []string{"batch"}, ids(t, idx, search.Query{Text: "newer"}))
		assert.Empty(t, ids(t, idx, search.Query{Text: "older"}))
	})

	t.Run("Delete", func(t *testing.T) {
		idx := seeded(t)
		require.NoError(t, idx.Delete(ctx, "p01", "p02", "no-such-product"))
		got := ids(t, idx, search.Query{Text: "headphones", Limit: search.MaxLimit})
		assert.NotContains(t, got, "p01")
		assert.NotContains(t, got, "p02")
		res, err := idx.Search(ctx, search.Query{})
		require.NoError(t, err)
		assert.Equal(t, len(reference(search.Query{}))-2, res.Total)
		res, err = idx.Search(ctx, search.Query{Statuses: allStatuses()})
		require.NoError(t, err)
		assert.Equal(t, len(Catalogue())-2, res.Total)
	})

	t.Run("StatusChangeOrdering", func(t *testing.T) {
		idx := seeded(t)
		active := byID()["p01"]
		active.Title, active.Version = "Wireless Headphones Mark II", 2
		archived := active
		archived.Status, archived.Version = search.StatusArchived, 3
		require.NoError(t, idx.Upsert(ctx, active))
		require.NoError(t, idx.Upsert(ctx, archived))
		assert.NotContains(t, ids(t, idx, search.Query{Text: "wireless"}), "p01", "an archived product leaves the shop")
		assert.Equal(t, []string{"p01"}, ids(t, idx, search.Query{Text: "mark", Statuses: []string{search.StatusArchived}}))

		// The outbox replays the active v2 after the archived v3: the
		// archived state stays, since it is indexed rather than deleted.
		require.NoError(t, idx.Upsert(ctx, active))
		assert.NotContains(t, ids(t, idx, search.Query{Text: "wireless"}), "p01", "a replayed older state is ignored")
		res, err := idx.Search(ctx, search.Query{Text: "mark", Statuses: allStatuses()})
		require.NoError(t, err)
		require.Len(t, res.Hits, 1)
		assert.Equal(t, search.StatusArchived, res.Hits[0].Product.Status)
		assert.Equal(t, uint64(3), res.Hits[0].Product.Version)

		// Reactivated with a newer version, it is back.
		reactivated := archived
		reactivated.Status, reactivated.Version = search.StatusActive, 4
		require.NoError(t, idx.Upsert(ctx, reactivated))
		assert.Contains(t, ids(t, idx, search.Query{Text: "wireless"}), "p01")
		res, err = idx.Search(ctx, search.Query{})
		require.NoError(t, err)
		assert.Equal(t, len(reference(search.Query{})), res.Total, "a status change is not a new product")
	})

	t.Run("RatingChangesReorder", func(t *testing.T) {
		// Reviews move a product's rating (issue 12): the new rating, at a
		// new version, reorders rating sorts and the minimum-rating filter
		// at once, and an older rating replayed after it does not.
		idx := seeded(t)
		before := reference(search.Query{Sort: search.SortRating})
		require.NotEmpty(t, before)
		last := byID()[before[len(before)-1]]
		require.Less(t, last.Rating, 5.0, "the catalogue's last-rated product is below five stars")
		rated := last
		rated.Rating, rated.RatingCount, rated.Version = 5, 10_000, last.Version+1
		require.NoError(t, idx.Upsert(ctx, rated))
		got := ids(t, idx, search.Query{Sort: search.SortRating, Limit: 1})
		assert.Equal(t, []string{last.ID}, got, "five stars from more reviews than any other come first")
		five := 5.0
		assert.Contains(t, ids(t, idx, search.Query{MinRating: &five, Limit: search.MaxLimit}), last.ID)

		stale := last
		stale.Version = last.Version
		require.NoError(t, idx.Upsert(ctx, stale))
		assert.Equal(t, []string{last.ID}, ids(t, idx, search.Query{Sort: search.SortRating, Limit: 1}), "an older rating replayed is ignored")

		unrated := rated
		unrated.Rating, unrated.RatingCount, unrated.Version = 0, 0, rated.Version+1
		require.NoError(t, idx.Upsert(ctx, unrated))
		assert.NotContains(t, ids(t, idx, search.Query{MinRating: &five, Limit: search.MaxLimit}), last.ID, "every review withdrawn")
		assert.Equal(t, before, paginate(t, idx, search.Query{Sort: search.SortRating, Limit: 7}),
			"back to its first rating, it is back in its first place")
	})

	t.Run("PagingStableUnderInserts", func(t *testing.T) {
		idx := seeded(t)
		q := search.Query{Sort: search.SortPriceAsc, Limit: 10}
		first, err := idx.Search(ctx, q)
		require.NoError(t, err)
		// A product that sorts before the cursor must not shift the next page.
		cheap := byID()["p01"]
		cheap.ID, cheap.PriceMin, cheap.Version = "zz-cheap", 1, 1
		require.NoError(t, idx.Upsert(ctx, cheap))
		q.Cursor = first.NextCursor
		second, err := idx.Search(ctx, q)
		require.NoError(t, err)
		want := reference(search.Query{Sort: search.SortPriceAsc})
		assert.Equal(t, want[10:20], hitIDs(second.Hits))
	})
}

func testText(t *testing.T, idx search.Index) {
	ctx := context.Background()
	yes := true
	// Title, description and brand are searched.
	assert.Contains(t, ids(t, idx, search.Query{Text: "wireless"}), "p01")
	assert.Contains(t, ids(t, idx, search.Query{Text: "amplifier"}), "p03", "description is searched")
	zenith := ids(t, idx, search.Query{Text: "zenith", Limit: search.MaxLimit})
	assert.ElementsMatch(t, reference(search.Query{Brands: []string{"Zenith"}}), zenith, "brand is searched")

	// Title matches rank before description-only matches.
	got := ids(t, idx, search.Query{Text: "headphones"})
	require.ElementsMatch(t, []string{"p01", "p02", "p03"}, got)
	assert.Equal(t, "p03", got[2], "the description-only match ranks last: %v", got)

	res, err := idx.Search(ctx, search.Query{Text: "headphones"})
	require.NoError(t, err)
	for i := 1; i < len(res.Hits); i++ {
		assert.GreaterOrEqual(t, res.Hits[i-1].Score, res.Hits[i].Score, "relevance is descending")
	}

	// One typo is tolerated in a word of five letters or more, not in a
	// shorter one.
	assert.Contains(t, ids(t, idx, search.Query{Text: "hedphones"}), "p01")
	assert.Contains(t, ids(t, idx, search.Query{Text: "wirelss"}), "p01")
	lamp := ids(t, idx, search.Query{Text: "lamp"})
	assert.Equal(t, []string{"p04"}, lamp, "lamp is not fuzzed into camp")
	assert.Empty(t, ids(t, idx, search.Query{Text: "lamb"}), "a four-letter word is not fuzzed")

	// Every word of a query must match, each in title, description or
	// brand, and each with its own typo tolerance.
	assert.Equal(t, []string{"p01"}, ids(t, idx, search.Query{Text: "wireless headphones"}), "only p01 has both words")
	assert.Empty(t, ids(t, idx, search.Query{Text: "wireless mixing"}), "each word matches a product, none matches both")
	assert.Empty(t, ids(t, idx, search.Query{Text: "headphones xylophone"}), "one word of two matches nothing")
	assert.Equal(t, []string{"p01"}, ids(t, idx, search.Query{Text: "wirelss headphones"}), "a typo'd word still matches with the other word")
	assert.Equal(t, []string{"p02"}, ids(t, idx, search.Query{Text: "studio hedphones"}))
	assert.Equal(t, []string{"p01"}, ids(t, idx, search.Query{Text: "sonix headphones"}), "words match across title and brand")
	assert.ElementsMatch(t, []string{"p02", "p03"}, ids(t, idx, search.Query{Text: "headphones mixing"}), "words match across title and description")
	assert.Empty(t, ids(t, idx, search.Query{Text: "lamp desk dimmer camp"}), "all words, not most")
	// A stop word is not required, and a possessive is its word.
	assert.ElementsMatch(t, []string{"p02", "p03"}, ids(t, idx, search.Query{Text: "headphones for mixing"}))
	assert.Equal(t, []string{"p01"}, ids(t, idx, search.Query{Text: "Sonix's headphones"}))
	res, err = idx.Search(ctx, search.Query{Text: "the"})
	require.NoError(t, err)
	assert.Equal(t, len(reference(search.Query{})), res.Total, "a query of stop words only restricts nothing")

	// Text combines with filters.
	assert.Equal(t, []string{"p02"}, ids(t, idx, search.Query{Text: "headphones", Brands: []string{"Acme"}}))
	i64 := func(v int64) *int64 { return &v }
	assert.Equal(t, []string{"p01"}, ids(t, idx, search.Query{Text: "headphones", MinPrice: i64(9000)}))
	assert.ElementsMatch(t, []string{"p02", "p03"}, ids(t, idx, search.Query{Text: "headphones", MaxPrice: i64(8999)}), "the maximum price is included")
	assert.Equal(t, []string{"p02"}, ids(t, idx, search.Query{Text: "headphones", MinPrice: i64(8999), MaxPrice: i64(8999)}))
	assert.Equal(t, []string{"p03"}, ids(t, idx, search.Query{Text: "headphones", MaxPrice: i64(999), InStock: &yes}))
	assert.Empty(t, ids(t, idx, search.Query{Text: "headphones", MinPrice: i64(13000)}))
	res, err = idx.Search(ctx, search.Query{Text: "headphones", MaxPrice: i64(8999), Facets: true})
	require.NoError(t, err)
	assert.Equal(t, 2, res.Total, "the total counts the price filter")
	assert.Equal(t, []search.FacetValue{{Value: "Acme", Count: 1}, {Value: "Northwind", Count: 1}}, res.Facets.Brand, "so do the facets")
	want := search.PriceBuckets()
	want[0].Count, want[3].Count = 1, 1
	assert.Equal(t, want, res.Facets.Price)
	assert.Empty(t, ids(t, idx, search.Query{Text: "xylophone"}))
}

// filterCases are queries whose hits the reference model predicts.
func filterCases() []search.Query {
	i64 := func(v int64) *int64 { return &v }
	yes, no := true, false
	four := 4.0
	return []search.Query{
		{Categories: expand("electronics")},
		{Categories: expand("audio")},
		{Categories: expand("headphones")},
		{Categories: expand("kitchen")},
		{Categories: []string{"headphones", "cookware"}},
		{Categories: []string{"audio"}},
		{Categories: []string{"no-such-category", "lighting"}},
		{Statuses: []string{search.StatusActive}},
		{Statuses: []string{search.StatusDraft}},
		{Statuses: []string{search.StatusArchived, search.StatusActive}},
		{Statuses: allStatuses(), Categories: expand("headphones")},
		{Statuses: []string{search.StatusArchived}, Brands: []string{"Orbit"}},
		{Brands: []string{"Acme"}},
		{Brands: []string{"Acme", "Orbit"}},
		{Vendor: "v2"},
		{MinPrice: i64(2500)},
		{MaxPrice: i64(5000)},
		{MinPrice: i64(2500), MaxPrice: i64(10000)},
		{MinPrice: i64(4999), MaxPrice: i64(4999)},
		{InStock: &yes},
		{InStock: &no},
		{MinRating: &four},
		{Categories: expand("electronics"), Brands: []string{"Sonix", "Acme"}, InStock: &yes},
		{Categories: expand("home"), MinPrice: i64(1000), MaxPrice: i64(20000), Vendor: "v1"},
		{Brands: []string{"Northwind"}, MinRating: &four, InStock: &yes, MaxPrice: i64(30000)},
		{Brands: []string{"Nobody"}},
	}
}

func testFilters(t *testing.T, idx search.Index) {
	for _, q := range filterCases() {
		want := reference(q)
		q.Limit = search.MaxLimit
		got := ids(t, idx, q)
		assert.Equal(t, want, got, "query %s", describe(q))
	}
}

func testSorts(t *testing.T, idx search.Index) {
	yes := true
	for _, s := range []search.Sort{search.SortNewest, search.SortPriceAsc, search.SortPriceDesc, search.SortRating, ""} {
		for _, q := range []search.Query{{Sort: s}, {Sort: s, Categories: expand("electronics")}, {Sort: s, Statuses: allStatuses()}, {Sort: s, InStock: &yes, Brands: []string{"Acme", "Sonix", "Zenith"}}} {
			want := reference(q)
			for _, limit := range []int{1, 7, search.MaxLimit} {
				q.Limit = limit
				got := paginate(t, idx, q)
				assert.Equal(t, want, got, "all pages of %s", describe(q))
			}
		}
	}
}

func testRelevancePages(t *testing.T, idx search.Index) {
	// Every generated product says it is for everyday use, in descriptions
	// of different lengths: many hits, with both distinct and tied scores.
	q := search.Query{Text: "everyday use", Limit: 3}
	got := paginate(t, idx, q)
	q.Limit = search.MaxLimit
	all := ids(t, idx, q)
	assert.Equal(t, all, got, "pages in relevance order concatenate to the single page")
	assert.Greater(t, len(all), 6, "the query matches several pages")
}

func testFacets(t *testing.T, idx search.Index) {
	ctx := context.Background()
	cases := append(filterCases(), search.Query{})
	for _, q := range cases {
		q.Facets = true
		q.Limit = 5
		res, err := idx.Search(ctx, q)
		require.NoError(t, err)
		want := referenceFacets(q)
		assert.Equal(t, want.Brand, res.Facets.Brand, "brand facet of %s", describe(q))
		assert.Equal(t, want.Category, res.Facets.Category, "category facet of %s", describe(q))
		assert.Equal(t, want.Price, res.Facets.Price, "price facet of %s", describe(q))
		assert.Equal(t, len(reference(q)), res.Total, "total of %s", describe(q))
		if res.NextCursor != "" {
			// Facets and totals cover the query, not the page.
			q.Cursor = res.NextCursor
			next, err := idx.Search(ctx, q)
			require.NoError(t, err)
			assert.Equal(t, res.Facets, next.Facets, "facets of page two of %s", describe(q))
			assert.Equal(t, res.Total, next.Total)
		}
	}
	res, err := idx.Search(ctx, search.Query{Text: "headphones", Facets: true})
	require.NoError(t, err)
	assert.Equal(t, []search.FacetValue{{Value: "Acme", Count: 1}, {Value: "Northwind", Count: 1}, {Value: "Sonix", Count: 1}}, res.Facets.Brand)
	res, err = idx.Search(ctx, search.Query{})
	require.NoError(t, err)
	assert.Empty(t, res.Facets.Brand, "no facets unless asked")
}

func testInvalid(t *testing.T, idx search.Index) {
	ctx := context.Background()
	i64 := func(v int64) *int64 { return &v }
	first, err := idx.Search(ctx, search.Query{Sort: search.SortNewest, Limit: 2})
	require.NoError(t, err)
	require.NotEmpty(t, first.NextCursor)
	tampered := []byte(first.NextCursor)
	tampered[len(tampered)/2] ^= 0x01
	cases := map[string]search.Query{
		"negative limit":     {Limit: -1},
		"limit over max":     {Limit: search.MaxLimit + 1},
		"min over max":       {MinPrice: i64(500), MaxPrice: i64(100)},
		"negative price":     {MinPrice: i64(-1)},
		"unknown sort":       {Sort: "cheapest"},
		"garbage cursor":     {Cursor: "not a cursor!"},
		"tampered cursor":    {Sort: search.SortNewest, Limit: 2, Cursor: string(tampered)},
		"cursor of a sort":   {Sort: search.SortPriceAsc, Cursor: first.NextCursor},
		"empty brand":        {Brands: []string{""}},
		"empty category":     {Categories: []string{"audio", ""}},
		"unknown status":     {Statuses: []string{search.StatusActive, "deleted"}},
		"cursor and bad lim": {Limit: 1000, Cursor: first.NextCursor},
	}
	for name, q := range cases {
		_, err := idx.Search(ctx, q)
		require.Error(t, err, name)
		assert.True(t, emporium.IsCode(err, emporium.EINVALID), "%s: got %v", name, err)
		assert.NotEmpty(t, emporium.ErrorFields(err), "%s names the field", name)
	}
}

func testStatuses(t *testing.T, idx search.Index) {
	ctx := context.Background()
	// Queries match active products unless they name other statuses.
	assert.Equal(t, []string{"p04"}, ids(t, idx, search.Query{Text: "lamp"}), "the archived lamp is hidden")
	assert.ElementsMatch(t, []string{"p04", "a02"}, ids(t, idx, search.Query{Text: "lamp", Statuses: allStatuses()}))
	got := ids(t, idx, search.Query{Text: "headphones", Statuses: allStatuses(), Limit: search.MaxLimit})
	assert.ElementsMatch(t, []string{"p01", "p02", "p03", "d01", "a01"}, got)
	assert.Equal(t, []string{"d01"}, ids(t, idx, search.Query{Text: "headphones", Statuses: []string{search.StatusDraft}}))

	res, err := idx.Search(ctx, search.Query{Statuses: []string{search.StatusArchived}, Facets: true})
	require.NoError(t, err)
	assert.Equal(t, 2, res.Total)
	assert.Equal(t, []search.FacetValue{{Value: "headphones", Count: 1}, {Value: "lighting", Count: 1}}, res.Facets.Category, "facets count the statuses queried")

	// The status is checked and named.
	_, err = idx.Search(ctx, search.Query{Statuses: []string{"deleted"}})
	require.True(t, emporium.IsCode(err, emporium.EINVALID), "got %v", err)
	fields := emporium.ErrorFields(err)
	require.Len(t, fields, 1)
	assert.Equal(t, "status", fields[0].Field)
	assert.Equal(t, "unknown", fields[0].Code)

	// Image fields are returned but not searched.
	assert.Empty(t, ids(t, idx, search.Query{Text: "headband"}), "the image alt text is not searched")
	assert.Empty(t, ids(t, idx, search.Query{Text: "cdn"}), "the image url is not searched")
	res, err = idx.Search(ctx, search.Query{Text: "wireless headphones"})
	require.NoError(t, err)
	require.NotEmpty(t, res.Hits)
	require.Equal(t, "p01", res.Hits[0].ID)
	assert.Equal(t, byID()["p01"].ImageURL, res.Hits[0].Product.ImageURL)
	assert.Equal(t, byID()["p01"].ImageAlt, res.Hits[0].Product.ImageAlt)
}

// ids returns the hit ids of one page of q.
func ids(t *testing.T, idx search.Index, q search.Query) []string {
	t.Helper()
	res, err := idx.Search(context.Background(), q)
	require.NoError(t, err, "search %s", describe(q))
	return hitIDs(res.Hits)
}

func hitIDs(hits []search.Hit) []string {
	out := make([]string, 0, len(hits))
	for _, h := range hits {
		out = append(out, h.ID)
	}
	return out
}

// paginate follows the cursors of q to the end, failing on a repeated hit or
// on paging that does not stop.
func paginate(t *testing.T, idx search.Index, q search.Query) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	for page := 0; ; page++ {
		require.Less(t, page, 200, "paging of %s stops", describe(q))
		res, err := idx.Search(context.Background(), q)
		require.NoError(t, err, "page %d of %s", page, describe(q))
		require.LessOrEqual(t, len(res.Hits), q.Limit)
		for _, h := range res.Hits {
			require.False(t, seen[h.ID], "hit %s repeated on page %d of %s", h.ID, page, describe(q))
			seen[h.ID] = true
			out = append(out, h.ID)
		}
		if res.NextCursor == "" {
			return out
		}
		require.Len(t, res.Hits, q.Limit, "only a full page has a next page")
		q.Cursor = res.NextCursor
	}
}

func describe(q search.Query) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{text=%q categories=%v statuses=%v brands=%v vendor=%q sort=%q limit=%d", q.Text, q.Categories, q.Statuses, q.Brands, q.Vendor, q.Sort, q.Limit)
	if q.MinPrice != nil {
		fmt.Fprintf(&b, " min=%d", *q.MinPrice)
	}
	if q.MaxPrice != nil {
		fmt.Fprintf(&b, " max=%d", *q.MaxPrice)
	}
	if q.InStock != nil {
		fmt.Fprintf(&b, " in_stock=%v", *q.InStock)
	}
	if q.MinRating != nil {
		fmt.Fprintf(&b, " min_rating=%v", *q.MinRating)
	}
	return b.String() + "}"
}
