package order

import (
	"context"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/cluster"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

// Due finds orders whose saga is due for a wake-up (persistence.Projections
// with an index on recover_at).
type Due interface {
	DueBefore(ctx context.Context, collection, field string, t time.Time, limit int) ([]string, error)
}

// Recovery wakes orders a node left unsettled (it died mid-saga, or the
// order's activation passivated while waiting for its buyer): every
// Interval it asks the read model for orders whose recover_at has passed
// and activates each, which resumes its saga from the journal. The first
// pass runs at once and wakes every unsettled order, not only those a
// minute old, so a restarted node finishes at once what it left (waking an
// order whose saga runs on another member costs a request, no more).
type Recovery struct {
	Cluster  *cluster.Cluster
	Due      Due
	Metrics  *Metrics
	Logger   *slog.Logger
	Interval time.Duration
	Now      func() time.Time
}

// recoveryBatch bounds the orders one pass wakes.
const recoveryBatch = 500

// Run wakes due orders until ctx ends.
func (r *Recovery) Run(ctx context.Context) {
	interval := r.Interval
	if interval == 0 {
		interval = 15 * time.Second
	}
	for first := true; ; first = false {
		ahead := time.Duration(0)
		if first {
			ahead = recoverAfter
		}
		if n, err := r.pass(ctx, ahead); err != nil && ctx.Err() == nil {
			r.Logger.Warn("order recovery: a pass failed", slog.Any("error", err))
		} else if n > 0 {
			r.Logger.Info("order recovery: woke unsettled orders", slog.Int("orders", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// Pass wakes the orders due now and returns how many it woke.
func (r *Recovery) Pass(ctx context.Context) (int, error) { return r.pass(ctx, 0) }

// pass wakes the orders due by now+ahead.
func (r *Recovery) pass(ctx context.Context, ahead time.Duration) (int, error) {
	now := time.Now().UTC()
	if r.Now != nil {
		now = r.Now()
	}
	keys, err := r.Due.DueBefore(ctx, ViewCollection, "recover_at", now.Add(ahead), recoveryBatch)
	if err != nil {
		return 0, emporium.Wrap("order.Recovery", err)
	}
	if ahead == 0 {
		r.Metrics.stuck(len(keys))
	}
	for _, key := range keys {
		id := orderIDOf(key)
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := pb.GetOrderGrainGrainClient(r.Cluster, id).Get(&pb.GetRequest{Admin: true}, actors.Within(callCtx, r.Cluster))
		cancel()
		if err != nil && ctx.Err() == nil {
			r.Logger.Warn("order recovery: waking an order failed", slog.String("order", id), slog.Any("error", err))
		}
	}
	return len(keys), nil
}
