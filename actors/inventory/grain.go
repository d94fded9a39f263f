package inventory

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/inventorypb"
)

// ViewCollection is the read-model collection the grain projects each SKU's
// stock into; the sweeper queries its next_expiry field.
const ViewCollection = "inventory"

// grain is one activation of an InventoryGrain.
type grain struct {
	actors.Activation[*pb.State, Config]
	timer actors.Timer
	// projected and inStock remember whether this activation projected its
	// read model yet, and the in-stock flag it last projected.
	projected, inStock bool
}

// expireTick is the timer's message to its own activation. It is a local
// message only and never crosses the cluster.
type expireTick struct{}

// Started releases what expired while no activation held the SKU (the
// shell expires before every decision, a query too) and arms the timer.
func (g *grain) Started(ctx cluster.GrainContext) {
	if err := g.Query(ctx); err != nil {
		g.Log.Warn("inventory: releasing expired reservations failed", slog.Any("error", err))
	}
	g.arm(ctx, 0)
}

// Stopping stops the expiry timer.
func (g *grain) Stopping(cluster.GrainContext) {
	if g.timer != nil {
		g.timer.Stop()
	}
}

// Receive handles the expiry timer.
func (g *grain) Receive(ctx cluster.GrainContext) {
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

// Return gives an order's units back.
func (g *grain) Return(req *pb.ReturnRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	return g.command(ctx, req, req.OrderId)
}

// GetAvailability answers the current stock, after what expired is
// released.
func (g *grain) GetAvailability(_ *pb.GetAvailabilityRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	defer g.arm(ctx, 0)
	if err := g.Query(ctx); err != nil {
		return nil, err
	}
	return stock(g.Entity.State, g.Entity.Seq, ""), nil
}

func (g *grain) onExpireTick(ctx cluster.GrainContext) {
	if !g.Loaded() {
		return
	}
	if err := g.Query(ctx); err != nil {
		// A store outage only delays expiry: try again after a while
		// rather than at an expiry already due.
		g.Log.Warn("inventory: expiring reservations failed", slog.Any("error", err))
		g.arm(ctx, g.Config.IOTimeout)
		return
	}
	g.arm(ctx, 0)
}

// command decides cmd and persists its events (after what expired), re-arms
// the expiry timer, and answers the stock with orderID's reservation.
func (g *grain) command(ctx cluster.GrainContext, cmd proto.Message, orderID string) (*pb.Stock, error) {
	defer g.arm(ctx, 0)
	err := g.Command(ctx, cmd, func(s *pb.State, now time.Time) ([]proto.Message, error) {
		return decide(s, cmd, now)
	})
	if err != nil {
		return nil, err
	}
	return stock(g.Entity.State, g.Entity.Seq, orderID), nil
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

// Project writes the SKU's read model and tells StockChanged when the
// in-stock flag moved.
func (g *grain) Project(state *pb.State, seq uint64) {
	if g.Config.Views == nil {
		return
	}
	s := stock(state, seq, "")
	v := View{SKU: s.Sku, OnHand: s.OnHand, Reserved: s.Reserved, Available: s.Available, Sold: s.Sold}
	if at, ok := nextExpiry(state); ok {
		v.NextExpiry = &at
	}
	g.Config.Views.Put(ViewCollection, g.ID(), seq, v)
	inStock := v.Available > 0
	if g.Config.StockChanged != nil && (!g.projected || inStock != g.inStock) {
		g.Config.StockChanged(g.ID())
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
	if !g.Loaded() {
		return
	}
	if delay == 0 {
		next, ok := nextExpiry(g.Entity.State)
		if !ok {
			return
		}
		delay = max(next.Sub(g.Now()), time.Millisecond)
	}
	system, self := ctx.ActorSystem(), ctx.Self()
	g.timer = g.Config.Clock.AfterFunc(delay, func() {
		system.Root.Send(self, &expireTick{})
	})
}

var _ pb.InventoryGrain = (*grain)(nil)
