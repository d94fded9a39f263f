package actors

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/emporium-shop/emporium"
)

// Activation is the shell of one event-sourced grain activation, shared by
// every grain kind: a grain embeds it (bound with Bind), which gives the
// grain Init, Terminate and ReceiveDefault from its kind's Spec, and runs
// its requests with Command and Query. It holds the grain's logger, its
// Entity, its place in the node's Activations, and what happens when its
// state cannot be loaded.
//
// A grain adds behaviour by implementing the hooks it needs: Projector (a
// read model), Starter (work after loading), Stopper (work before
// passivating) and Receiver (messages that are not grain requests).
type Activation[S proto.Message, C any] struct {
	// Entity holds the grain's state and persists its events.
	Entity Entity[S]
	// Config is the configuration of the grain's kind.
	Config *C
	// Log names the grain kind and identity on every line.
	Log *slog.Logger

	id          string
	base        *GrainConfig
	kind        string
	grain       any
	activations *Activations
	// broken is set when the state could not be loaded: the activation
	// answers unavailable and stops, so the next request activates afresh.
	broken error
	// ring is the placement elsewhere was computed from; elsewhere says
	// whether it places this grain on another member.
	ring      *Ring
	elsewhere bool
	// leaving is set once a stray activation asked to stop.
	leaving bool
}

// Projector is a grain that keeps a read model: the shell calls Project
// after every change of the state (a write or a reload) and once at
// activation, since a crash may have left the read model behind the journal.
type Projector[S proto.Message] interface {
	Project(state S, seq uint64)
}

// Starter is a grain with work to do once its state is loaded.
type Starter interface {
	Started(ctx cluster.GrainContext)
}

// Stopper is a grain with work to do before it passivates.
type Stopper interface {
	Stopping(ctx cluster.GrainContext)
}

// Receiver is a grain that handles messages which are not grain requests
// (its own timers).
type Receiver interface {
	Receive(ctx cluster.GrainContext)
}

// binder is a grain embedding an Activation.
type binder interface{ bind(grain any) }

// Bind ties a new grain to the Activation it embeds, so that Init finds the
// grain's hooks; a kind's factory returns actors.Bind(&grain{}).
func Bind[G binder](g G) G {
	g.bind(g)
	return g
}

func (a *Activation[S, C]) bind(grain any) { a.grain = grain }

// Init loads the activation's state with its kind's configuration. A load
// failure is logged and kept: requests answer unavailable (Usable).
func (a *Activation[S, C]) Init(ctx cluster.GrainContext) {
	b := take[S, C](ctx.Self())
	a.id, a.Config, a.base, a.kind = ctx.Identity(), b.cfg, baseOf(b.cfg), b.spec.Kind
	a.activations = a.base.Activations
	a.Log = a.base.Logger.With(slog.String("grain", a.kind), slog.String("id", a.id))
	a.activations.Activated(a.kind, ctx.Self())
	a.Entity = b.spec.entity(a.id, a.base)
	a.Entity.Logger = a.Log
	a.Entity.Topology = TopologyOf(ctx.ActorSystem())
	projector, projects := a.grain.(Projector[S])
	if projects {
		a.Entity.Changed = projector.Project
	}
	if err := a.Entity.Load(); err != nil {
		a.broken = err
		a.Log.Error("loading the grain's state failed", slog.Any("error", err))
		return
	}
	if projects {
		a.Entity.Refresh()
	}
	if s, ok := a.grain.(Starter); ok {
		s.Started(ctx)
	}
}

// Terminate runs the grain's Stopper, snapshots when that saves replay, and
// counts the activation out.
func (a *Activation[S, C]) Terminate(ctx cluster.GrainContext) {
	if s, ok := a.grain.(Stopper); ok {
		s.Stopping(ctx)
	}
	if a.broken == nil {
		a.Entity.Stop()
	}
	a.activations.Deactivated(a.kind, ctx.Self())
}

// ReceiveDefault answers a wake (Wake), and hands other messages that are
// not grain requests to the grain's Receiver, ignoring them when it has
// none.
func (a *Activation[S, C]) ReceiveDefault(ctx cluster.GrainContext) {
	if _, ok := ctx.Message().(*emptypb.Empty); ok {
		a.onWake(ctx)
		return
	}
	if r, ok := a.grain.(Receiver); ok {
		r.Receive(ctx)
	}
}

// onWake answers a wake: the activation has loaded, and projected its
// state afresh when it keeps a read model, or it answers why not.
func (a *Activation[S, C]) onWake(ctx cluster.GrainContext) {
	if err := a.Usable(ctx); err != nil {
		ctx.Respond(err)
		return
	}
	defer a.strayCheck(ctx)()
	ctx.Respond(&emptypb.Empty{})
}

// ID returns the grain's identity.
func (a *Activation[S, C]) ID() string { return a.id }

// Now reads the kind's clock.
func (a *Activation[S, C]) Now() time.Time { return a.base.Clock.Now() }

// Loaded reports whether the state was loaded.
func (a *Activation[S, C]) Loaded() bool { return a.broken == nil }

// Usable answers nil when the state is loaded. Otherwise it stops the
// activation, so that the next request loads afresh, and answers the
// unavailable error that crosses the cluster.
func (a *Activation[S, C]) Usable(ctx cluster.GrainContext) error {
	if a.broken == nil {
		return nil
	}
	ctx.Poison(ctx.Self())
	return GrainError(a.Log, emporium.Errorf(emporium.EUNAVAILABLE, "%s %s is unavailable; retry", a.kind, ctx.Identity()))
}

// Command runs a request that may change the state: Entity.Command at the
// clock's now, deduplicated by cmd's command id when it carries one. The
// answer is the error that crosses the cluster, or nil.
func (a *Activation[S, C]) Command(ctx cluster.GrainContext, cmd proto.Message, steps ...Step[S]) error {
	if err := a.Usable(ctx); err != nil {
		return err
	}
	defer a.strayCheck(ctx)()
	return GrainError(a.Log, a.Entity.Command(a.Now(), cmd, steps...))
}

// Query runs a request that answers from the state: Entity.Query at the
// clock's now. The answer is the error that crosses the cluster, or nil.
func (a *Activation[S, C]) Query(ctx cluster.GrainContext, steps ...Step[S]) error {
	if err := a.Usable(ctx); err != nil {
		return err
	}
	defer a.strayCheck(ctx)()
	return GrainError(a.Log, a.Entity.Query(a.Now(), steps...))
}

// strayCheck marks the Entity a stray when the member's ring no longer
// places this grain here, so the request checks the journal's tail before
// it answers, and returns what to do after the request: a stray then asks
// itself to stop. Requests already in its mailbox are answered first, each
// checked the same way; the next caller finds it gone and asks the identity
// lookup again, which places the grain where it belongs (settleWindow).
func (a *Activation[S, C]) strayCheck(ctx cluster.GrainContext) (after func()) {
	if ring := a.Entity.Topology.Ring(); ring != a.ring {
		a.ring, a.elsewhere = ring, !ring.Places(a.kind, a.id)
	}
	a.Entity.Stray = a.leaving || a.elsewhere
	return func() {
		if a.Entity.Stray && !a.leaving {
			a.leaving = true
			a.Log.Info("the cluster places this grain on another member; this activation stops after answering")
			ctx.Poison(ctx.Self())
		}
	}
}
