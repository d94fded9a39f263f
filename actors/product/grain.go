package product

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/productpb"
)

// The commands of the ProductGrain (declared to the shell in kind.go): they
// keep SKUs unique across products with claims, and the grain writes the
// product's read model (which the search indexer follows by version).

// grain is one activation of a ProductGrain.
type grain struct {
	actors.Activation[*pb.State, Config]
	// projected is the product this activation last wrote to the read
	// model, nil before its first write.
	projected *pb.Product
	// reviewsOnce and reviewsProjected say whether this activation wrote
	// the reviews' read models yet, and at which reviews_version.
	reviewsOnce      bool
	reviewsProjected uint64
}

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

// PostReview adds a buyer's review; the rating moves with it.
func (g *grain) PostReview(req *pb.PostReviewRequest, ctx cluster.GrainContext) (*pb.ReviewAnswer, error) {
	return g.review(ctx, req)
}

// EditReview changes the buyer's listed review.
func (g *grain) EditReview(req *pb.EditReviewRequest, ctx cluster.GrainContext) (*pb.ReviewAnswer, error) {
	return g.review(ctx, req)
}

// DeleteReview withdraws the buyer's listed review.
func (g *grain) DeleteReview(req *pb.DeleteReviewRequest, ctx cluster.GrainContext) (*pb.ReviewAnswer, error) {
	return g.review(ctx, req)
}

// ReplyToReview adds the owning vendor's reply to a review.
func (g *grain) ReplyToReview(req *pb.ReplyToReviewRequest, ctx cluster.GrainContext) (*pb.ReviewAnswer, error) {
	return g.review(ctx, req)
}

// RemoveReview takes a review down (admins).
func (g *grain) RemoveReview(req *pb.RemoveReviewRequest, ctx cluster.GrainContext) (*pb.ReviewAnswer, error) {
	return g.review(ctx, req)
}

// review decides a review command and persists its events; a retry (its
// command id remembered) is answered from the state like the first try.
func (g *grain) review(ctx cluster.GrainContext, cmd proto.Message) (*pb.ReviewAnswer, error) {
	if err := g.Command(ctx, cmd, decideStep(cmd)); err != nil {
		return nil, err
	}
	return reviewAnswer(g.Entity.State, cmd), nil
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
	if err := g.Command(ctx, cmd, decideStep(cmd)); err != nil {
		return nil, err
	}
	return product(g.Entity.State), nil
}

// read answers from state after settling an unknown outcome, if any, when
// decide lets the caller see it.
func (g *grain) read(ctx cluster.GrainContext, cmd proto.Message) (*pb.Product, error) {
	if err := g.Query(ctx, decideStep(cmd)); err != nil {
		return nil, err
	}
	return product(g.Entity.State), nil
}

// decideStep is the step that decides cmd with the core.
func decideStep(cmd proto.Message) actors.Step[*pb.State] {
	return func(s *pb.State, now time.Time) ([]proto.Message, error) { return decide(s, cmd, now) }
}

// withSKUs runs a command that brings SKUs: it claims those the product does
// not hold yet, runs the command, then gives up the SKUs the product no
// longer has (those the command dropped, or all it claimed if refused).
//
// The command is decided once before anything is claimed, so that one the
// core refuses (too many variants, a malformed SKU, any other limit) costs
// no write and leaves no claim: it goes straight to write, which refuses it
// again, or answers it from state if it is a retry the state remembers. The
// claims together take at most claimBudget; past it, what was claimed is
// given up and the command answers EUNAVAILABLE.
func (g *grain) withSKUs(ctx cluster.GrainContext, cmd proto.Message, wanted []string) (*pb.Product, error) {
	if err := g.Usable(ctx); err != nil {
		return nil, err
	}
	if _, err := decide(g.Entity.State, cmd, g.Now()); err != nil {
		return g.write(ctx, cmd)
	}
	before := skus(g.Entity.State)
	claimCtx, cancel := context.WithTimeout(context.Background(), g.claimBudget())
	defer cancel()
	var claimed []string
	for i, sku := range wanted {
		if slices.Contains(before, sku) || slices.Contains(claimed, sku) {
			continue
		}
		if err := g.claim(claimCtx, sku); err != nil {
			g.release(claimed, nil)
			if emporium.IsCode(err, emporium.ECONFLICT) {
				return nil, actors.GrainError(g.Log, skuTaken(cmd, i, sku))
			}
			if claimCtx.Err() != nil {
				err = emporium.Errorf(emporium.EUNAVAILABLE, "claiming the product's SKUs took too long; retry")
			}
			return nil, actors.GrainError(g.Log, err)
		}
		claimed = append(claimed, sku)
	}
	reply, err := g.write(ctx, cmd)
	// Whatever the outcome, the product keeps exactly the SKUs of its state.
	g.release(append(before, claimed...), skus(g.Entity.State))
	return reply, err
}

// claimBudget bounds the claims of one command: one store call's timeout,
// however many SKUs the command brings (at most MaxVariants).
func (g *grain) claimBudget() time.Duration {
	if g.Config.IOTimeout > 0 {
		return g.Config.IOTimeout
	}
	return 5 * time.Second
}

func (g *grain) claim(parent context.Context, sku string) error {
	ctx, cancel := context.WithTimeout(parent, g.Config.IOTimeout)
	defer cancel()
	return g.Config.Claims.Claim(ctx, SKUsCollection, sku, g.ID())
}

// release gives up every SKU of some that keep does not hold. A failed
// release only leaves a SKU claimed by this product, which it can claim
// again; it is logged, not returned.
func (g *grain) release(some, keep []string) {
	ctx, cancel := context.WithTimeout(context.Background(), g.Config.IOTimeout)
	defer cancel()
	for _, sku := range some {
		if slices.Contains(keep, sku) {
			continue
		}
		if err := g.Config.Claims.Release(ctx, SKUsCollection, sku, g.ID()); err != nil {
			g.Log.Warn("product: releasing a SKU failed", slog.String("sku", sku), slog.Any("error", err))
		}
	}
}

// Project writes the read models: the product as the API shows it (when
// it changed since this activation last wrote it; a review's text is not
// part of it), and the reviews changed since this activation last wrote
// them, all of them at activation.
func (g *grain) Project(state *pb.State, seq uint64) {
	if g.Config.Views == nil || !created(state) {
		return
	}
	p := product(state)
	if g.projected == nil || !proto.Equal(p, g.projected) {
		g.projectProduct(p, state, seq)
		g.projected = p
	}
	if !g.reviewsOnce || state.ReviewsVersion != g.reviewsProjected {
		g.projectReviews(state, seq)
		g.reviewsOnce, g.reviewsProjected = true, state.ReviewsVersion
	}
}

// projectProduct writes the product read model, with a numeric version and
// the fields the search indexer and listings filter on.
func (g *grain) projectProduct(p *pb.Product, state *pb.State, seq uint64) {
	raw, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(p)
	if err == nil {
		var doc map[string]any
		if err = json.Unmarshal(raw, &doc); err == nil {
			// protojson writes 64-bit numbers as strings; queries want numbers.
			doc["version"] = int64(p.Version)
			doc["skus"] = skus(state)
			g.Config.Views.Put(ViewCollection, g.ID(), seq, doc)
			if g.Config.Changed != nil {
				g.Config.Changed(g.ID())
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
