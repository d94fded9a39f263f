package bleveindex_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/search"
	bleveindex "github.com/emporium-shop/emporium/search/bleve"
	"github.com/emporium-shop/emporium/search/searchtest"
)

func TestConformance(t *testing.T) {
	searchtest.Run(t, func(t *testing.T) search.Index {
		idx, err := bleveindex.Open(filepath.Join(t.TempDir(), "search"))
		require.NoError(t, err)
		return idx
	})
}

// TestReopen checks that the index lives on disk: a reopened index answers
// what was written before it was closed.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "search")
	idx, err := bleveindex.Open(dir)
	require.NoError(t, err)
	require.NoError(t, idx.Upsert(ctx, searchtest.Catalogue()...))
	require.NoError(t, idx.Close())

	_, err = idx.Search(ctx, search.Query{})
	require.True(t, emporium.IsCode(err, emporium.EUNAVAILABLE), "a closed index is unavailable: %v", err)

	idx, err = bleveindex.Open(dir)
	require.NoError(t, err)
	defer idx.Close()
	res, err := idx.Search(ctx, search.Query{Statuses: []string{search.StatusDraft, search.StatusActive, search.StatusArchived}})
	require.NoError(t, err)
	require.Equal(t, len(searchtest.Catalogue()), res.Total)
}
