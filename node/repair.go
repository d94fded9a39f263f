package node

import (
	"context"
	"log/slog"
	"sync/atomic"

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

// viewRepair is the node's actors.ViewRepair, and whether the node may
// take its heartbeat out when it stops: only after its last projections
// were written.
type viewRepair struct {
	*actors.ViewRepair
	flushed atomic.Bool
}

// newViewRepair makes the node's ViewRepair; startLoops runs it.
func (n *Node) newViewRepair() *viewRepair {
	c := n.Cluster
	return &viewRepair{ViewRepair: actors.NewViewRepair(actors.ViewRepairConfig{
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
	})}
}

// stopHeartbeat takes the node's heartbeat out when its last projections
// were written; otherwise it stays, and another member (or this node's
// next run) repairs after it.
func (n *Node) stopHeartbeat(ctx context.Context) error {
	r := n.repair
	if r == nil {
		return nil
	}
	if !r.flushed.Load() {
		n.Logger.Warn("the node's last read models may not all be written; its heartbeat stays, so that the next member to find it repairs them")
		return nil
	}
	if err := r.Stop(ctx); err != nil {
		n.Logger.Warn("taking the node's heartbeat out failed; another member will wake the grains it had", slog.Any("error", err))
	}
	return nil
}
