package actors

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
)

// Activation is what every event-sourced grain activation shares: its
// logger, its Entity, its place in the node's Activations, and what happens
// when its state cannot be loaded. A grain embeds it and calls Start from
// Init, Stop from Terminate and Usable before each request.
type Activation[S proto.Message] struct {
	// E holds the grain's state and persists its events.
	E Entity[S]
	// Log names the grain kind and identity on every line.
	Log *slog.Logger

	kind        string
	activations *Activations
	// broken is set when the state could not be loaded: the activation
	// answers unavailable and stops, so the next request activates afresh.
	broken error
}

// Start loads the activation's state into e, which NewEntity built (with
// Changed set when the grain keeps a read model). kind names the grain in
// logs and metrics. A load failure is logged and kept: Usable reports it.
func (a *Activation[S]) Start(ctx cluster.GrainContext, kind string, cfg *GrainConfig, e Entity[S]) {
	a.kind, a.activations = kind, cfg.Activations
	a.Log = cfg.Logger.With(slog.String("grain", kind), slog.String("id", ctx.Identity()))
	a.activations.Activated(kind, ctx.Self())
	e.Logger = a.Log
	a.E = e
	if err := a.E.Load(); err != nil {
		a.broken = err
		a.Log.Error("loading the grain's state failed", slog.Any("error", err))
	}
}

// Loaded reports whether the state was loaded.
func (a *Activation[S]) Loaded() bool { return a.broken == nil }

// Stop snapshots when that saves replay, and counts the activation out.
func (a *Activation[S]) Stop(ctx cluster.GrainContext) {
	if a.broken == nil {
		a.E.Stop()
	}
	a.activations.Deactivated(a.kind, ctx.Self())
}

// Usable answers nil when the state is loaded. Otherwise it stops the
// activation, so that the next request loads afresh, and answers the
// unavailable error that crosses the cluster.
func (a *Activation[S]) Usable(ctx cluster.GrainContext) error {
	if a.broken == nil {
		return nil
	}
	ctx.Poison(ctx.Self())
	return GrainError(a.Log, emporium.Errorf(emporium.EUNAVAILABLE, "%s %s is unavailable; retry", a.kind, ctx.Identity()))
}
