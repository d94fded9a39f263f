package node_test

import (
	"testing"
	"time"

	"github.com/emporium-shop/emporium/actors/actorstest"
)

// TestStoreNameRekeyPassRunsOnce: after start, the node activates every
// vendor once (their grains re-key legacy store names, see actors/user),
// claims the new keys of legacy usernames, and records that the passes are
// done, so that later starts skip them.
func TestStoreNameRekeyPassRunsOnce(t *testing.T) {
	n := openCatalogNode(t, 0)
	docs := n.Store.Documents("migrations")
	actorstest.WaitFor(t, 20*time.Second, "both re-keying passes recorded as done", func() bool {
		_, err := docs.Get(t.Context(), "store-name-keys-tr39", nil)
		_, err2 := docs.Get(t.Context(), "username-keys-tr39", nil)
		return err == nil && err2 == nil
	})
}
