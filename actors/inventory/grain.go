// Package inventory is the InventoryGrain: one virtual actor per SKU, the
// single writer of that SKU's stock (on hand, reservations, sold).
//
// The rules are a pure core (core.go: decide and apply); this file is the
// actor shell around it. The shell loads the state from the latest snapshot
// and the journal, persists each command's events before it replies, and on
// a journal conflict (two activations of one SKU, which Proto.Actor allows
// for a moment while members join or leave) reloads and decides again.
// Reservations expire on a timer re-armed at every activation; the Sweeper
// wakes SKUs whose reservations expired while no activation held them.
package inventory

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	pb "github.com/emporium-shop/emporium/protos/inventorypb"
)

// Kind is the cluster kind name of the InventoryGrain.
const Kind = "InventoryGrain"

// ViewCollection is the read-model collection the grain projects each SKU's
// stock into; the sweeper queries its next_expiry field.
const ViewCollection = "inventory"

// Journal is the event journal the grain persists to (persistence.Journal).
type Journal interface {
	Append(ctx context.Context, stream string, expectedSeq uint64, events ...proto.Message) (uint64, error)
	Load(ctx context.Context, stream string, afterSeq uint64, fn func(seq uint64, at time.Time, ev proto.Message) error) (uint64, error)
}

// Snapshots stores the grain's latest snapshot (persistence.Snapshots).
type Snapshots interface {
	Save(ctx context.Context, stream string, seq uint64, state proto.Message) error
	Load(ctx context.Context, stream string, into proto.Message) (uint64, bool, error)
}

// Views receives the read-model document written after each durable change
// (persistence.Projections).
type Views interface {
	Put(collection, id string, seq uint64, doc any)
}

// Config is what the InventoryGrain needs from the node.
type Config struct {
	Journal   Journal
	Snapshots Snapshots
	Views     Views
	Clock     actors.Clock
	Logger    *slog.Logger
	// Activations tracks live grains for metrics and for passivation at
	// shutdown; nil is allowed.
	Activations *actors.Activations
	// IdleTimeout passivates a grain that received nothing for this long.
	IdleTimeout time.Duration
	// SnapshotEvery saves a snapshot after this many events since the last.
	SnapshotEvery int
	// IOTimeout bounds one store call. It stays under the cluster request
	// timeout so that a slow store fails a request rather than letting the
	// caller's retry run beside it.
	IOTimeout time.Duration
}

func (c *Config) withDefaults() {
	// A nil Views is allowed (tests of the shell alone); the grain then keeps
	// no read model and the sweeper finds nothing.
	if c.Clock == nil {
		c.Clock = actors.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 5 * time.Minute
	}
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = 100
	}
	if c.IOTimeout == 0 {
		c.IOTimeout = 4 * time.Second
	}
}

// NewKind returns the cluster kind that activates InventoryGrains with cfg.
//
// The generated kind keeps its grain factory in a package variable, which a
// second member in the same process (a multi-member test) would overwrite.
// So the factory builds an empty grain, and each activation takes the Config
// of the kind that spawned it from configs, stored by the kind's OnInit hook
// under the activation's PID.
func NewKind(cfg Config) *cluster.Kind {
	cfg.withDefaults()
	cfg.Activations.Register(Kind)
	shared := &cfg
	return pb.NewInventoryGrainKind(func() pb.InventoryGrain { return &grain{} }, cfg.IdleTimeout,
		actor.WithOnInit(func(ctx actor.Context) { configs.Store(ctx.Self(), shared) }))
}

// configs hands each activation its kind's Config: *actor.PID -> *Config.
var configs sync.Map

// conflictRetries is how many times a command is decided again after a
// journal conflict before the caller is told to retry later.
const conflictRetries = 5

// snapshotOnStopAfter is how many unsnapshotted events make passivation
// save a snapshot; replaying fewer costs less than writing one.
const snapshotOnStopAfter = 20

// grain is one activation of an InventoryGrain.
type grain struct {
	cfg    *Config
	sku    string
	state  *pb.State
	seq    uint64 // the journal seq state reflects
	snapAt uint64 // the seq of the latest snapshot saved
	// broken is set when the state could not be loaded: the activation
	// answers unavailable and stops, so the next request activates afresh.
	broken error
	// unsure is set when an append's outcome is unknown: the store failed or
	// timed out after the write may have reached it, and the journal's group
	// commit may still write it. Until a fence settles the seq, the
	// activation cannot know which events the journal holds.
	unsure bool
	timer  actors.Timer
	log    *slog.Logger
}

// expireTick is the timer's message to its own activation. It is a local
// message only and never crosses the cluster.
type expireTick struct{}

// Init loads the SKU's state, releases what expired while no activation
// held it, and writes the read model, which a crash may have left behind the
// journal.
func (g *grain) Init(ctx cluster.GrainContext) {
	g.sku = ctx.Identity()
	cfg, ok := configs.LoadAndDelete(ctx.Self())
	if !ok {
		// Cannot happen while NewKind builds the kind; fail loudly if it does.
		panic("inventory: activation without the Config of its kind")
	}
	g.cfg = cfg.(*Config)
	g.log = g.cfg.Logger.With(slog.String("grain", Kind), slog.String("sku", g.sku))
	g.cfg.Activations.Activated(Kind, ctx.Self())
	if err := g.load(); err != nil {
		g.broken = err
		g.log.Error("inventory: load failed", slog.Any("error", err))
		return
	}
	g.project()
	if err := g.run(ctx, nil); err != nil {
		g.log.Warn("inventory: releasing expired reservations failed", slog.Any("error", err))
	}
}

// Terminate stops the expiry timer and, when enough events were appended
// since the last snapshot, saves one so the next activation replays little.
// It waits for the snapshot: at shutdown the node closes the store once every
// grain has terminated.
func (g *grain) Terminate(ctx cluster.GrainContext) {
	if g.timer != nil {
		g.timer.Stop()
	}
	if g.broken == nil && !g.unsure && g.seq-g.snapAt >= snapshotOnStopAfter {
		g.saveSnapshot().Wait()
	}
	g.cfg.Activations.Deactivated(Kind, ctx.Self())
}

// ReceiveDefault handles the messages that are not grain requests: the
// expiry timer.
func (g *grain) ReceiveDefault(ctx cluster.GrainContext) {
	if _, ok := ctx.Message().(*expireTick); ok {
		g.onExpireTick(ctx)
	}
}

// SetStock sets the units on hand.
func (g *grain) SetStock(req *pb.SetStockRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	return g.command(ctx, req, "")
}

// Restock adds units on hand.
func (g *grain) Restock(req *pb.RestockRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	return g.command(ctx, req, "")
}

// Reserve holds units for an order.
func (g *grain) Reserve(req *pb.ReserveRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	return g.command(ctx, req, req.OrderId)
}

// Release gives an order's reservation back.
func (g *grain) Release(req *pb.ReleaseRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	return g.command(ctx, req, req.OrderId)
}

// Commit turns an order's reservation into a sale.
func (g *grain) Commit(req *pb.CommitRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	return g.command(ctx, req, req.OrderId)
}

// GetAvailability answers the current stock.
func (g *grain) GetAvailability(req *pb.GetAvailabilityRequest, ctx cluster.GrainContext) (*pb.Stock, error) {
	return g.command(ctx, req, "")
}

func (g *grain) onExpireTick(ctx cluster.GrainContext) {
	if g.broken != nil {
		return
	}
	if err := g.run(ctx, nil); err != nil {
		// run armed the timer for an expiry already due; wait a while
		// instead. A store outage only delays expiry.
		g.log.Warn("inventory: expiring reservations failed", slog.Any("error", err))
		g.arm(ctx, g.cfg.IOTimeout)
	}
}

// command runs one grain request and turns its error into the form that
// crosses the cluster.
func (g *grain) command(ctx cluster.GrainContext, cmd proto.Message, orderID string) (*pb.Stock, error) {
	if g.broken != nil {
		ctx.Poison(ctx.Self())
		return nil, actors.GrainError(g.log, emporium.Errorf(emporium.EUNAVAILABLE, "inventory of %s is unavailable", g.sku))
	}
	if err := g.run(ctx, cmd); err != nil {
		return nil, actors.GrainError(g.log, err)
	}
	return stock(g.state, g.seq, orderID), nil
}

// run releases expired reservations, then decides cmd (when not nil) and
// persists its events. A journal conflict means another activation wrote
// first (DESIGN §2: two activations of a grain can exist for a moment):
// reload what it wrote and decide again.
func (g *grain) run(ctx cluster.GrainContext, cmd proto.Message) error {
	defer g.arm(ctx, 0)
	for attempt := 0; ; attempt++ {
		err := g.step(cmd)
		if !isJournalConflict(err) {
			return err
		}
		if attempt == conflictRetries {
			return emporium.Errorf(emporium.EUNAVAILABLE, "inventory of %s is contended; retry", g.sku)
		}
		g.log.Info("inventory: journal moved, reloading", slog.Uint64("seq", g.seq))
		if _, err := g.catchUp(); err != nil {
			return err
		}
	}
}

// errJournalConflict marks a conflict raised by the journal, or a journal
// found ahead of the state, as opposed to a conflict the core decided (a
// committed reservation cannot be released).
type errJournalConflict struct{ error }

func isJournalConflict(err error) bool {
	var c errJournalConflict
	return errors.As(err, &c)
}

var errJournalAhead = errJournalConflict{errors.New("inventory: the journal has events this activation has not seen")}

// step is one attempt of run: settle an unknown outcome, release what
// expired, then decide the command; each change is persisted before the
// state changes.
func (g *grain) step(cmd proto.Message) error {
	if g.unsure {
		if err := g.fence(); err != nil {
			return err
		}
	}
	now := g.cfg.Clock.Now()
	if expired := expireDue(g.state, now); len(expired) > 0 {
		if err := g.persist(expired); err != nil {
			return err
		}
	}
	if cmd == nil {
		return nil
	}
	events, err := decide(g.state, cmd, now)
	if len(events) > 0 {
		return g.persist(events)
	}
	if _, query := cmd.(*pb.GetAvailabilityRequest); query {
		return err
	}
	// A command answered without a write (a retry, a refusal, a release of
	// what is not held) is answered from this activation's state, and no
	// append would reveal that another activation wrote meanwhile. So check
	// the journal's tail first: one lookup, on a path that is rare.
	moved, lerr := g.catchUp()
	if lerr != nil {
		return lerr
	}
	if moved {
		return errJournalAhead
	}
	return err
}

// fence settles an append whose outcome is unknown by appending a Fenced
// marker at the seq it expected. If the lost append landed, the fence
// collides and catchUp applies the lost events; if it did not, the fence
// takes the seq and the lost append can never land after it.
func (g *grain) fence() error {
	err := g.persist([]proto.Message{&pb.Fenced{}})
	if isJournalConflict(err) {
		_, err = g.catchUp()
	}
	if err != nil {
		return err
	}
	g.unsure = false
	return nil
}

// persist appends events to the journal and, once they are durable, applies
// them, updates the read model and snapshots when due.
func (g *grain) persist(events []proto.Message) error {
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.IOTimeout)
	defer cancel()
	seq, err := g.cfg.Journal.Append(ctx, g.stream(), g.seq, events...)
	if err != nil {
		if emporium.IsCode(err, emporium.ECONFLICT) {
			return errJournalConflict{err}
		}
		g.unsure = true
		return emporium.Wrap("inventory.persist", err)
	}
	for _, ev := range events {
		apply(g.state, ev)
	}
	g.seq = seq
	g.project()
	if g.seq-g.snapAt >= uint64(g.cfg.SnapshotEvery) {
		g.saveSnapshot()
	}
	return nil
}

// load builds the state from the latest snapshot and the events after it.
func (g *grain) load() error {
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.IOTimeout)
	defer cancel()
	g.state = newState(g.sku)
	seq, found, err := g.cfg.Snapshots.Load(ctx, g.stream(), g.state)
	if err != nil {
		return emporium.Wrap("inventory.load snapshot", err)
	}
	if !found {
		g.state = newState(g.sku)
	}
	g.seq, g.snapAt = seq, seq
	_, err = g.catchUp()
	return err
}

// catchUp applies the journal's events after the state's seq and reports
// whether there were any. The events go into a copy that replaces the state
// only when the whole load succeeded, so a load that fails halfway leaves
// the state and its seq as they were.
func (g *grain) catchUp() (moved bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.IOTimeout)
	defer cancel()
	var next *pb.State // cloned at the first event: most tail checks find none
	last, err := g.cfg.Journal.Load(ctx, g.stream(), g.seq, func(_ uint64, _ time.Time, ev proto.Message) error {
		if next == nil {
			next = proto.CloneOf(g.state)
		}
		apply(next, ev)
		return nil
	})
	if err != nil {
		return false, emporium.Wrap("inventory.load journal", err)
	}
	if next == nil || last == g.seq {
		return false, nil
	}
	g.state, g.seq = next, last
	g.project()
	return true, nil
}

// saveSnapshot stores a copy of the state in the background: a lost
// snapshot costs only a longer replay, so a reply does not wait for it.
func (g *grain) saveSnapshot() *sync.WaitGroup {
	state, seq, stream := proto.CloneOf(g.state), g.seq, g.stream()
	g.snapAt = seq
	var done sync.WaitGroup
	done.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), g.cfg.IOTimeout)
		defer cancel()
		if err := g.cfg.Snapshots.Save(ctx, stream, seq, state); err != nil {
			g.log.Warn("inventory: snapshot failed", slog.Uint64("seq", seq), slog.Any("error", err))
		}
	})
	return &done
}

// View is the read-model document of one SKU's stock.
type View struct {
	SKU        string     `bson:"sku"`
	OnHand     int64      `bson:"on_hand"`
	Reserved   int64      `bson:"reserved"`
	Available  int64      `bson:"available"`
	Sold       int64      `bson:"sold"`
	NextExpiry *time.Time `bson:"next_expiry"`
}

func (g *grain) project() {
	if g.cfg.Views == nil {
		return
	}
	s := stock(g.state, g.seq, "")
	v := View{SKU: s.Sku, OnHand: s.OnHand, Reserved: s.Reserved, Available: s.Available, Sold: s.Sold}
	if at, ok := nextExpiry(g.state); ok {
		v.NextExpiry = &at
	}
	g.cfg.Views.Put(ViewCollection, g.sku, g.seq, v)
}

// arm sets the expiry timer for the earliest held reservation, or after
// delay when it is not zero.
func (g *grain) arm(ctx cluster.GrainContext, delay time.Duration) {
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	if delay == 0 {
		next, ok := nextExpiry(g.state)
		if !ok {
			return
		}
		delay = max(next.Sub(g.cfg.Clock.Now()), time.Millisecond)
	}
	system, self := ctx.ActorSystem(), ctx.Self()
	g.timer = g.cfg.Clock.AfterFunc(delay, func() {
		system.Root.Send(self, &expireTick{})
	})
}

func (g *grain) stream() string { return Stream(g.sku) }

// Stream returns the journal stream of a SKU's events.
func Stream(sku string) string { return "inventory-" + sku }

// Replay rebuilds a SKU's state from its whole journal, ignoring snapshots,
// the way an audit or a test checks what the grain holds.
func Replay(ctx context.Context, journal Journal, sku string) (*pb.State, error) {
	s := newState(sku)
	_, err := journal.Load(ctx, Stream(sku), 0, func(_ uint64, _ time.Time, ev proto.Message) error {
		apply(s, ev)
		return nil
	})
	if err != nil {
		return nil, emporium.Wrap("inventory.Replay", err)
	}
	return s, nil
}

var _ pb.InventoryGrain = (*grain)(nil)
var _ actor.Actor = (*pb.InventoryGrainActor)(nil)
