package catalog_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/actors/catalog"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
)

// TestSearchFeedOverTheJournal: members publishing at once into one
// journal stream each get every entry in, none lost to a lost race; a
// reader pages through them in order from any cursor.
func TestSearchFeedOverTheJournal(t *testing.T) {
	store := persistencetest.Open(t)
	members := []*catalog.SearchFeed{{Journal: store.Journal()}, {Journal: store.Journal()}, {Journal: store.Journal()}}
	var wg sync.WaitGroup
	for m, f := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				assert.NoError(t, f.Publish(t.Context(), []string{fmt.Sprintf("m%d-p%d", m, i)}))
			}
		}()
	}
	wg.Wait()
	require.NoError(t, members[0].Publish(t.Context(), nil), "nothing to publish is no entry")

	reader := &catalog.SearchFeed{Journal: store.Journal()}
	seen := map[string]bool{}
	cursor := uint64(0)
	for pages := 0; ; pages++ {
		require.Less(t, pages, 20, "the feed ends")
		ids, next, err := reader.Read(t.Context(), cursor, 4)
		require.NoError(t, err)
		if next == cursor {
			assert.Empty(t, ids)
			break
		}
		assert.LessOrEqual(t, len(ids), 4, "a page stops at the entry that fills it")
		for _, id := range ids {
			seen[id] = true
		}
		cursor = next
	}
	assert.Len(t, seen, 15, "every published id: %v", seen)
	assert.Equal(t, uint64(15), cursor, "one entry a publish")
}
