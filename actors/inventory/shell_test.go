package inventory

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	pb "github.com/emporium-shop/emporium/protos/inventorypb"
)

// These tests drive the actor shell directly, without a cluster, over a
// journal that fails on demand: the failures a real store produces too
// rarely to catch in a test, and that must never leave the state wrong.

// memJournal is an in-memory journal with the real one's semantics (one
// commit per append, a conflict at a taken seq) and injectable failures.
type memJournal struct {
	mu      sync.Mutex
	commits map[string][][]proto.Message // stream -> commits, in seq order
	// failAppend, when set, decides the fate of the next append: "lost"
	// drops it and reports unavailable, "landed" stores it and reports
	// unavailable (the outcome a timeout leaves unknown).
	failAppend string
	// failLoadAfter, when >= 0, makes the next Load fail after delivering
	// that many events.
	failLoadAfter int
	// loads counts the Load calls (a load, a tail check).
	loads int
}

func newMemJournal() *memJournal {
	return &memJournal{commits: map[string][][]proto.Message{}, failLoadAfter: -1}
}

func (j *memJournal) lastSeq(stream string) uint64 {
	var n uint64
	for _, c := range j.commits[stream] {
		n += uint64(len(c))
	}
	return n
}

func (j *memJournal) Append(_ context.Context, stream string, expected uint64, events ...proto.Message) (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	fail := j.failAppend
	j.failAppend = ""
	if fail == "lost" {
		return 0, emporium.Errorf(emporium.EUNAVAILABLE, "store timed out")
	}
	if j.lastSeq(stream) != expected {
		return 0, emporium.Errorf(emporium.ECONFLICT, "seq %d is taken", expected+1)
	}
	j.commits[stream] = append(j.commits[stream], events)
	if fail == "landed" {
		return 0, emporium.Errorf(emporium.EUNAVAILABLE, "store timed out")
	}
	return expected + uint64(len(events)), nil
}

func (j *memJournal) Load(_ context.Context, stream string, after uint64, fn func(uint64, time.Time, proto.Message) error) (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.loads++
	limit := j.failLoadAfter
	j.failLoadAfter = -1
	var seq, delivered uint64
	for _, c := range j.commits[stream] {
		for _, ev := range c {
			seq++
			if seq <= after {
				continue
			}
			if limit >= 0 && delivered == uint64(limit) {
				return seq - 1, emporium.Errorf(emporium.EUNAVAILABLE, "cursor died")
			}
			if err := fn(seq, time.Time{}, ev); err != nil {
				return seq - 1, err
			}
			delivered++
		}
	}
	return max(seq, after), nil
}

type noSnapshots struct{}

func (noSnapshots) Save(context.Context, string, uint64, proto.Message) error { return nil }
func (noSnapshots) Load(context.Context, string, proto.Message) (uint64, bool, error) {
	return 0, false, nil
}

// grainContext is the part of a cluster.GrainContext the shell uses.
type grainContext struct {
	cluster.GrainContext // nil: any other method panics, failing the test
	system               *actor.ActorSystem
	self                 *actor.PID
	identity             string
	poisoned             bool
	clock                *actorstest.Clock
}

func (c *grainContext) Identity() string                { return c.identity }
func (c *grainContext) Self() *actor.PID                { return c.self }
func (c *grainContext) ActorSystem() *actor.ActorSystem { return c.system }
func (c *grainContext) Poison(*actor.PID)               { c.poisoned = true }

// activate starts an activation of sku over journal, as the cluster would.
func activate(t *testing.T, journal actors.Journal, sku string) (*grain, *grainContext) {
	t.Helper()
	system := actor.NewActorSystem()
	clock := actorstest.NewClock(t0)
	ctx := &grainContext{system: system, self: actor.NewPID("test", fmt.Sprintf("%s/%d", sku, time.Now().UnixNano())), identity: sku, clock: clock}
	actors.NewTopology(system, clock)
	cfg := Config{GrainConfig: actors.GrainConfig{Journal: journal, Snapshots: noSnapshots{}, Clock: clock}}
	cfg.WithDefaults()
	Spec.Store(ctx.self, &cfg)
	g := actors.Bind(&grain{})
	g.Init(ctx)
	require.True(t, g.Loaded())
	t.Cleanup(func() { g.Terminate(ctx) })
	return g, ctx
}

func TestShellLoadFailingHalfwayAppliesNothingTwice(t *testing.T) {
	j := newMemJournal()
	g, ctx := activate(t, j, "sku-partial")
	_, err := g.SetStock(&pb.SetStockRequest{CommandId: "c1", OnHand: 10}, ctx)
	require.NoError(t, err)

	// Another activation writes three commits; this one's next append
	// conflicts and its reload dies after two events.
	for i, ev := range []proto.Message{
		&pb.Restocked{CommandId: "x1", Quantity: 1},
		&pb.Reserved{OrderId: "o1", Quantity: 2, ExpiresAt: timestamppb.New(t0.Add(time.Hour))},
		&pb.Committed{OrderId: "o1"},
	} {
		_, err := j.Append(context.Background(), Spec.Stream("sku-partial"), uint64(1+i), ev)
		require.NoError(t, err)
	}
	j.failLoadAfter = 2
	_, err = g.Restock(&pb.RestockRequest{CommandId: "c2", Quantity: 1}, ctx)
	require.Error(t, err, "the reload failed")

	st, err := g.Restock(&pb.RestockRequest{CommandId: "c2", Quantity: 1}, ctx)
	require.NoError(t, err)
	replayed, err := Spec.Replay(context.Background(), j, "sku-partial")
	require.NoError(t, err)
	assert.Equal(t, replayed.OnHand, st.OnHand, "on hand matches the journal")
	assert.Equal(t, replayed.Sold, st.Sold)
	assert.Equal(t, int64(10), st.OnHand) // 10 + 1 restocked - 2 sold + 1 restocked
	assert.Equal(t, int64(2), st.Sold)
}

func TestShellUnknownOutcomeThatLandedIsSeen(t *testing.T) {
	j := newMemJournal()
	g, ctx := activate(t, j, "sku-landed")
	_, err := g.SetStock(&pb.SetStockRequest{CommandId: "c1", OnHand: 8}, ctx)
	require.NoError(t, err)

	j.failAppend = "landed"
	_, err = g.Reserve(&pb.ReserveRequest{OrderId: "o1", Quantity: 3}, ctx)
	require.True(t, emporium.IsCode(err, emporium.EUNAVAILABLE), "got %v", err)

	// The saga compensates. The reservation did land, so the release must
	// give it back rather than answer "nothing held" from stale state.
	st, err := g.Release(&pb.ReleaseRequest{OrderId: "o1"}, ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(8), st.Available)
	assert.Equal(t, pb.ReservationStatus_RESERVATION_STATUS_RELEASED, st.Reservation.GetStatus())
	replayed, err := Spec.Replay(context.Background(), j, "sku-landed")
	require.NoError(t, err)
	assert.Empty(t, replayed.Held)
}

func TestShellUnknownOutcomeThatWasLostIsFenced(t *testing.T) {
	j := newMemJournal()
	g, ctx := activate(t, j, "sku-lost")
	_, err := g.SetStock(&pb.SetStockRequest{CommandId: "c1", OnHand: 5}, ctx)
	require.NoError(t, err)

	j.failAppend = "lost"
	_, err = g.Reserve(&pb.ReserveRequest{OrderId: "o1", Quantity: 2}, ctx)
	require.True(t, emporium.IsCode(err, emporium.EUNAVAILABLE), "got %v", err)

	// The retry first fences the seq the lost append wanted, then reserves.
	st, err := g.Reserve(&pb.ReserveRequest{OrderId: "o1", Quantity: 2}, ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(3), st.Available)
	j.mu.Lock()
	commits := j.commits[Spec.Stream("sku-lost")]
	j.mu.Unlock()
	require.Len(t, commits, 3)
	assert.IsType(t, &pb.Fenced{}, commits[1][0], "the fence took the lost append's seq")
}

func TestShellNoOpCommandSeesAnotherActivationsWrites(t *testing.T) {
	j := newMemJournal()
	g, ctx := activate(t, j, "sku-stale")
	_, err := g.SetStock(&pb.SetStockRequest{CommandId: "c1", OnHand: 5}, ctx)
	require.NoError(t, err)
	// Another activation reserved for o9; this one has not seen it.
	_, err = j.Append(context.Background(), Spec.Stream("sku-stale"), 1,
		&pb.Reserved{OrderId: "o9", Quantity: 4, ExpiresAt: timestamppb.New(t0.Add(time.Hour))})
	require.NoError(t, err)

	st, err := g.Release(&pb.ReleaseRequest{OrderId: "o9"}, ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(5), st.Available, "the release found the hold and gave it back")

	// A refusal, too, is checked against the journal before it is given.
	_, err = j.Append(context.Background(), Spec.Stream("sku-stale"), 3, &pb.Restocked{CommandId: "x", Quantity: 10})
	require.NoError(t, err)
	_, err = g.Commit(&pb.CommitRequest{OrderId: "nope"}, ctx)
	assert.True(t, emporium.IsCode(err, emporium.ENOTFOUND))
	st, err = g.Reserve(&pb.ReserveRequest{OrderId: "o10", Quantity: 12}, ctx)
	require.NoError(t, err, "15 on hand once the other activation's restock is seen")
	assert.Equal(t, int64(3), st.Available)
}

// While the cluster's members change, a query too checks the journal's tail:
// two activations may briefly both live, and the other may have written.
func TestShellQueryWhileMembersChangeSeesAnotherActivationsWrites(t *testing.T) {
	j := newMemJournal()
	g, ctx := activate(t, j, "sku-query")
	_, err := g.SetStock(&pb.SetStockRequest{CommandId: "c1", OnHand: 5}, ctx)
	require.NoError(t, err)
	_, err = j.Append(context.Background(), Spec.Stream("sku-query"), 1, &pb.Restocked{CommandId: "elsewhere", Quantity: 10})
	require.NoError(t, err)

	actors.TopologyOf(ctx.system).Changed()
	st, err := g.GetAvailability(&pb.GetAvailabilityRequest{}, ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(15), st.OnHand, "the other activation's restock is seen")
}

// A state loaded before the members changed may miss a write another
// activation made while the members' views converged, however long after
// the change it is read: the first query after the settle window still
// checks the journal's tail, and once the state is confirmed past the
// window, queries read the store no more.
func TestShellQueryAfterTheChangeSettledChecksOnce(t *testing.T) {
	j := newMemJournal()
	g, ctx := activate(t, j, "sku-settled")
	_, err := g.SetStock(&pb.SetStockRequest{CommandId: "c1", OnHand: 5}, ctx)
	require.NoError(t, err)
	loads := func() int { j.mu.Lock(); defer j.mu.Unlock(); return j.loads }

	before := loads()
	_, err = g.GetAvailability(&pb.GetAvailabilityRequest{}, ctx)
	require.NoError(t, err)
	assert.Equal(t, before, loads(), "a steady member answers a query without the store")

	actors.TopologyOf(ctx.system).Changed()
	ctx.clock.Advance(2 * time.Second)
	// A stray activation elsewhere writes while the views converge.
	_, err = j.Append(context.Background(), Spec.Stream("sku-settled"), 1, &pb.Restocked{CommandId: "elsewhere", Quantity: 10})
	require.NoError(t, err)
	ctx.clock.Advance(30 * time.Second)

	st, err := g.GetAvailability(&pb.GetAvailabilityRequest{}, ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(15), st.OnHand, "the write made before the views settled is seen after the window")
	before = loads()
	for range 3 {
		_, err = g.GetAvailability(&pb.GetAvailabilityRequest{}, ctx)
		require.NoError(t, err)
	}
	assert.Equal(t, before, loads(), "confirmed past the window: no more tail checks")
	assert.False(t, ctx.poisoned)
}

// An activation on a member whose ring places the SKU on another member (a
// stray: a member whose view was behind activated it here) checks the
// journal before it answers, and stops after answering, so that no stale
// route reaches it again and it cannot write later.
func TestShellStrayActivationAnswersFromTheJournalAndStops(t *testing.T) {
	j := newMemJournal()
	g, ctx := activate(t, j, "sku-stray")
	_, err := g.SetStock(&pb.SetStockRequest{CommandId: "c1", OnHand: 5}, ctx)
	require.NoError(t, err)
	ctx.clock.Advance(time.Minute)

	here := &cluster.Member{Id: "here", Host: "127.0.0.1", Port: 1, Kinds: []string{Spec.Kind}}
	there := &cluster.Member{Id: "there", Host: "127.0.0.1", Port: 2, Kinds: []string{Spec.Kind}}
	self := here.Address()
	if ringPlaces(here, there, "sku-stray") {
		self = there.Address() // the ring places it on "here": stand on the other member
	}
	// The owner wrote meanwhile; the stray's member saw the change long ago.
	_, err = j.Append(context.Background(), Spec.Stream("sku-stray"), 1, &pb.Restocked{CommandId: "owner", Quantity: 10})
	require.NoError(t, err)
	topology := actors.TopologyOf(ctx.system)
	topology.Observe([]*cluster.Member{here, there}, self)
	ctx.clock.Advance(time.Minute)
	require.False(t, topology.Ring().Places(Spec.Kind, "sku-stray"))

	st, err := g.GetAvailability(&pb.GetAvailabilityRequest{}, ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(15), st.OnHand, "the stray read the owner's write before answering")
	assert.True(t, ctx.poisoned, "the stray stops after answering")
}

// ringPlaces reports whether a ring of a and b places sku on a.
func ringPlaces(a, b *cluster.Member, sku string) bool {
	t := actors.NewTopology(actor.NewActorSystem(), nil)
	t.Observe([]*cluster.Member{a, b}, a.Address())
	return t.Ring().Places(Spec.Kind, sku)
}

// An order gives up a SKU (Return or Release) while its Reserve, whose
// answer it never got, still waits at another activation of the SKU (two
// activations exist for a moment while members change; a timed-out call
// stays queued in the old one's mailbox). The give-up reaches the new
// activation first, which holds nothing of the order's; the late Reserve
// must then not take the units, or they stay reserved by an order that is
// over until the reservation expires.
func TestShellLateReserveAfterTheOrderGaveUpTakesNothing(t *testing.T) {
	for _, giveUp := range []string{"return", "release"} {
		t.Run(giveUp, func(t *testing.T) {
			j := newMemJournal()
			sku := "sku-late-" + giveUp
			old, oldCtx := activate(t, j, sku)
			_, err := old.SetStock(&pb.SetStockRequest{CommandId: "c1", OnHand: 10}, oldCtx)
			require.NoError(t, err)

			fresh, freshCtx := activate(t, j, sku)
			switch giveUp {
			case "return":
				_, err = fresh.Return(&pb.ReturnRequest{OrderId: "o1"}, freshCtx)
			default:
				_, err = fresh.Release(&pb.ReleaseRequest{OrderId: "o1"}, freshCtx)
			}
			require.NoError(t, err)

			_, err = old.Reserve(&pb.ReserveRequest{OrderId: "o1", Quantity: 3}, oldCtx)
			assert.True(t, emporium.IsCode(err, emporium.ECONFLICT), "the late reserve is refused: %v", err)
			replayed, err := Spec.Replay(context.Background(), j, sku)
			require.NoError(t, err)
			assert.Empty(t, replayed.Held, "nothing is held for an order that gave the SKU up")
			assert.Equal(t, int64(10), replayed.OnHand-replayed.Reserved)

			// Giving up again is answered from state, without another event.
			seq := j.lastSeq(Spec.Stream(sku))
			_, err = fresh.Return(&pb.ReturnRequest{OrderId: "o1"}, freshCtx)
			require.NoError(t, err)
			assert.Equal(t, seq, j.lastSeq(Spec.Stream(sku)))
		})
	}
}
