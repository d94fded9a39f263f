package product

import (
	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/productpb"
)

// Kind is the cluster kind name of the ProductGrain.
const Kind = "ProductGrain"

// Spec declares the ProductGrain to the shell; its Stream and Replay serve
// audits and tests.
var Spec = actors.Spec[*pb.State, Config]{
	Kind:         Kind,
	StreamPrefix: "product-",
	New:          newState,
	Apply:        apply,
	Fence:        func() proto.Message { return &pb.Fenced{} },
	Remembered:   func(s *pb.State) *[]string { return &s.RecentCommands },
	Authorize:    authorize,
}

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
	idle, hook := Spec.Configure(&cfg)
	return pb.NewProductGrainKind(func() pb.ProductGrain { return actors.Bind(&grain{}) }, idle, hook)
}
