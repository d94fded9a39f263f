// Package inventory is the InventoryGrain: one virtual actor per SKU, the
// single writer of that SKU's stock (on hand, reservations, sold).
//
// The rules are a pure core (core.go: decide and apply); this file is the
// actor shell around it. The shell loads the state from the latest snapshot
// and the journal, persists each command's events before it replies, and on
// a journal conflict (two activations of one SKU, which Proto.Actor allows
// for a moment while members join or leave) reloads and decides again.
// Reservations expire on a timer re-armed at every activation; the Sweeper
// wakes SKUs whose reservations expired while no activation held them.
package inventory

import (
	"context"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/inventorypb"
)

// Kind is the cluster kind name of the InventoryGrain.
const Kind = "InventoryGrain"

// ViewCollection is the read-model collection the grain projects each SKU's
// stock into; the sweeper queries its next_expiry field.
const ViewCollection = "inventory"

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
}

// NewKind returns the cluster kind that activates InventoryGrains with cfg.
func NewKind(cfg Config) *cluster.Kind {
	cfg.WithDefaults()
	cfg.Activations.Register(Kind)
	return pb.NewInventoryGrainKind(func() pb.InventoryGrain { return &grain{} }, cfg.IdleTimeout, configs.Hook(&cfg))
}

// configs hands each activation its kind's Config.
var configs actors.Configs[Config]

// grain is one activation of an InventoryGrain.
type grain struct {
	actors.Activation[*pb.State]
	cfg   *Config
	sku   string
	timer actors.Timer
	// projected and inStock remember whether this activation projected its
	// read model yet, and the in-stock flag it last projected.
	projected, inStock bool
}

// expireTick is the timer's message to its own activation. It is a local
// message only and never crosses the cluster.
type expireTick struct{}

// Init loads the SKU's state, writes its read model (which a crash may have
// left behind the journal) and releases what expired while no activation
// held it.
func (g *grain) Init(ctx cluster.GrainContext) {
	g.sku = ctx.Identity()
	g.cfg = configs.Take(ctx.Self())
	e := actors.NewEntity(&g.cfg.GrainConfig, Stream(g.sku),
		func() *pb.State { return newState(g.sku) }, apply,
		func() proto.Message { return &pb.Fenced{} })
	e.Changed = g.project
	if g.Start(ctx, Kind, &g.cfg.GrainConfig, e); !g.Loaded() {
		return
	}
	g.E.Refresh()
	if err := g.run(ctx, nil); err != nil {
		g.Log.Warn("inventory: releasing expired reservations failed", slog.Any("error", err))
	}
}

// Terminate stops the expiry timer and snapshots when that saves replay.
func (g *grain) Terminate(ctx cluster.GrainContext) {
	if g.timer != nil {
		g.timer.Stop()
	}
	g.Stop(ctx)
}

// ReceiveDefault handles the messages that are not grain requests: the
// expiry timer.
func (g *grain) ReceiveDefault(ctx cluster.GrainContext) {
	if _, ok := ctx.Message().(*expireTick); ok {
		g.onExpireTick(ctx)
	}
}

// SetStock sets the units on hand.
func (g *grain) SetStock(req *pb.SetStockRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	return g.command(ctx, req, "")
}

// Restock adds units on hand.
func (g *grain) Restock(req *pb.RestockRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	return g.command(ctx, req, "")
}

// Reserve holds units for an order.
func (g *grain) Reserve(req *pb.ReserveRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	return g.command(ctx, req, req.OrderId)
}

// Release gives an order's reservation back.
func (g *grain) Release(req *pb.ReleaseRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	return g.command(ctx, req, req.OrderId)
}

// Commit turns an order's reservation into a sale.
func (g *grain) Commit(req *pb.CommitRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	return g.command(ctx, req, req.OrderId)
}

// GetAvailability answers the current stock.
func (g *grain) GetAvailability(req *pb.GetAvailabilityRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	return g.command(ctx, req, "")
}

func (g *grain) onExpireTick(ctx cluster.GrainContext) {
	if !g.Loaded() {
		return
	}
	if err := g.run(ctx, nil); err != nil {
		// run armed the timer for an expiry already due; wait a while
		// instead. A store outage only delays expiry.
		g.Log.Warn("inventory: expiring reservations failed", slog.Any("error", err))
		g.arm(ctx, g.cfg.IOTimeout)
	}
}

// command runs one grain request and turns its error into the form that
// crosses the cluster.
func (g *grain) command(ctx cluster.GrainContext, cmd proto.Message, orderID string) (*pb.Stock, error) {
	if err := g.Usable(ctx); err != nil {
		return nil, err
	}
	if err := g.run(ctx, cmd); err != nil {
		return nil, actors.GrainError(g.Log, err)
	}
	return stock(g.E.State, g.E.Seq, orderID), nil
}

// run releases what expired, then decides cmd (when not nil), each persisted
// before the state changes, and re-arms the expiry timer.
func (g *grain) run(ctx cluster.GrainContext, cmd proto.Message) error {
	defer g.arm(ctx, 0)
	now := g.cfg.Clock.Now()
	expire := func(s *pb.State) ([]proto.Message, error) { return expireDue(s, now), nil }
	if cmd == nil {
		return g.E.Run(false, expire)
	}
	_, query := cmd.(*pb.GetAvailabilityRequest)
	return g.E.Run(!query, expire, func(s *pb.State) ([]proto.Message, error) {
		return decide(s, cmd, now)
	})
}

// View is the read-model document of one SKU's stock.
type View struct {
	SKU        string     `bson:"sku"`
	OnHand     int64      `bson:"on_hand"`
	Reserved   int64      `bson:"reserved"`
	Available  int64      `bson:"available"`
	Sold       int64      `bson:"sold"`
	NextExpiry *time.Time `bson:"next_expiry"`
}

func (g *grain) project(state *pb.State, seq uint64) {
	if g.cfg.Views == nil {
		return
	}
	s := stock(state, seq, "")
	v := View{SKU: s.Sku, OnHand: s.OnHand, Reserved: s.Reserved, Available: s.Available, Sold: s.Sold}
	if at, ok := nextExpiry(state); ok {
		v.NextExpiry = &at
	}
	g.cfg.Views.Put(ViewCollection, g.sku, seq, v)
	inStock := v.Available > 0
	if g.cfg.StockChanged != nil && (!g.projected || inStock != g.inStock) {
		g.cfg.StockChanged(g.sku)
	}
	g.projected, g.inStock = true, inStock
}

// arm sets the expiry timer for the earliest held reservation, or after
// delay when it is not zero.
func (g *grain) arm(ctx cluster.GrainContext, delay time.Duration) {
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	if delay == 0 {
		next, ok := nextExpiry(g.E.State)
		if !ok {
			return
		}
		delay = max(next.Sub(g.cfg.Clock.Now()), time.Millisecond)
	}
	system, self := ctx.ActorSystem(), ctx.Self()
	g.timer = g.cfg.Clock.AfterFunc(delay, func() {
		system.Root.Send(self, &expireTick{})
	})
}

// Stream returns the journal stream of a SKU's events.
func Stream(sku string) string { return "inventory-" + sku }

// Replay rebuilds a SKU's state from its whole journal, ignoring snapshots,
// the way an audit or a test checks what the grain holds.
func Replay(ctx context.Context, journal actors.Journal, sku string) (*pb.State, error) {
	return actors.Replay(ctx, journal, Stream(sku), newState(sku), apply)
}

var _ pb.InventoryGrain = (*grain)(nil)
var _ actor.Actor = (*pb.InventoryGrainActor)(nil)
