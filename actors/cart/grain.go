package cart

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/cartpb"
)

// grain is one activation of a CartGrain.
type grain struct {
	actors.Activation[*pb.State, Config]
}

// AddItem adds units of a SKU, merging into its line.
func (g *grain) AddItem(req *pb.AddItemRequest, ctx cluster.GrainContext) (*pb.Cart, error) {
	return g.write(ctx, req)
}

// UpdateLine sets a line's quantity.
func (g *grain) UpdateLine(req *pb.UpdateLineRequest, ctx cluster.GrainContext) (*pb.Cart, error) {
	return g.write(ctx, req)
}

// RemoveLine removes a line.
func (g *grain) RemoveLine(req *pb.RemoveLineRequest, ctx cluster.GrainContext) (*pb.Cart, error) {
	return g.write(ctx, req)
}

// Clear empties the cart.
func (g *grain) Clear(req *pb.ClearRequest, ctx cluster.GrainContext) (*pb.Cart, error) {
	return g.write(ctx, req)
}

// CheckOut takes an order's units out of the cart.
func (g *grain) CheckOut(req *pb.CheckOutRequest, ctx cluster.GrainContext) (*pb.Cart, error) {
	return g.write(ctx, req)
}

// Get answers the cart after settling an unknown outcome, if any.
func (g *grain) Get(_ *pb.GetRequest, ctx cluster.GrainContext) (*pb.Cart, error) {
	if err := g.Query(ctx); err != nil {
		return nil, err
	}
	cart, err := g.answer(nil)
	if err != nil {
		return nil, actors.GrainError(g.Log, err)
	}
	return cart, nil
}

// write looks up the facts of the cart's SKUs and the command's, decides the
// command and persists its events, and answers the priced cart. The facts
// are looked up again only when a reload (the journal moved) brought lines
// they do not cover, so a command costs one catalogue call.
func (g *grain) write(ctx cluster.GrainContext, cmd proto.Message) (*pb.Cart, error) {
	before := g.Entity.Seq
	var f *facts
	err := g.Command(ctx, cmd, func(s *pb.State, now time.Time) ([]proto.Message, error) {
		var err error
		if f, err = g.lookup(needs(s, cmd), f); err != nil {
			return nil, err
		}
		return decide(s, cmd, f.items, now)
	})
	if err != nil {
		return nil, err
	}
	cart, err := g.answer(f)
	if err != nil {
		return nil, actors.GrainError(g.Log, err)
	}
	if g.Entity.Seq != before && g.Config.Publish != nil {
		g.Config.Publish(g.ID(), cart)
	}
	return cart, nil
}

// answer prices the current state with the facts in have, looking up the
// SKUs they do not cover.
func (g *grain) answer(have *facts) (*pb.Cart, error) {
	f, err := g.lookup(needs(g.Entity.State, nil), have)
	if err != nil {
		return nil, err
	}
	return priced(g.Entity.State, g.Entity.Seq, f.items), nil
}

// facts are the catalogue's answer for the SKUs it was asked about; a SKU
// asked about and absent from items is one the catalogue does not know.
type facts struct {
	items map[string]Item
	asked map[string]bool
}

// covers reports whether the catalogue was asked about every SKU of skus.
func (f *facts) covers(skus []string) bool {
	for _, sku := range skus {
		if !f.asked[sku] {
			return false
		}
	}
	return true
}

// lookup returns have when it covers skus, and otherwise asks the
// catalogue about all of skus in one call.
func (g *grain) lookup(skus []string, have *facts) (*facts, error) {
	if have != nil && have.covers(skus) {
		return have, nil
	}
	f := &facts{items: map[string]Item{}, asked: make(map[string]bool, len(skus))}
	for _, sku := range skus {
		f.asked[sku] = true
	}
	if len(skus) == 0 {
		return f, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.Config.IOTimeout)
	defer cancel()
	items, err := g.Config.Catalog.Items(ctx, skus...)
	if err != nil {
		return nil, emporium.Wrap("cart.lookup", err)
	}
	if items != nil {
		f.items = items
	}
	return f, nil
}

var _ pb.CartGrain = (*grain)(nil)
