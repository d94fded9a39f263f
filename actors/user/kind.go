package user

import (
	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// Kind is the cluster kind name of the UserGrain.
const Kind = "UserGrain"

// Spec declares the UserGrain to the shell; its Stream and Replay serve
// audits and tests.
var Spec = actors.Spec[*pb.State, kindConfig]{
	Kind:         Kind,
	StreamPrefix: "user-",
	New:          newState,
	Apply:        apply,
	Fence:        func() proto.Message { return &pb.Fenced{} },
	Remembered:   func(s *pb.State) *[]string { return &s.RecentCommands },
}

// Config is what the UserGrain needs from the node.
type Config = actors.GrainConfig

// Option gives the UserGrain kind what it needs beyond Config: the stores of
// the vendor store profile. (Options rather than fields keep Config the
// GrainConfig every kind shares.)
type Option func(*kindConfig)

// WithClaims keeps store names unique across vendors through claims in
// StoreNamesCollection (the node passes its actors.DocumentClaims). Without
// it BecomeVendor fails with `internal`: a name nothing guards could be
// taken twice.
func WithClaims(c actors.Claims) Option { return func(k *kindConfig) { k.claims = c } }

// WithViews writes the vendors read model (VendorsCollection) through v (the
// node's persistence.Projections). Without it none is kept.
func WithViews(v actors.Views) Option { return func(k *kindConfig) { k.views = v } }

// kindConfig is what one activation receives: Config and the options.
type kindConfig struct {
	Config
	claims actors.Claims
	views  actors.Views
}

// NewKind returns the cluster kind that activates UserGrains with cfg and
// opts.
func NewKind(cfg Config, opts ...Option) *cluster.Kind {
	k := &kindConfig{Config: cfg}
	for _, o := range opts {
		o(k)
	}
	idle, hook := Spec.Configure(k)
	return pb.NewUserGrainKind(func() pb.UserGrain { return actors.Bind(&grain{}) }, idle, hook)
}
