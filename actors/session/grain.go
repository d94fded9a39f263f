package session

import (
	"context"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/sessionpb"
)

// The actor shell of the SessionGrain: it loads a user's sessions through
// actors.Entity, persists each decision's events before it answers (even
// when the answer is a refusal: a reused token's revocation must be
// durable), and builds the answer from the state after them.

// Kind is the cluster kind name of the SessionGrain.
const Kind = "SessionGrain"

// Config is what the SessionGrain needs from the node.
type Config = actors.GrainConfig

// NewKind returns the cluster kind that activates SessionGrains with cfg.
func NewKind(cfg Config) *cluster.Kind {
	cfg.WithDefaults()
	cfg.Activations.Register(Kind)
	return pb.NewSessionGrainKind(func() pb.SessionGrain { return &grain{} }, cfg.IdleTimeout, configs.Hook(&cfg))
}

var configs actors.Configs[Config]

// Stream returns the journal stream of a user's sessions.
func Stream(userID string) string { return "session-" + userID }

// Replay rebuilds a user's sessions from the whole journal.
func Replay(ctx context.Context, journal actors.Journal, userID string) (*pb.State, error) {
	return actors.Replay(ctx, journal, Stream(userID), newState(userID), apply)
}

// grain is one activation of a SessionGrain.
type grain struct {
	actors.Activation[*pb.State]
	cfg    *Config
	userID string
}

// Init loads the user's sessions.
func (g *grain) Init(ctx cluster.GrainContext) {
	g.userID = ctx.Identity()
	g.cfg = configs.Take(ctx.Self())
	g.Start(ctx, Kind, g.cfg, actors.NewEntity(g.cfg, Stream(g.userID),
		func() *pb.State { return newState(g.userID) }, apply,
		func() proto.Message { return &pb.Fenced{} }))
}

// Terminate snapshots when that saves replay.
func (g *grain) Terminate(ctx cluster.GrainContext) { g.Stop(ctx) }

// ReceiveDefault ignores other messages: the grain has no timers.
func (g *grain) ReceiveDefault(cluster.GrainContext) {}

// Open starts a session (a login).
func (g *grain) Open(req *pb.OpenRequest, ctx cluster.GrainContext) (*pb.SessionInfo, error) {
	if err := g.write(ctx, req); err != nil {
		return nil, err
	}
	reply, err := sessionInfo(g.E.State, req.SessionId)
	return reply, actors.GrainError(g.Log, err)
}

// Refresh rotates a session's refresh token.
func (g *grain) Refresh(req *pb.RefreshRequest, ctx cluster.GrainContext) (*pb.SessionInfo, error) {
	if err := g.write(ctx, req); err != nil {
		return nil, err
	}
	reply, err := sessionInfo(g.E.State, req.SessionId)
	return reply, actors.GrainError(g.Log, err)
}

// Revoke ends one session (a logout).
func (g *grain) Revoke(req *pb.RevokeRequest, ctx cluster.GrainContext) (*pb.RevokeResult, error) {
	if err := g.write(ctx, req); err != nil {
		return nil, err
	}
	reply, err := revokeResult(g.E.State, req.SessionId)
	return reply, actors.GrainError(g.Log, err)
}

// RevokeAll ends every session (a password reset, "log out everywhere").
func (g *grain) RevokeAll(req *pb.RevokeAllRequest, ctx cluster.GrainContext) (*pb.RevokeAllResult, error) {
	if err := g.write(ctx, req); err != nil {
		return nil, err
	}
	reply, err := revokeAllResult(g.E.State, req.CommandId)
	return reply, actors.GrainError(g.Log, err)
}

// List answers the live sessions.
func (g *grain) List(req *pb.ListRequest, ctx cluster.GrainContext) (*pb.SessionList, error) {
	if err := g.read(ctx); err != nil {
		return nil, err
	}
	return sessionList(g.E.State, req.CurrentSessionId, g.cfg.Clock.Now()), nil
}

// Check answers whether a session is live.
func (g *grain) Check(req *pb.CheckRequest, ctx cluster.GrainContext) (*pb.SessionStatus, error) {
	if err := g.read(ctx); err != nil {
		return nil, err
	}
	if err := decide(g.E.State, req, g.cfg.Clock.Now()).err; err != nil {
		return nil, actors.GrainError(g.Log, err)
	}
	return sessionStatus(g.E.State, req.SessionId, g.cfg.Clock.Now()), nil
}

// write decides a command and persists its events, then answers its error.
func (g *grain) write(ctx cluster.GrainContext, cmd proto.Message) error {
	if err := g.Usable(ctx); err != nil {
		return err
	}
	now := g.cfg.Clock.Now()
	err := g.E.Run(true, func(s *pb.State) ([]proto.Message, error) {
		d := decide(s, cmd, now)
		return d.events, d.err
	})
	return actors.GrainError(g.Log, err)
}

// read settles an unknown outcome, if any, before a read.
func (g *grain) read(ctx cluster.GrainContext) error {
	if err := g.Usable(ctx); err != nil {
		return err
	}
	return actors.GrainError(g.Log, g.E.Run(false))
}

var _ pb.SessionGrain = (*grain)(nil)
