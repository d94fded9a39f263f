package cart

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"maps"

	"github.com/asynkron/protoactor-go/cluster"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/cartpb"
)

// ServiceConfig is what the cart service needs.
type ServiceConfig struct {
	// Cluster reaches the CartGrain kind.
	Cluster *cluster.Cluster
	// NewID returns a random command id for a request without an
	// Idempotency-Key; the default is crypto/rand.Text.
	NewID func() string
}

// Service is the cart service (emporium.Carts) over the CartGrain: each
// caller's cart is the grain whose identity is their user id, so nobody
// reaches another's cart.
type Service struct {
	cfg ServiceConfig
}

var _ emporium.Carts = (*Service)(nil)

// NewService checks cfg and returns the service.
func NewService(cfg ServiceConfig) (*Service, error) {
	if cfg.Cluster == nil {
		panic("cart.NewService: Cluster is required") // a wiring mistake
	}
	if cfg.NewID == nil {
		cfg.NewID = rand.Text
	}
	return &Service{cfg: cfg}, nil
}

// Cart answers the caller's cart.
func (s *Service) Cart(ctx context.Context, p emporium.Principal) (emporium.Cart, error) {
	const op = "cart.Cart"
	return s.call(ctx, op, p, func(g *pb.CartGrainGrainClient, w cluster.GrainCallOption) (*pb.Cart, error) {
		return g.Get(&pb.GetRequest{}, w)
	})
}

// AddItem adds units of a SKU to the caller's cart. With an Idempotency-Key
// (key) the command id is derived from the caller and the key, so that a
// retried request, even through another node, changes the cart once.
func (s *Service) AddItem(ctx context.Context, p emporium.Principal, in emporium.CartItemInput, key string) (emporium.Cart, error) {
	const op = "cart.AddItem"
	req := &pb.AddItemRequest{CommandId: s.commandID(p, "add", key), Sku: in.SKU, Quantity: in.Quantity}
	return s.call(ctx, op, p, func(g *pb.CartGrainGrainClient, w cluster.GrainCallOption) (*pb.Cart, error) {
		return g.AddItem(req, w)
	})
}

// UpdateLine sets the quantity of one of the caller's lines.
func (s *Service) UpdateLine(ctx context.Context, p emporium.Principal, lineID string, quantity int64) (emporium.Cart, error) {
	const op = "cart.UpdateLine"
	req := &pb.UpdateLineRequest{CommandId: s.cfg.NewID(), LineId: lineID, Quantity: quantity}
	return s.call(ctx, op, p, func(g *pb.CartGrainGrainClient, w cluster.GrainCallOption) (*pb.Cart, error) {
		return g.UpdateLine(req, w)
	})
}

// RemoveLine removes one of the caller's lines.
func (s *Service) RemoveLine(ctx context.Context, p emporium.Principal, lineID string) (emporium.Cart, error) {
	const op = "cart.RemoveLine"
	req := &pb.RemoveLineRequest{CommandId: s.cfg.NewID(), LineId: lineID}
	return s.call(ctx, op, p, func(g *pb.CartGrainGrainClient, w cluster.GrainCallOption) (*pb.Cart, error) {
		return g.RemoveLine(req, w)
	})
}

// Clear empties the caller's cart.
func (s *Service) Clear(ctx context.Context, p emporium.Principal) (emporium.Cart, error) {
	const op = "cart.Clear"
	req := &pb.ClearRequest{CommandId: s.cfg.NewID()}
	return s.call(ctx, op, p, func(g *pb.CartGrainGrainClient, w cluster.GrainCallOption) (*pb.Cart, error) { return g.Clear(req, w) })
}

// call runs one request on the caller's CartGrain, bounded by ctx (fn passes
// the option on to the grain call), and presents its answer.
func (s *Service) call(ctx context.Context, op string, p emporium.Principal, fn func(*pb.CartGrainGrainClient, cluster.GrainCallOption) (*pb.Cart, error)) (emporium.Cart, error) {
	if p.UserID == "" {
		// The generated client panics on an empty identity.
		return emporium.Cart{}, &emporium.Error{Code: emporium.EUNAUTHENTICATED, Op: op, Message: "Sign in to use a cart."}
	}
	out, err := fn(pb.GetCartGrainGrainClient(s.cfg.Cluster, p.UserID), actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.Cart{}, emporium.GrainCall(op, err)
	}
	return FromProto(out), nil
}

// commandID returns the command id of a request: derived from the caller
// and the Idempotency-Key when there is one (hashed, so that any key fits
// the grain's limit on ids), random otherwise.
func (s *Service) commandID(p emporium.Principal, what, key string) string {
	if key == "" {
		return s.cfg.NewID()
	}
	sum := sha256.Sum256([]byte(p.UserID + "\x00" + key))
	return what + ":" + hex.EncodeToString(sum[:])
}

// FromProto presents a grain's cart as the API shows it. Slices and maps are
// never nil, so that the JSON shows empty lists rather than nulls. The node
// uses it to put a published cart into a live event.
func FromProto(c *pb.Cart) emporium.Cart {
	out := emporium.Cart{
		Lines:     make([]emporium.CartLine, len(c.GetLines())),
		Subtotal:  moneyOf(c.GetSubtotal()),
		ItemCount: c.GetItemCount(),
		Seq:       c.GetSeq(),
	}
	if c.GetUpdatedAt() != nil {
		out.UpdatedAt = c.GetUpdatedAt().AsTime().UTC()
	}
	for i, l := range c.GetLines() {
		out.Lines[i] = emporium.CartLine{
			LineID:         l.LineId,
			ProductID:      l.ProductId,
			SKU:            l.Sku,
			Title:          l.Title,
			Options:        maps.Clone(l.Options),
			Quantity:       l.Quantity,
			UnitPrice:      moneyOf(l.UnitPrice),
			LineTotal:      moneyOf(l.LineTotal),
			Available:      l.Available,
			PriceChanged:   l.PriceChanged,
			PriceWhenAdded: moneyOf(l.PriceWhenAdded),
			Purchasable:    l.Purchasable,
			AddedAt:        l.GetAddedAt().AsTime().UTC(),
		}
		if out.Lines[i].Options == nil {
			out.Lines[i].Options = map[string]string{}
		}
	}
	return out
}

func moneyOf(m *pb.Money) emporium.Money {
	return emporium.Money{Amount: m.GetAmount(), Currency: m.GetCurrency()}
}
