package actors

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
)

// Journal is the event journal grains persist to (persistence.Journal).
type Journal interface {
	Append(ctx context.Context, stream string, expectedSeq uint64, events ...proto.Message) (uint64, error)
	Load(ctx context.Context, stream string, afterSeq uint64, fn func(seq uint64, at time.Time, ev proto.Message) error) (uint64, error)
}

// Snapshots stores a grain's latest snapshot (persistence.Snapshots).
type Snapshots interface {
	Save(ctx context.Context, stream string, seq uint64, state proto.Message) error
	Load(ctx context.Context, stream string, into proto.Message) (uint64, bool, error)
}

// Views receives the read-model documents grains write after each durable
// change (persistence.Projections).
type Views interface {
	Put(collection, id string, seq uint64, doc any)
}

// Step is one decision of a command at time now: the events that carry it
// out, or a refusal. It may return events and an error together: the events
// are persisted and the error is the answer (a refresh token reused revokes
// its session and still fails).
type Step[S proto.Message] func(state S, now time.Time) ([]proto.Message, error)

// Entity is the event-sourced state of one grain activation: the thin shell
// every grain kind shares around its pure decide/apply core. It loads from
// the latest snapshot and the journal, persists a command's events before
// the state changes, and keeps the state equal to the journal's when
// Proto.Actor breaks the single-writer assumption (DESIGN §2):
//
//   - Two activations of one grain can exist for a moment. Every append
//     names the seq it expects; a conflict reloads and decides again.
//   - An answer given without a write (a retry, a refusal) is checked
//     against the journal's tail first, since no append would reveal that
//     another activation wrote meanwhile.
//   - An append whose outcome is unknown (the store timed out after the write
//     may have reached it) is settled by a fence before the next decision.
//   - A command that carries a command id (a generated GetCommandId) and
//     whose id the state remembers is a retry: it is answered from the state
//     without being decided again. The ids are remembered in the state from
//     the events that carry them, so they survive passivation.
//
// An Entity belongs to one actor and is not safe for concurrent use.
type Entity[S proto.Message] struct {
	// Stream is the journal stream of this grain's events.
	Stream    string
	Journal   Journal
	Snapshots Snapshots
	// kindRules are the kind's rules, from its Spec.
	kindRules[S]
	// Topology, when set, is the member's view of membership changes, which
	// makes queries check the journal's tail while members change (see
	// settleWindow).
	Topology *Topology
	// Stray is set by the shell while the member no longer places this
	// grain here: every answer is then checked against the journal's tail.
	Stray bool
	// Changed, when set, is called after the state moved (a write or a
	// reload), to update read models.
	Changed func(state S, seq uint64)
	// SnapshotEvery saves a snapshot after this many events since the last.
	SnapshotEvery int
	// IOTimeout bounds one store call.
	IOTimeout time.Duration
	Logger    *slog.Logger

	// State is the current state, at journal seq Seq. Read it; only the
	// Entity changes it.
	State S
	Seq   uint64

	snapAt uint64
	unsure bool
	// verified is when the state was last confirmed equal to the journal's
	// (a load, a tail check, an append), as a Topology mark.
	verified int64
}

// conflictRetries is how many times a command is decided again after the
// journal moved under it before the caller is told to retry later.
const conflictRetries = 5

// snapshotOnStopAfter is how many unsnapshotted events make Stop save a
// snapshot; replaying fewer costs less than writing one.
const snapshotOnStopAfter = 20

// Load builds the state from the latest snapshot and the events after it.
func (e *Entity[S]) Load() error {
	ctx, cancel := context.WithTimeout(context.Background(), e.IOTimeout)
	defer cancel()
	e.State = e.newState()
	seq, found, err := e.Snapshots.Load(ctx, e.Stream, e.State)
	if err != nil {
		return emporium.Wrap("actors.Entity.Load snapshot", err)
	}
	if !found {
		e.State = e.newState()
	}
	e.Seq, e.snapAt = seq, seq
	_, err = e.catchUp()
	return err
}

// Command decides and persists cmd's steps at time now, in order, each
// against the state the previous one left. What expired by now is expired
// first. When cmd carries a command id, a missing id is refused and a
// remembered one is a retry, answered from the state without the steps. A
// command whose last step wrote nothing is checked against the journal's
// tail before its answer is given; when the journal moved, the whole
// command is decided again on the reloaded state.
func (e *Entity[S]) Command(now time.Time, cmd proto.Message, steps ...Step[S]) error {
	return e.run(now, cmd, true, steps)
}

// Query runs steps that answer from the state at time now, after expiring
// what ran out and settling an unknown outcome, if any. It checks the
// journal's tail only while another activation may have written: for a
// stray, and after the cluster's members changed until the state has been
// confirmed once past the settle window (Topology.Suspect).
func (e *Entity[S]) Query(now time.Time, steps ...Step[S]) error {
	return e.run(now, nil, false, steps)
}

func (e *Entity[S]) run(now time.Time, cmd proto.Message, mutating bool, steps []Step[S]) error {
	all := make([]Step[S], 0, len(steps)+2)
	if e.expire != nil {
		all = append(all, func(s S, now time.Time) ([]proto.Message, error) { return e.expire(s, now), nil })
	}
	if cmd != nil {
		if c, ok := cmd.(commandIDCarrier); ok {
			all = append(all, func(s S, _ time.Time) ([]proto.Message, error) {
				return nil, e.dedup(s, cmd, c.GetCommandId())
			})
		}
	}
	all = append(all, steps...)
	for attempt := 0; ; attempt++ {
		err := e.attempt(now, mutating, all)
		if !errors.Is(err, errJournalMoved) {
			return err
		}
		if attempt == conflictRetries {
			return emporium.Errorf(emporium.EUNAVAILABLE, "%s is contended; retry", e.Stream)
		}
		e.Logger.Info("journal moved, reloading", slog.String("stream", e.Stream), slog.Uint64("seq", e.Seq))
		if _, err := e.catchUp(); err != nil {
			return err
		}
	}
}

// errRetried ends a command's steps early: its command id is remembered,
// so it was applied before and is answered from the state.
var errRetried = errors.New("a retry")

// dedup answers errRetried for a command the state applied before, a
// refusal for a missing or reused command id, and nil for a new command.
func (e *Entity[S]) dedup(s S, cmd proto.Message, id string) error {
	if err := NeedCommandID(id); err != nil {
		return err
	}
	if e.authorize != nil {
		if err := e.authorize(s, cmd); err != nil {
			return err
		}
	}
	seen := false
	switch {
	case e.retried != nil:
		var err error
		if seen, err = e.retried(s, cmd); err != nil {
			return err
		}
	case e.remembered != nil:
		seen = slices.Contains(*e.remembered(s), id)
	}
	if seen {
		return errRetried
	}
	return nil
}

// errJournalMoved means the journal holds events the state has not seen:
// an append conflicted, or a tail check found more.
var errJournalMoved = errors.New("the journal moved")

func (e *Entity[S]) attempt(now time.Time, mutating bool, steps []Step[S]) error {
	if e.unsure {
		if err := e.fence(); err != nil {
			return err
		}
	}
	wrote := false
	var answer error
	for _, step := range steps {
		events, err := step(e.State, now)
		wrote = len(events) > 0
		if wrote {
			if perr := e.persist(events); perr != nil {
				return perr
			}
		}
		if errors.Is(err, errRetried) {
			break
		}
		if err != nil {
			answer = err
			break
		}
	}
	if wrote || !mutating && !e.suspect() {
		return answer
	}
	moved, err := e.catchUp()
	if err != nil {
		return err
	}
	if moved {
		return errJournalMoved
	}
	return answer
}

// fence settles an append whose outcome is unknown by appending the fence
// marker at the seq it expected. If the lost append landed, the fence
// collides and the reload applies the lost events; if it did not, the fence
// takes the seq and the lost append can never land after it.
func (e *Entity[S]) fence() error {
	err := e.persist([]proto.Message{e.fenceEvent()})
	if errors.Is(err, errJournalMoved) {
		_, err = e.catchUp()
	}
	if err != nil {
		return err
	}
	e.unsure = false
	return nil
}

// persist appends events to the journal and, once they are durable, applies
// them, tells Changed, and snapshots when due.
func (e *Entity[S]) persist(events []proto.Message) error {
	ctx, cancel := context.WithTimeout(context.Background(), e.IOTimeout)
	defer cancel()
	mark := e.Topology.Mark()
	seq, err := e.Journal.Append(ctx, e.Stream, e.Seq, events...)
	if err != nil {
		if emporium.IsCode(err, emporium.ECONFLICT) {
			return errJournalMoved
		}
		e.unsure = true
		return emporium.Wrap("actors.Entity.persist", err)
	}
	for _, ev := range events {
		e.apply(e.State, ev)
	}
	e.Seq, e.verified = seq, mark
	e.changed()
	if e.Seq-e.snapAt >= uint64(e.SnapshotEvery) {
		e.saveSnapshot()
	}
	return nil
}

// catchUp applies the journal's events after Seq and reports whether there
// were any. The events go into a copy that replaces the state only when the
// whole load succeeded, so a load that fails halfway leaves the state and
// its seq as they were.
func (e *Entity[S]) catchUp() (moved bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.IOTimeout)
	defer cancel()
	var next S
	cloned := false // cloned at the first event: most tail checks find none
	mark := e.Topology.Mark()
	last, err := e.Journal.Load(ctx, e.Stream, e.Seq, func(_ uint64, _ time.Time, ev proto.Message) error {
		if !cloned {
			next, cloned = proto.CloneOf(e.State), true
		}
		e.apply(next, ev)
		return nil
	})
	if err != nil {
		return false, emporium.Wrap("actors.Entity.catchUp", err)
	}
	e.verified = mark
	if !cloned || last == e.Seq {
		return false, nil
	}
	e.State, e.Seq = next, last
	e.changed()
	return true, nil
}

// kindRules are the parts of a kind's Spec its Entity applies; see Spec
// for each.
type kindRules[S proto.Message] struct {
	newState   func() S
	applyEvent func(S, proto.Message)
	fenceEvent func() proto.Message
	remembered func(S) *[]string
	retried    func(S, proto.Message) (bool, error)
	authorize  func(S, proto.Message) error
	expire     func(S, time.Time) []proto.Message
}

// apply folds ev into s with the kind's Apply and remembers the command id
// ev carries, if any.
func (e *Entity[S]) apply(s S, ev proto.Message) {
	e.applyEvent(s, ev)
	if e.remembered != nil {
		if c, ok := ev.(commandIDCarrier); ok {
			Remember(e.remembered(s), c.GetCommandId())
		}
	}
}

// Refresh tells Changed about the current state, e.g. at activation, when a
// read model may have missed the last write (a crash between the two).
func (e *Entity[S]) Refresh() { e.changed() }

// Stop saves a snapshot when enough events were appended since the last,
// and waits for it: at shutdown the node closes the store once every grain
// has stopped.
func (e *Entity[S]) Stop() {
	if !e.unsure && e.Seq-e.snapAt >= snapshotOnStopAfter {
		e.saveSnapshot().Wait()
	}
}

// suspect reports whether the state may miss another activation's write,
// so that a query checks the journal's tail first.
func (e *Entity[S]) suspect() bool {
	return e.Stray || e.Topology.Suspect(e.verified)
}

func (e *Entity[S]) changed() {
	if e.Changed != nil {
		e.Changed(e.State, e.Seq)
	}
}

// saveSnapshot stores a copy of the state in the background: a lost
// snapshot costs only a longer replay, so a reply does not wait for it.
func (e *Entity[S]) saveSnapshot() *sync.WaitGroup {
	state, seq, stream := proto.CloneOf(e.State), e.Seq, e.Stream
	e.snapAt = seq
	var done sync.WaitGroup
	done.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), e.IOTimeout)
		defer cancel()
		if err := e.Snapshots.Save(ctx, stream, seq, state); err != nil {
			e.Logger.Warn("snapshot failed", slog.String("stream", stream), slog.Uint64("seq", seq), slog.Any("error", err))
		}
	})
	return &done
}

// GrainConfig is what every event-sourced grain kind needs from the node.
type GrainConfig struct {
	Journal   Journal
	Snapshots Snapshots
	Clock     Clock
	Logger    *slog.Logger
	// Activations tracks live grains for metrics and for passivation at
	// shutdown; nil is allowed.
	Activations *Activations
	// IdleTimeout passivates a grain that received nothing for this long.
	IdleTimeout time.Duration
	// SnapshotEvery saves a snapshot after this many events since the last.
	SnapshotEvery int
	// IOTimeout bounds one store call. It stays under the cluster request
	// timeout, so that a slow store fails a request rather than letting the
	// caller's retry run beside it.
	IOTimeout time.Duration
}

// WithDefaults fills the fields left unset.
func (c *GrainConfig) WithDefaults() {
	if c.Clock == nil {
		c.Clock = SystemClock{}
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
