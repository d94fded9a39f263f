package session

import (
	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/sessionpb"
)

// Kind is the cluster kind name of the SessionGrain.
const Kind = "SessionGrain"

// Spec declares the SessionGrain to the shell; its Stream and Replay serve
// audits and tests. Its one command with a command id, RevokeAll, is
// remembered with its reason and count, so the kind tells retries itself
// (retried).
var Spec = actors.Spec[*pb.State, Config]{
	Kind:         Kind,
	StreamPrefix: "session-",
	New:          newState,
	Apply:        apply,
	Fence:        func() proto.Message { return &pb.Fenced{} },
	Retried:      retried,
	Expire:       expireDue,
}

// Config is what the SessionGrain needs from the node.
type Config = actors.GrainConfig

// NewKind returns the cluster kind that activates SessionGrains with cfg.
func NewKind(cfg Config) *cluster.Kind {
	idle, hook := Spec.Configure(&cfg)
	return pb.NewSessionGrainKind(func() pb.SessionGrain { return actors.Bind(&grain{}) }, idle, hook)
}
