package node

import (
	"context"
	"log/slog"
	"time"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/gateway"
	"github.com/emporium-shop/emporium/persistence"
)

// Idempotency records (gateway.IdempotencyCollection: a caller's key and the
// hash of the request that first sent it) are kept for a day, as DESIGN §7
// says: long enough for any client's retries, and the collection does not
// grow with every request ever made with a key.
const (
	idempotencyTTL       = 24 * time.Hour
	idempotencySweep     = time.Hour
	idempotencyBatch     = 500
	idempotencyTimeField = "claimed_at" // actors.DocumentClaims's claim time
)

// expireIdempotency deletes the idempotency records claimed before
// now-idempotencyTTL, a batch at a time, and answers how many. A record
// written again meanwhile (another version) is left for the next sweep.
func expireIdempotency(ctx context.Context, store persistence.Store, now time.Time) (int, error) {
	docs := store.Documents(gateway.IdempotencyCollection)
	deleted := 0
	for {
		ids, err := store.Projections().DueBefore(ctx, gateway.IdempotencyCollection, idempotencyTimeField, now.Add(-idempotencyTTL), idempotencyBatch)
		if err != nil || len(ids) == 0 {
			return deleted, err
		}
		progress := false
		for _, id := range ids {
			version, err := docs.Get(ctx, id, nil)
			if emporium.IsCode(err, emporium.ENOTFOUND) {
				continue
			}
			if err != nil {
				return deleted, err
			}
			err = docs.Delete(ctx, id, version)
			switch {
			case err == nil:
				deleted++
				progress = true
			case emporium.IsCode(err, emporium.ENOTFOUND), emporium.IsCode(err, emporium.ECONFLICT):
			default:
				return deleted, err
			}
		}
		if !progress {
			return deleted, nil
		}
	}
}

// sweepIdempotency expires idempotency records every idempotencySweep
// until ctx ends.
func (n *Node) sweepIdempotency(ctx context.Context) {
	for {
		if deleted, err := expireIdempotency(ctx, n.Store, time.Now()); err != nil && ctx.Err() == nil {
			n.Logger.Warn("expiring idempotency records failed; trying again later", slog.Any("error", err))
		} else if deleted > 0 {
			n.Logger.Info("idempotency records expired", slog.Int("records", deleted))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(idempotencySweep):
		}
	}
}
