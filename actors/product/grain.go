package product

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/productpb"
)

// The actor shell of the ProductGrain: it persists each decision through
// actors.Entity, keeps SKUs unique across products with claims, and writes
// the product's read model (which the search indexer follows by version).

// Kind is the cluster kind name of the ProductGrain.
const Kind = "ProductGrain"

// Collections the ProductGrain writes beside its journal.
const (
	// SKUsCollection holds one claim per SKU, naming the product that owns it.
	SKUsCollection = "skus"
	// ViewCollection holds the read model: one document per product, with
	// its version for the search outbox.
	ViewCollection = "products"
)

// Config is what the ProductGrain needs from the node.
type Config struct {
	actors.GrainConfig
	// Claims keeps SKUs unique across products.
	Claims actors.Claims
	// Views receives each product's read model; nil keeps none.
	Views actors.Views
	// Changed, when set, is called with the product's id after each read
	// model is queued, so that the search indexer follows at once (the
	// read model itself stays pending for the indexer's sweep should the
	// call be lost). It must not block.
	Changed func(id string)
}

// NewKind returns the cluster kind that activates ProductGrains with cfg.
func NewKind(cfg Config) *cluster.Kind {
	cfg.WithDefaults()
	cfg.Activations.Register(Kind)
	return pb.NewProductGrainKind(func() pb.ProductGrain { return &grain{} }, cfg.IdleTimeout, configs.Hook(&cfg))
}

var configs actors.Configs[Config]

// Stream returns the journal stream of a product.
func Stream(id string) string { return "product-" + id }

// Replay rebuilds a product from its whole journal, ignoring snapshots.
func Replay(ctx context.Context, journal actors.Journal, id string) (*pb.State, error) {
	return actors.Replay(ctx, journal, Stream(id), newState(id), apply)
}

// grain is one activation of a ProductGrain.
type grain struct {
	actors.Activation[*pb.State]
	cfg *Config
	id  string
}

// Init loads the product and writes its read model, which a crash may have
// left behind the journal.
func (g *grain) Init(ctx cluster.GrainContext) {
	g.id = ctx.Identity()
	g.cfg = configs.Take(ctx.Self())
	e := actors.NewEntity(&g.cfg.GrainConfig, Stream(g.id),
		func() *pb.State { return newState(g.id) }, apply,
		func() proto.Message { return &pb.Fenced{} })
	e.Changed = g.project
	if g.Start(ctx, Kind, &g.cfg.GrainConfig, e); g.Loaded() {
		g.E.Refresh()
	}
}

// Terminate snapshots when that saves replay.
func (g *grain) Terminate(ctx cluster.GrainContext) { g.Stop(ctx) }

// ReceiveDefault ignores other messages: the grain has no timers.
func (g *grain) ReceiveDefault(cluster.GrainContext) {}

// Create makes the product, claiming its SKUs first.
func (g *grain) Create(req *pb.CreateRequest, ctx cluster.GrainContext) (*pb.Product, error) {
	return g.withSKUs(ctx, req, inputSKUs(req.Variants))
}

// Update changes the product; a new variant set claims its new SKUs first
// and gives up the ones it dropped afterwards.
func (g *grain) Update(req *pb.UpdateRequest, ctx cluster.GrainContext) (*pb.Product, error) {
	if req.VariantSet == nil {
		return g.write(ctx, req)
	}
	return g.withSKUs(ctx, req, inputSKUs(req.VariantSet.Variants))
}

// Publish makes a draft product active.
func (g *grain) Publish(req *pb.PublishRequest, ctx cluster.GrainContext) (*pb.Product, error) {
	return g.write(ctx, req)
}

// Archive takes the product off sale for good.
func (g *grain) Archive(req *pb.ArchiveRequest, ctx cluster.GrainContext) (*pb.Product, error) {
	return g.write(ctx, req)
}

// SetRating records the rating aggregate (from reviews).
func (g *grain) SetRating(req *pb.SetRatingRequest, ctx cluster.GrainContext) (*pb.Product, error) {
	return g.write(ctx, req)
}

// Get answers the product in any status; hiding drafts is the read side's.
func (g *grain) Get(req *pb.GetRequest, ctx cluster.GrainContext) (*pb.Product, error) {
	return g.read(ctx, req)
}

// GetForVendor answers the product to its vendor (or an admin) only.
func (g *grain) GetForVendor(req *pb.GetForVendorRequest, ctx cluster.GrainContext) (*pb.Product, error) {
	return g.read(ctx, req)
}

// write decides a command and persists its events.
func (g *grain) write(ctx cluster.GrainContext, cmd proto.Message) (*pb.Product, error) {
	if err := g.Usable(ctx); err != nil {
		return nil, err
	}
	now := g.cfg.Clock.Now()
	err := g.E.Run(true, func(s *pb.State) ([]proto.Message, error) { return decide(s, cmd, now) })
	if err != nil {
		return nil, actors.GrainError(g.Log, err)
	}
	return product(g.E.State), nil
}

// read answers from state after settling an unknown outcome, if any.
func (g *grain) read(ctx cluster.GrainContext, cmd proto.Message) (*pb.Product, error) {
	if err := g.Usable(ctx); err != nil {
		return nil, err
	}
	if err := g.E.Run(false); err != nil {
		return nil, actors.GrainError(g.Log, err)
	}
	if _, err := decide(g.E.State, cmd, g.cfg.Clock.Now()); err != nil {
		return nil, actors.GrainError(g.Log, err)
	}
	return product(g.E.State), nil
}

// withSKUs runs a command that brings SKUs: it claims those the product does
// not hold yet, runs the command, then gives up the SKUs the product no
// longer has (those the command dropped, or all it claimed if refused).
func (g *grain) withSKUs(ctx cluster.GrainContext, cmd proto.Message, wanted []string) (*pb.Product, error) {
	if err := g.Usable(ctx); err != nil {
		return nil, err
	}
	before := skus(g.E.State)
	var claimed []string
	for i, sku := range wanted {
		if slices.Contains(before, sku) {
			continue
		}
		if err := g.claim(sku); err != nil {
			g.release(claimed, nil)
			if emporium.IsCode(err, emporium.ECONFLICT) {
				return nil, actors.GrainError(g.Log, skuTaken(cmd, i, sku))
			}
			return nil, actors.GrainError(g.Log, err)
		}
		claimed = append(claimed, sku)
	}
	reply, err := g.write(ctx, cmd)
	// Whatever the outcome, the product keeps exactly the SKUs of its state.
	g.release(append(before, claimed...), skus(g.E.State))
	return reply, err
}

func (g *grain) claim(sku string) error {
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.IOTimeout)
	defer cancel()
	return g.cfg.Claims.Claim(ctx, SKUsCollection, sku, g.id)
}

// release gives up every SKU of some that keep does not hold. A failed
// release only leaves a SKU claimed by this product, which it can claim
// again; it is logged, not returned.
func (g *grain) release(some, keep []string) {
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.IOTimeout)
	defer cancel()
	for _, sku := range some {
		if slices.Contains(keep, sku) {
			continue
		}
		if err := g.cfg.Claims.Release(ctx, SKUsCollection, sku, g.id); err != nil {
			g.Log.Warn("product: releasing a SKU failed", slog.String("sku", sku), slog.Any("error", err))
		}
	}
}

// project writes the read model: the product as the API shows it, plus
// numeric version and the fields the search indexer and listings filter on.
func (g *grain) project(state *pb.State, seq uint64) {
	if g.cfg.Views == nil || !created(state) {
		return
	}
	p := product(state)
	raw, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(p)
	if err == nil {
		var doc map[string]any
		if err = json.Unmarshal(raw, &doc); err == nil {
			// protojson writes 64-bit numbers as strings; queries want numbers.
			doc["version"] = int64(p.Version)
			doc["skus"] = skus(state)
			g.cfg.Views.Put(ViewCollection, g.id, seq, doc)
			if g.cfg.Changed != nil {
				g.cfg.Changed(g.id)
			}
			return
		}
	}
	g.Log.Error("product: rendering the read model failed", slog.Any("error", err))
}

// inputSKUs lists the SKUs of variants as a command gives them.
func inputSKUs(variants []*pb.VariantInput) []string {
	out := make([]string, len(variants))
	for i, v := range variants {
		out[i] = v.Sku
	}
	return out
}

// skuTaken is the refusal of a SKU another product holds.
func skuTaken(cmd proto.Message, i int, sku string) error {
	field := fmt.Sprintf("variants[%d].sku", i)
	if _, ok := cmd.(*pb.UpdateRequest); ok {
		field = fmt.Sprintf("variant_set.variants[%d].sku", i)
	}
	e := emporium.Errorf(emporium.EINVALID, "SKU %q belongs to another product", sku)
	e.Fields = []emporium.FieldError{{Field: field, Code: emporium.FieldTaken, Message: e.Message}}
	return e
}

var _ pb.ProductGrain = (*grain)(nil)
