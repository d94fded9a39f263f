package order

import (
	"context"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

// grain is one activation of an OrderGrain. Besides the state (in the
// embedded Activation), it holds only what the saga's driver needs in
// memory: which step's effect is running, and the timer that wakes it.
// Everything else is in the journal, so a new activation resumes from there.
type grain struct {
	actors.Activation[*pb.State, Config]
	// running is the step whose effect runs now, and run numbers the runs:
	// the report of an older run (one that a retry or a crash overtook) is
	// dropped.
	running pb.Step
	run     int
	// attempts counts the runs of the current step, and pause is the wait
	// before the next one.
	attempts int
	pause    time.Duration
	timer    actors.Timer
	// projected is the status this activation last projected; metrics count
	// the changes from it.
	projected string
	// holdFirstView makes Project hold a new order's read model in
	// firstView, for storeFirstView to store before Place answers.
	holdFirstView bool
	firstView     *heldView
	// shown is the read model this activation last projected: a change
	// that would not alter it is not written (sameView).
	shown *View
}

// heldView is a read model of the order that Project held back.
type heldView struct {
	id  string
	seq uint64
	doc View
}

// stepDone is a step's effect reporting back to its activation. It and
// wake are local messages only and never cross the cluster.
type stepDone struct {
	run  int
	step pb.Step
	out  outcome
	took time.Duration
}

// wake is the timer's message: retry a step, or look at a deadline.
type wake struct{ run int }

// Started resumes the saga where the journal ends: a re-activated order
// (after passivation, a crash, or the recovery loop's call) repeats the
// step in flight, every step being idempotent.
func (g *grain) Started(ctx cluster.GrainContext) { g.drive(ctx) }

// Stopping drops the timer and the report of a running effect.
func (g *grain) Stopping(cluster.GrainContext) {
	g.stopTimer()
	g.run++
}

// Receive dispatches the saga's own messages.
func (g *grain) Receive(ctx cluster.GrainContext) {
	switch m := ctx.Message().(type) {
	case *stepDone:
		g.onStepDone(ctx, m)
	case *wake:
		g.onWake(ctx, m)
	}
}

// Place creates the order and starts its saga.
func (g *grain) Place(req *pb.PlaceRequest, ctx cluster.GrainContext) (*pb.Order, error) {
	return g.request(ctx, req)
}

// Get answers the order to its buyer.
func (g *grain) Get(req *pb.GetRequest, ctx cluster.GrainContext) (*pb.Order, error) {
	err := g.Query(ctx, func(s *pb.State, _ time.Time) ([]proto.Message, error) {
		return nil, authorize(s, req.BuyerId, req.Admin)
	})
	if err != nil {
		return nil, err
	}
	return g.answer(), nil
}

// Cancel cancels the order.
func (g *grain) Cancel(req *pb.CancelRequest, ctx cluster.GrainContext) (*pb.Order, error) {
	return g.request(ctx, req)
}

// ConfirmPayment records that the buyer came back from approving.
func (g *grain) ConfirmPayment(req *pb.ConfirmPaymentRequest, ctx cluster.GrainContext) (*pb.Order, error) {
	return g.request(ctx, req)
}

// PaymentEvent applies a provider's notification.
func (g *grain) PaymentEvent(req *pb.PaymentEventRequest, ctx cluster.GrainContext) (*pb.Order, error) {
	return g.request(ctx, req)
}

// Ship records a vendor's shipment.
func (g *grain) Ship(req *pb.ShipRequest, ctx cluster.GrainContext) (*pb.Order, error) {
	return g.request(ctx, req)
}

// Deliver records a vendor's lines delivered.
func (g *grain) Deliver(req *pb.DeliverRequest, ctx cluster.GrainContext) (*pb.Order, error) {
	return g.request(ctx, req)
}

// Refund refunds money of a confirmed order.
func (g *grain) Refund(req *pb.RefundRequest, ctx cluster.GrainContext) (*pb.Order, error) {
	return g.request(ctx, req)
}

// request decides and persists a request, drives the saga on, and answers
// the order.
func (g *grain) request(ctx cluster.GrainContext, req proto.Message) (*pb.Order, error) {
	if g.crash(ctx, "before-journal:request") {
		return nil, actors.GrainError(g.Log, emporium.Errorf(emporium.EUNAVAILABLE, "order: crashed (test)"))
	}
	before := g.Entity.Seq
	g.holdFirstView = before == 0
	// Deferred for the paths that end the request before the saga is
	// driven (a refusal after a write, a crash test): the view is stored
	// before the answer is sent. On the path that drives, it is stored
	// first (below); a second call does nothing.
	defer g.storeFirstView()
	// The saga's next step is journaled as started in the request's own
	// append: a new order is one write away from its first effect.
	err := g.Command(ctx, req, func(s *pb.State, now time.Time) ([]proto.Message, error) {
		return decide(s, req, now)
	}, func(s *pb.State, now time.Time) ([]proto.Message, error) {
		return advance(s, now), nil
	})
	if err != nil {
		return nil, err
	}
	if g.crash(ctx, "after-journal:request") {
		return nil, actors.GrainError(g.Log, emporium.Errorf(emporium.EUNAVAILABLE, "order: crashed (test)"))
	}
	// The new order's read model is stored before its first effect runs:
	// the recovery loop finds the order by it, so an order that reserved
	// stock and then lost its node before the view was written would hold
	// that stock, unseen and never resumed, until the reservations expired.
	g.storeFirstView()
	g.drive(ctx)
	if before == 0 && g.Entity.Seq > 0 {
		g.Config.Metrics.countStatus(emporium.OrderPending)
	}
	return g.answer(), nil
}

// storeFirstView stores the new order's first read model (which Project
// held back) before the saga's first effect runs and before the order is
// acknowledged: the recovery loop finds unsettled orders through the read
// model, so an order whose first projection a crash lost would never be
// woken. Later projections may be lost: the one before stays, due for
// recovery. Only this document is written now, past the projection queue;
// the rest of the queue is not waited for. It does nothing when no view is
// held.
func (g *grain) storeFirstView() {
	v := g.firstView
	g.holdFirstView, g.firstView = false, nil
	if v == nil {
		return
	}
	now, ok := g.Config.Views.(interface {
		PutNow(ctx context.Context, collection, id string, seq uint64, doc any) error
	})
	if !ok {
		g.Config.Views.Put(ViewCollection, v.id, v.seq, v.doc)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.Config.IOTimeout)
	defer cancel()
	if err := now.PutNow(ctx, ViewCollection, v.id, v.seq, v.doc); err != nil {
		g.Log.Warn("order: storing the new order's read model failed; it stays queued, and the order may wait for its buyer to be resumed",
			slog.Any("error", err))
	}
}

// answer is a copy of the order: a local caller receives the message
// itself, and the state goes on changing.
func (g *grain) answer() *pb.Order {
	return &pb.Order{State: proto.CloneOf(g.Entity.State), Seq: g.Entity.Seq}
}

// drive moves the saga on from the state: it persists the events that need
// no effect (the next step journaled as started, the order confirmed or
// ended) and starts the effect of the step in flight, unless it runs
// already. An order waiting for its buyer gets a timer for its deadline.
func (g *grain) drive(ctx cluster.GrainContext) {
	if !g.Loaded() || !placed(g.Entity.State) {
		return
	}
	if len(advance(g.Entity.State, g.Now())) > 0 {
		if g.crash(ctx, "before-journal:advance") {
			return
		}
		err := g.Command(ctx, nil, func(s *pb.State, now time.Time) ([]proto.Message, error) {
			return advance(s, now), nil
		})
		if err != nil {
			g.Log.Warn("order: moving the saga on failed; retrying", slog.Any("error", err))
			g.retryLater(ctx)
			return
		}
		if g.crash(ctx, "after-journal:advance") {
			return
		}
	}
	step := g.Entity.State.Started
	switch {
	case step == pb.Step_STEP_NONE:
		g.running = pb.Step_STEP_NONE
		g.armDeadline(ctx)
	case g.running != step:
		g.launch(ctx, step)
	}
}

// launch runs step's effect in a goroutine of its own, which reports back
// with a stepDone: the mailbox stays free, so the order answers while a
// provider is slow. The effect works on a copy of the state.
func (g *grain) launch(ctx cluster.GrainContext, step pb.Step) {
	g.stopTimer()
	g.run++
	g.running = step
	g.attempts++
	run, attempts := g.run, g.attempts
	fx := g.effects(ctx)
	state := proto.CloneOf(g.Entity.State)
	system, self, crash, id := ctx.ActorSystem(), ctx.Self(), g.Config.Crash, g.ID()
	go func() {
		if crash != nil && crash(id, "before-effect:"+step.String()) {
			system.Root.Stop(self)
			return
		}
		start := time.Now()
		out := fx.run(step, state, attempts)
		if crash != nil && crash(id, "after-effect:"+step.String()) {
			system.Root.Stop(self)
			return
		}
		system.Root.Send(self, &stepDone{run: run, step: step, out: out, took: time.Since(start)})
	}()
}

// onStepDone records a step's outcome (with the next step journaled as
// started, in the same append) and drives on; an unknown outcome runs the
// step again after a pause.
func (g *grain) onStepDone(ctx cluster.GrainContext, d *stepDone) {
	if d.run != g.run {
		return
	}
	g.running = pb.Step_STEP_NONE
	g.Config.Metrics.observeStep(d.step, d.took, d.out.retry)
	if d.out.retry != nil {
		g.Log.Info("order: step outcome unknown; retrying", slog.String("step", d.step.String()),
			slog.Int("attempt", g.attempts), slog.Any("error", d.out.retry))
		g.retryLater(ctx)
		return
	}
	if g.crash(ctx, "before-journal:"+d.step.String()) {
		return
	}
	err := g.Command(ctx, nil, func(s *pb.State, now time.Time) ([]proto.Message, error) {
		if s.Started != d.step {
			return nil, nil // another activation recorded it first
		}
		return withAdvance(s, d.out.events, now), nil
	})
	if err != nil {
		g.Log.Warn("order: recording a step failed; the step runs again", slog.String("step", d.step.String()),
			slog.Any("error", err))
		g.retryLater(ctx)
		return
	}
	if g.crash(ctx, "after-journal:"+d.step.String()) {
		return
	}
	g.attempts, g.pause = 0, 0
	g.drive(ctx)
}

func (g *grain) onWake(ctx cluster.GrainContext, w *wake) {
	if w.run != g.run {
		return
	}
	g.timer = nil
	g.running = pb.Step_STEP_NONE
	g.drive(ctx)
}

// retryLater drives the saga again after a pause that doubles from
// RetryMin up to RetryMax.
func (g *grain) retryLater(ctx cluster.GrainContext) {
	g.pause = min(max(2*g.pause, g.Config.RetryMin), g.Config.RetryMax)
	g.after(ctx, g.pause)
}

// armDeadline wakes an order waiting for its buyer's approval when the
// wait runs out.
func (g *grain) armDeadline(ctx cluster.GrainContext) {
	p := g.Entity.State.Payment
	if g.Entity.State.Status != emporium.OrderAwaitingPayment || p.GetApprovalDeadline() == nil || g.timer != nil {
		return
	}
	g.after(ctx, max(p.ApprovalDeadline.AsTime().Sub(g.Now()), time.Millisecond))
}

func (g *grain) after(ctx cluster.GrainContext, d time.Duration) {
	g.stopTimer()
	g.run++
	run := g.run
	system, self := ctx.ActorSystem(), ctx.Self()
	g.timer = g.Config.Clock.AfterFunc(d, func() { system.Root.Send(self, &wake{run: run}) })
}

func (g *grain) stopTimer() {
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
}

// crash asks the crash tests' hook about point and, when it says so, stops
// the activation at once.
func (g *grain) crash(ctx cluster.GrainContext, point string) bool {
	if g.Config.Crash == nil || !g.Config.Crash(g.ID(), point) {
		return false
	}
	g.run++ // drop the report of any effect still running
	ctx.Stop(ctx.Self())
	return true
}

// Project writes the order's read models when readers would see a
// difference, and tells Changed of every change. Most saga steps change only
// the order's seq and update time (a step started, stock reserved): their
// read models would be writes, and their live pushes noise, that show
// nobody anything new.
func (g *grain) Project(state *pb.State, seq uint64) {
	if !placed(state) {
		return
	}
	if g.projected != "" && g.projected != state.Status {
		g.Config.Metrics.countStatus(state.Status)
	}
	g.projected = state.Status
	id, v := viewOf(state, seq, g.Now())
	visible := g.shown == nil || !sameView(*g.shown, v)
	if visible && g.Config.Views != nil {
		if g.holdFirstView {
			g.firstView = &heldView{id: id, seq: seq, doc: v}
		} else {
			g.Config.Views.Put(ViewCollection, id, seq, v)
		}
		if vendorsSee(state) {
			for vendor, vv := range vendorViews(v) {
				g.Config.Views.Put(VendorCollection, vendor+"/"+id, seq, vv)
			}
		}
		for id, p := range newPurchases(g.shown, v) {
			g.Config.Views.Put(PurchaseCollection, id, seq, p)
		}
	}
	if visible {
		g.shown = &v
	}
	if g.Config.Changed != nil {
		g.Config.Changed(&pb.Order{State: proto.CloneOf(state), Seq: seq}, visible)
	}
}

var _ pb.OrderGrain = (*grain)(nil)
