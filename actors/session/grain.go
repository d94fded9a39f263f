package session

import (
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/sessionpb"
)

// The commands of the SessionGrain: each decision's events are persisted
// before it answers (even when the answer is a refusal: a reused token's
// revocation must be durable), and the answer is built from the state after
// them.

// grain is one activation of a SessionGrain.
type grain struct {
	actors.Activation[*pb.State, Config]
}

// Open starts a session (a login).
func (g *grain) Open(req *pb.OpenRequest, ctx cluster.GrainContext) (*pb.SessionInfo, error) {
	if err := g.write(ctx, req); err != nil {
		return nil, err
	}
	reply, err := sessionInfo(g.Entity.State, req.SessionId)
	return reply, actors.GrainError(g.Log, err)
}

// Refresh rotates a session's refresh token.
func (g *grain) Refresh(req *pb.RefreshRequest, ctx cluster.GrainContext) (*pb.SessionInfo, error) {
	if err := g.write(ctx, req); err != nil {
		return nil, err
	}
	reply, err := sessionInfo(g.Entity.State, req.SessionId)
	return reply, actors.GrainError(g.Log, err)
}

// Revoke ends one session (a logout).
func (g *grain) Revoke(req *pb.RevokeRequest, ctx cluster.GrainContext) (*pb.RevokeResult, error) {
	if err := g.write(ctx, req); err != nil {
		return nil, err
	}
	reply, err := revokeResult(g.Entity.State, req.SessionId)
	return reply, actors.GrainError(g.Log, err)
}

// RevokeAll ends every session (a password reset, "log out everywhere").
func (g *grain) RevokeAll(req *pb.RevokeAllRequest, ctx cluster.GrainContext) (*pb.RevokeAllResult, error) {
	if err := g.write(ctx, req); err != nil {
		return nil, err
	}
	reply, err := revokeAllResult(g.Entity.State, req.CommandId)
	return reply, actors.GrainError(g.Log, err)
}

// List answers the live sessions.
func (g *grain) List(req *pb.ListRequest, ctx cluster.GrainContext) (*pb.SessionList, error) {
	if err := g.Query(ctx); err != nil {
		return nil, err
	}
	return sessionList(g.Entity.State, req.CurrentSessionId, g.Now()), nil
}

// Check answers whether a session is live.
func (g *grain) Check(req *pb.CheckRequest, ctx cluster.GrainContext) (*pb.SessionStatus, error) {
	var now time.Time
	err := g.Query(ctx, func(s *pb.State, at time.Time) ([]proto.Message, error) {
		now = at
		return nil, decide(s, req, at).err
	})
	if err != nil {
		return nil, err
	}
	return sessionStatus(g.Entity.State, req.SessionId, now), nil
}

// write decides a command and persists its events, then answers its error.
func (g *grain) write(ctx cluster.GrainContext, cmd proto.Message) error {
	return g.Command(ctx, cmd, func(s *pb.State, now time.Time) ([]proto.Message, error) {
		d := decide(s, cmd, now)
		return d.events, d.err
	})
}

var _ pb.SessionGrain = (*grain)(nil)
