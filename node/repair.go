package node

import (
	"context"
	"log/slog"

	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/category"
	"github.com/emporium-shop/emporium/actors/inventory"
	"github.com/emporium-shop/emporium/actors/product"
	"github.com/emporium-shop/emporium/actors/user"
)

// HeartbeatsCollection holds the members' heartbeats (actors.ViewRepair).
const HeartbeatsCollection = "members"

// repairTargets are the grain kinds whose read model a dead member's lost
// projections could leave behind with nothing to wake them. Orders are not
// among them: the order recovery loop wakes every order whose read model
// shows it unfinished, and an activation projects afresh.
func repairTargets() []actors.RepairTarget {
	return []actors.RepairTarget{
		{Kind: inventory.Spec.Kind, StreamPrefix: inventory.Spec.StreamPrefix, Collection: inventory.ViewCollection},
		{Kind: product.Spec.Kind, StreamPrefix: product.Spec.StreamPrefix, Collection: product.ViewCollection},
		{Kind: category.Spec.Kind, StreamPrefix: category.Spec.StreamPrefix, Collection: category.ViewCollection},
		{Kind: user.Spec.Kind, StreamPrefix: user.Spec.StreamPrefix, Collection: user.VendorsCollection, Sparse: true},
	}
}

// newViewRepair makes the node's ViewRepair; startLoops runs it.
func (n *Node) newViewRepair() *actors.ViewRepair {
	c := n.Cluster
	return actors.NewViewRepair(actors.ViewRepairConfig{
		Member:     c.ActorSystem.ID,
		Address:    c.ActorSystem.Address(),
		Targets:    repairTargets(),
		Journal:    n.Store.Journal(),
		Views:      n.Store.Projections(),
		Heartbeats: n.Store.Documents(HeartbeatsCollection),
		Wake:       func(_ context.Context, kind, id string) error { return actors.Wake(c, kind, id) },
		Logger:     n.Logger,
		Every:      n.Config.DeadAfter / 6,
		DeadAfter:  n.Config.DeadAfter,
	})
}

// stopHeartbeat takes the node's heartbeat out once its last projections
// are written (flushErr, the final flush's error, is nil); otherwise the
// heartbeat stays, and another member (or this node's next run) repairs
// after it. leave calls it last, after the background loops stopped
// beating.
func (n *Node) stopHeartbeat(ctx context.Context, flushErr error) {
	if n.repair == nil {
		return
	}
	if flushErr != nil {
		n.Logger.Warn("the node's last read models may not all be written; its heartbeat stays, so that the next member to find it repairs them")
		return
	}
	if err := n.repair.Stop(ctx); err != nil {
		n.Logger.Warn("taking the node's heartbeat out failed; another member will wake the grains it had", slog.Any("error", err))
	}
}
