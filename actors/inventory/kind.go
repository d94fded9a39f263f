// Package inventory is the InventoryGrain: one virtual actor per SKU, the
// single writer of that SKU's stock (on hand, reservations, sold) and of
// the back-in-stock alerts waiting for it (alerts.go).
//
// The rules are a pure core (core.go: decide and apply); kind.go declares
// the kind to the shell (actors.Spec), which loads the state from the latest
// snapshot and the journal, expires what ran out before every decision,
// persists each command's events before it replies, and on a journal
// conflict (two activations of one SKU, which Proto.Actor allows for a
// moment while members join or leave) reloads and decides again. grain.go
// holds the commands. Reservations expire on a timer re-armed at every
// activation; the Sweeper wakes SKUs whose reservations expired while no
// activation held them.
package inventory

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/inventorypb"
)

// Kind is the cluster kind name of the InventoryGrain.
const Kind = "InventoryGrain"

// Spec declares the InventoryGrain to the shell; its Stream and Replay serve
// audits and tests.
var Spec = actors.Spec[*pb.State, Config]{
	Kind:         Kind,
	StreamPrefix: "inventory-",
	New:          newState,
	Apply:        apply,
	Fence:        func() proto.Message { return &pb.Fenced{} },
	Remembered:   func(s *pb.State) *[]string { return &s.RecentCommands },
	Expire:       expireDue,
}

// Config is what the InventoryGrain needs from the node.
type Config struct {
	actors.GrainConfig
	// Views receives each SKU's read model; nil keeps none (the sweeper
	// then finds nothing).
	Views actors.Views
	// StockChanged, when set, is called with the SKU after a read model is
	// queued whose in-stock flag (available > 0) differs from the one this
	// activation last projected, and after an activation's first one (a
	// crash may have lost the call of the activation before). The search
	// indexer follows stock through it. It must not block.
	StockChanged func(sku string)
	// Notify sends a user the back-in-stock notice n (a mail and a live
	// push). It runs off the grain's mailbox; an error tries it again
	// after NoticeRetry, up to MaxNoticeAttempts times in an activation.
	// It may be called again with a notice it sent, after a crash: it
	// should refuse a second send of one n.Key(). Nil sends none, and the
	// notices stay owed.
	Notify func(ctx context.Context, n Notice) error
	// NoticeRetry is the pause before a failed notice is tried again
	// (default 5 s).
	NoticeRetry time.Duration
}

// NewKind returns the cluster kind that activates InventoryGrains with cfg.
func NewKind(cfg Config) *cluster.Kind {
	if cfg.NoticeRetry == 0 {
		cfg.NoticeRetry = 5 * time.Second
	}
	idle, hook := Spec.Configure(&cfg)
	return pb.NewInventoryGrainKind(func() pb.InventoryGrain { return actors.Bind(&grain{}) }, idle, hook)
}
