package category

import (
	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/categorypb"
)

// Kind is the cluster kind name of the CategoryGrain.
const Kind = "CategoryGrain"

// Spec declares the CategoryGrain to the shell; its Stream and Replay serve
// audits and tests. Its commands are remembered with the category they
// acted on, so the kind tells retries itself (retried).
var Spec = actors.Spec[*pb.State, Config]{
	Kind:         Kind,
	StreamPrefix: "category-",
	New:          func(string) *pb.State { return newState() },
	Apply:        apply,
	Fence:        func() proto.Message { return &pb.Fenced{} },
	Retried:      retried,
}

// ViewCollection holds the read model: one document, _id TreeID, holding
// the flat tree and its version (View).
const ViewCollection = "categories"

// Config is what the CategoryGrain needs from the node.
type Config struct {
	actors.GrainConfig
	// Views receives the tree's read model; nil keeps none.
	Views actors.Views
}

// NewKind returns the cluster kind that activates the CategoryGrain with
// cfg.
func NewKind(cfg Config) *cluster.Kind {
	idle, hook := Spec.Configure(&cfg)
	return pb.NewCategoryGrainKind(func() pb.CategoryGrain { return actors.Bind(&grain{}) }, idle, hook)
}

// Client returns the grain client of the tree: the CategoryGrain with
// identity TreeID.
func Client(c *cluster.Cluster) *pb.CategoryGrainGrainClient {
	return pb.GetCategoryGrainGrainClient(c, TreeID)
}
