package killtest

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/actors/inventory"
	ordergrain "github.com/emporium-shop/emporium/actors/order"
	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/mongostore"
)

// journal reads the grains' truth from the shared store's journal, as an
// audit does: a SKU's stock replayed from its InventoryGrain's events, not
// from a read model, and the orders that hold its units.
type journal struct {
	store *mongostore.Store
}

// openJournal opens the cluster's store from the test process.
func openJournal(t *testing.T, c *cluster) *journal {
	st, err := mongostore.Open(t.Context(), persistence.Config{URI: c.storeURI, Database: c.database,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err, "open the shared store for the audit")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = st.Close(ctx)
	})
	return &journal{store: st}
}

// check compares sku's stock in its journal with what the test knows: it
// was stocked with initial units, the confirmed orders took sold, and the
// read model shows available. It returns what does not add up, with the
// orders that still hold units of sku and their state.
func (j *journal) check(ctx context.Context, sku string, initial, sold, available int64) []string {
	s, err := inventory.Spec.Replay(ctx, j.store.Journal(), sku)
	if err != nil {
		return []string{fmt.Sprintf("%s: replaying its journal: %v", sku, err)}
	}
	var errs []string
	if s.OnHand+s.Sold != initial {
		errs = append(errs, fmt.Sprintf("%s: journal: %d on hand + %d sold != %d stocked", sku, s.OnHand, s.Sold, initial))
	}
	if s.Sold != sold {
		errs = append(errs, fmt.Sprintf("%s: journal: %d sold, the confirmed orders took %d", sku, s.Sold, sold))
	}
	if grain := s.OnHand - s.Reserved; grain != available {
		errs = append(errs, fmt.Sprintf("%s: the read model shows %d available, the journal %d", sku, available, grain))
	}
	var held []string
	for id := range s.Held {
		held = append(held, id)
	}
	slices.Sort(held)
	for _, id := range held {
		desc := fmt.Sprintf("%s: journal: %d units still reserved by order %s", sku, s.Held[id].Quantity, id)
		if o, err := ordergrain.Spec.Replay(ctx, j.store.Journal(), id); err != nil {
			desc += fmt.Sprintf(" (its journal: %v)", err)
		} else {
			desc += fmt.Sprintf(" (%s %s, out of stock %v, stock touched %t reserved %t returned %t, step %s)", o.Status, o.FailureReason,
				o.OutOfStockSkus, o.StockTouched, o.StockReserved, o.StockReturned, o.Started)
		}
		errs = append(errs, desc)
	}
	return errs
}
