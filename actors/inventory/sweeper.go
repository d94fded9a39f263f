package inventory

import (
	"context"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/cluster"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/inventorypb"
)

// ExpiryField is the field of the stock read model that holds the earliest
// expiry of a SKU's reservations; the store indexes it for the sweeper's
// query (DueBefore).
const ExpiryField = "next_expiry"

// Indexer declares the read-model indexes a query needs
// (persistence.Projections).
type Indexer interface {
	EnsureIndex(ctx context.Context, collection string, keys ...string) error
}

// EnsureIndexes declares the indexes of the sweeper's query and of a
// user's active alerts. It is idempotent; run it at start-up, before the
// sweeper.
func EnsureIndexes(ctx context.Context, ix Indexer) error {
	if err := ix.EnsureIndex(ctx, ViewCollection, ExpiryField); err != nil {
		return emporium.Wrap("inventory.EnsureIndexes", err)
	}
	return emporium.Wrap("inventory.EnsureIndexes", ix.EnsureIndex(ctx, AlertCollection, "active_user", "-_id"))
}

// DueLister finds read-model documents whose time field is at or before a
// moment (persistence.Projections).
type DueLister interface {
	DueBefore(ctx context.Context, collection, field string, t time.Time, limit int) ([]string, error)
}

// Sweeper releases reservations that expired while no activation of their
// SKU was live to run its timer, and wakes SKUs that owe back-in-stock
// notices nobody is sending. It does not do either itself: it wakes each
// SKU whose read model shows work due, and the activation expires what is
// due and sends what is owed. Running it on several nodes at once
// is harmless, since waking a grain twice changes nothing.
type Sweeper struct {
	Cluster  *cluster.Cluster
	Lister   DueLister
	Clock    actors.Clock
	Logger   *slog.Logger
	Interval time.Duration
	// Batch bounds how many SKUs one sweep wakes.
	Batch int
}

// Run sweeps every Interval until ctx ends.
func (s *Sweeper) Run(ctx context.Context) {
	ticker := time.NewTicker(s.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if n, err := s.SweepOnce(ctx); err != nil {
				s.Logger.Warn("inventory sweep failed", slog.Int("woken", n), slog.Any("error", err))
			}
		}
	}
}

// SweepOnce wakes the SKUs with an expiry due now and returns how many it
// woke.
func (s *Sweeper) SweepOnce(ctx context.Context) (int, error) {
	batch := s.Batch
	if batch == 0 {
		batch = 500
	}
	skus, err := s.Lister.DueBefore(ctx, ViewCollection, ExpiryField, s.Clock.Now(), batch)
	if err != nil {
		return 0, err
	}
	woken := 0
	for _, sku := range skus {
		if ctx.Err() != nil {
			return woken, ctx.Err()
		}
		if _, err := pb.GetInventoryGrainGrainClient(s.Cluster, sku).GetAvailability(&pb.GetAvailabilityRequest{}); err != nil {
			s.Logger.Warn("inventory sweep could not wake a SKU", slog.String("sku", sku), slog.Any("error", err))
			continue
		}
		woken++
	}
	return woken, nil
}
