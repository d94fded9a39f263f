// Package cart is the CartGrain: one virtual actor per user, the single
// writer of that user's shopping cart (DESIGN §4), and the cart service
// (emporium.Carts) over it.
//
// The rules are a pure core (core.go: decide, apply, priced); kind.go
// declares the kind to the shell (actors.Spec) and grain.go holds its
// commands. The commands look up the catalogue facts of the
// cart's SKUs (Catalog) before each decision, persists the decision's events
// through actors.Entity before it replies, answers every command with the
// cart priced as the catalogue stands, and publishes each durable change for
// live clients (Config.Publish).
package cart

import (
	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/cartpb"
)

// Kind is the cluster kind name of the CartGrain.
const Kind = "CartGrain"

// Spec declares the CartGrain to the shell; its Stream and Replay serve
// audits and tests.
var Spec = actors.Spec[*pb.State, Config]{
	Kind:         Kind,
	StreamPrefix: "cart-",
	New:          newState,
	Apply:        apply,
	Fence:        func() proto.Message { return &pb.Fenced{} },
	Remembered:   func(s *pb.State) *[]string { return &s.RecentCommands },
}

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
	idle, hook := Spec.Configure(&cfg)
	return pb.NewCartGrainKind(func() pb.CartGrain { return actors.Bind(&grain{}) }, idle, hook)
}
