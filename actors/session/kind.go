package session

import (
	"context"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/sessionpb"
)

// Kind is the cluster kind name of the SessionGrain.
const Kind = "SessionGrain"

// spec declares the SessionGrain to the shell. Its one command with a
// command id, RevokeAll, is remembered with its reason and count, so the
// kind tells retries itself (retried).
var spec = actors.Spec[*pb.State, Config]{
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
	idle, hook := spec.Configure(&cfg)
	return pb.NewSessionGrainKind(func() pb.SessionGrain { return actors.Bind(&grain{}) }, idle, hook)
}

// Stream returns the journal stream of a user's sessions.
func Stream(userID string) string { return spec.Stream(userID) }

// Replay rebuilds a user's sessions from the whole journal.
func Replay(ctx context.Context, journal actors.Journal, userID string) (*pb.State, error) {
	return spec.Replay(ctx, journal, userID)
}
