package bleveindex

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/search"
	"github.com/emporium-shop/emporium/search/searchtest"
)

// TestFuzzyCacheChangesNothing checks that the cached expansion of fuzzy
// words finds and scores exactly what bleve's own fuzzy query does, on the
// first search of a word (a miss) and on the next ones (hits).
func TestFuzzyCacheChangesNothing(t *testing.T) {
	ctx := context.Background()
	cached := open(t)
	require.NoError(t, cached.Upsert(ctx, searchtest.Catalogue()...))
	// The same bleve index, with bleve's own fuzzy queries.
	uncached := &Index{idx: cached.idx, english: cached.english, keyword: cached.keyword}

	yes := true
	queries := []search.Query{
		{Text: "hedphones"}, {Text: "wirelss headphones"}, {Text: "studio hedphones"}, {Text: "classic"},
		{Text: "portabel speaker"}, {Text: "everyday model"}, {Text: "Sonix's headphones"},
		{Text: "compact keyboard", InStock: &yes, Facets: true}, {Text: "premium", Limit: search.MaxLimit},
		{Text: "notebook", Sort: search.SortPriceAsc}, {Text: "zenth"},
	}
	for round := range 2 {
		for _, q := range queries {
			want, err := uncached.Search(ctx, q)
			require.NoError(t, err)
			got, err := cached.Search(ctx, q)
			require.NoError(t, err)
			assert.Equal(t, want, got, "round %d of %q", round, q.Text)
		}
	}
}

// TestFuzzyCacheFollowsWrites checks that a write is seen by the next search
// of a word whose expansion was cached before it: a new term within the
// word's fuzziness matches, and a deleted product no longer does.
func TestFuzzyCacheFollowsWrites(t *testing.T) {
	ctx := context.Background()
	x := open(t)
	require.NoError(t, x.Upsert(ctx, searchtest.Catalogue()...))
	ids := func(text string) []string {
		t.Helper()
		res, err := x.Search(ctx, search.Query{Text: text, Limit: search.MaxLimit})
		require.NoError(t, err)
		out := []string{}
		for _, h := range res.Hits {
			out = append(out, h.ID)
		}
		return out
	}
	before := ids("blendr")
	require.NotEmpty(t, before, "the catalogue's blenders match the typo")
	assert.NotContains(t, before, "new")

	p := searchtest.Catalogue()[0]
	p.ID, p.Title, p.Description = "new", "Blendor Jar", "A jar."
	require.NoError(t, x.Upsert(ctx, p))
	assert.ElementsMatch(t, append(before, "new"), ids("blendr"), "blendor is one letter from blendr")

	require.NoError(t, x.Delete(ctx, "new"))
	assert.ElementsMatch(t, before, ids("blendr"))
}

func open(t *testing.T) *Index {
	t.Helper()
	x, err := Open(filepath.Join(t.TempDir(), "search"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = x.Close() })
	return x
}
