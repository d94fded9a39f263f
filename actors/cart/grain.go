// Package cart is the CartGrain: one virtual actor per user, the single
// writer of that user's shopping cart (DESIGN §4), and the cart service
// (emporium.Carts) over it.
//
// The rules are a pure core (core.go: decide, apply, priced); grain.go is
// the actor shell around it. The shell looks up the catalogue facts of the
// cart's SKUs (Catalog) before each decision, persists the decision's events
// through actors.Entity before it replies, answers every command with the
// cart priced as the catalogue stands, and publishes each durable change for
// live clients (Config.Publish).
package cart

import (
	"context"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/cartpb"
)

// Kind is the cluster kind name of the CartGrain.
const Kind = "CartGrain"

// EventType is the type of the live event (emporium.LiveEvent) a cart change
// is pushed as.
const EventType = "cart.updated"

// Config is what the CartGrain needs from the node.
type Config struct {
	actors.GrainConfig
	// Catalog answers the catalogue facts of SKUs (catalog.Items over the
	// read models); required.
	Catalog Catalog
	// Publish, when set, is called with the user id and the priced cart
	// after each change is durable, before the reply, so that the node can
	// push it to the user's live connections (DESIGN §4 "Live updates").
	// It runs on the grain's goroutine and must return at once: hand the
	// cart to a queue or a goroutine, never wait for Redis or a client. The
	// cart is the one the grain answers with, and shares parts with the
	// grain's state: read it (marshal it, convert it with FromProto), never
	// change it. A lost push costs nothing: clients notice the gap in seq
	// and fetch the cart.
	Publish func(userID string, cart *pb.Cart)
}

// NewKind returns the cluster kind that activates CartGrains with cfg. It
// panics without a Catalog, a wiring mistake to find at start-up.
func NewKind(cfg Config) *cluster.Kind {
	if cfg.Catalog == nil {
		panic("cart.NewKind: Config.Catalog is required")
	}
	cfg.WithDefaults()
	cfg.Activations.Register(Kind)
	return pb.NewCartGrainKind(func() pb.CartGrain { return &grain{} }, cfg.IdleTimeout, configs.Hook(&cfg))
}

// configs hands each activation its kind's Config.
var configs actors.Configs[Config]

// Stream returns the journal stream of a user's cart.
func Stream(userID string) string { return "cart-" + userID }

// Replay rebuilds a user's cart from its whole journal, ignoring snapshots,
// the way an audit or a test checks what the grain holds.
func Replay(ctx context.Context, journal actors.Journal, userID string) (*pb.State, error) {
	return actors.Replay(ctx, journal, Stream(userID), newState(userID), apply)
}

// grain is one activation of a CartGrain.
type grain struct {
	actors.Activation[*pb.State]
	cfg    *Config
	userID string
}

// Init loads the cart.
func (g *grain) Init(ctx cluster.GrainContext) {
	g.userID = ctx.Identity()
	g.cfg = configs.Take(ctx.Self())
	e := actors.NewEntity(&g.cfg.GrainConfig, Stream(g.userID),
		func() *pb.State { return newState(g.userID) }, apply,
		func() proto.Message { return &pb.Fenced{} })
	g.Start(ctx, Kind, &g.cfg.GrainConfig, e)
}

// Terminate snapshots when that saves replay.
func (g *grain) Terminate(ctx cluster.GrainContext) { g.Stop(ctx) }

// ReceiveDefault ignores other messages: the grain has no timers.
func (g *grain) ReceiveDefault(cluster.GrainContext) {}

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

// Get answers the cart after settling an unknown outcome, if any.
func (g *grain) Get(_ *pb.GetRequest, ctx cluster.GrainContext) (*pb.Cart, error) {
	if err := g.Usable(ctx); err != nil {
		return nil, err
	}
	if err := g.E.Run(false); err != nil {
		return nil, actors.GrainError(g.Log, err)
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
	if err := g.Usable(ctx); err != nil {
		return nil, err
	}
	before := g.E.Seq
	now := g.cfg.Clock.Now()
	var f *facts
	err := g.E.Run(true, func(s *pb.State) ([]proto.Message, error) {
		var err error
		if f, err = g.lookup(needs(s, cmd), f); err != nil {
			return nil, err
		}
		return decide(s, cmd, f.items, now)
	})
	if err != nil {
		return nil, actors.GrainError(g.Log, err)
	}
	cart, err := g.answer(f)
	if err != nil {
		return nil, actors.GrainError(g.Log, err)
	}
	if g.E.Seq != before && g.cfg.Publish != nil {
		g.cfg.Publish(g.userID, cart)
	}
	return cart, nil
}

// answer prices the current state with the facts in have, looking up the
// SKUs they do not cover.
func (g *grain) answer(have *facts) (*pb.Cart, error) {
	f, err := g.lookup(needs(g.E.State, nil), have)
	if err != nil {
		return nil, err
	}
	return priced(g.E.State, g.E.Seq, f.items), nil
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
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.IOTimeout)
	defer cancel()
	items, err := g.cfg.Catalog.Items(ctx, skus...)
	if err != nil {
		return nil, emporium.Wrap("cart.lookup", err)
	}
	if items != nil {
		f.items = items
	}
	return f, nil
}

var _ pb.CartGrain = (*grain)(nil)
