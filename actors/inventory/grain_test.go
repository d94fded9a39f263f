package inventory_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/actors/inventory"
	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
	pb "github.com/emporium-shop/emporium/protos/inventorypb"
)

// One cluster member and one store serve every test of this package:
// starting a member costs over a second, and Proto.Actor's remote does not
// like being started and stopped many times in one process. Each test uses
// its own SKUs.
var (
	member      *cluster.Cluster
	store       persistence.Store
	clock       = actorstest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	activations = actors.NewActivations(nil)
)

const idleTimeout = 2 * time.Second

// notices records the back-in-stock notices the grains send, by key, and
// fails the keys told to.
var notices = &noticeLog{sent: map[string]int{}, failing: map[string]int{}}

type noticeLog struct {
	mu      sync.Mutex
	sent    map[string]int
	failing map[string]int // key -> failures left
}

func (l *noticeLog) notify(_ context.Context, n inventory.Notice) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failing[n.Key()] > 0 {
		l.failing[n.Key()]--
		return emporium.Errorf(emporium.EUNAVAILABLE, "the mail server is down (test)")
	}
	l.sent[n.Key()]++
	return nil
}

func (l *noticeLog) count(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent[key]
}

func (l *noticeLog) fail(key string, times int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failing[key] = times
}

func TestMain(m *testing.M) {
	os.Exit(actorstest.Main(m, "inventory", func(s persistence.Store, logger *slog.Logger, cleanup func(func())) (err error) {
		store = s
		if err := inventory.EnsureIndexes(context.Background(), store.Projections()); err != nil {
			return err
		}
		member, err = actors.StartMember(actors.ClusterConfig{
			Provider: actors.ProviderLocal,
			Addr:     "127.0.0.1:0",
			Logger:   logger,
		}, inventory.NewKind(inventory.Config{
			GrainConfig: actors.GrainConfig{
				Journal:       store.Journal(),
				Snapshots:     store.Snapshots(),
				Clock:         clock,
				Logger:        logger,
				Activations:   activations,
				IdleTimeout:   idleTimeout,
				SnapshotEvery: 20,
			},
			Views:       store.Projections(),
			Notify:      notices.notify,
			NoticeRetry: time.Second,
		}))
		if err != nil {
			return err
		}
		cleanup(func() { member.Shutdown(true) })
		return nil
	}))
}

func grain(sku string) *pb.InventoryGrainGrainClient {
	return pb.GetInventoryGrainGrainClient(member, sku)
}

// newSKU returns a SKU name no other test uses, stocked with onHand units.
func newSKU(t *testing.T, onHand int64) string {
	t.Helper()
	sku := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
	st, err := grain(sku).SetStock(&pb.SetStockRequest{CommandId: "initial", OnHand: onHand})
	require.NoError(t, err)
	require.Equal(t, onHand, st.OnHand)
	return sku
}

func TestConcurrentReservesNeverOversell(t *testing.T) {
	const stock, buyers = 50, 200
	sku := newSKU(t, stock)
	var ok, outOfStock atomic.Int64
	var wg sync.WaitGroup
	for i := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := grain(sku).Reserve(&pb.ReserveRequest{OrderId: fmt.Sprintf("order-%d", i), Quantity: 1})
			switch {
			case err == nil:
				ok.Add(1)
			case emporium.IsCode(err, emporium.EOUTOFSTOCK):
				outOfStock.Add(1)
			default:
				t.Errorf("reserve %d: unexpected error %v", i, err)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(stock), ok.Load(), "successful reservations")
	assert.Equal(t, int64(buyers-stock), outOfStock.Load(), "out-of-stock answers")

	st, err := grain(sku).GetAvailability(&pb.GetAvailabilityRequest{})
	require.NoError(t, err)
	assert.Equal(t, int64(0), st.Available)
	assert.Equal(t, int64(stock), st.Reserved)
	assert.Equal(t, st.OnHand, st.Available+st.Reserved)

	// Replaying the journal from the start gives the state the grain holds.
	replayed := replay(t, store, sku)
	assert.Equal(t, st.OnHand, replayed.OnHand)
	assert.Len(t, replayed.Held, stock)
	assert.Equal(t, st.Seq, uint64(1+stock), "one event per successful command, none for refusals")
}

func TestDuplicateReserveChangesStockOnce(t *testing.T) {
	sku := newSKU(t, 10)
	req := &pb.ReserveRequest{OrderId: "order-1", Quantity: 3}
	first, err := grain(sku).Reserve(req)
	require.NoError(t, err)
	// Proto.Actor retries a request that timed out; the grain sees it again.
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			again, err := grain(sku).Reserve(req)
			assert.NoError(t, err)
			assert.Equal(t, first.Available, again.Available)
			assert.Equal(t, first.Seq, again.Seq)
		}()
	}
	wg.Wait()
	st, err := grain(sku).GetAvailability(&pb.GetAvailabilityRequest{})
	require.NoError(t, err)
	assert.Equal(t, int64(7), st.Available)
	assert.Equal(t, int64(3), st.Reserved)

	// The same holds for Commit, Release, SetStock and Restock.
	for range 2 {
		_, err = grain(sku).Commit(&pb.CommitRequest{OrderId: "order-1"})
		require.NoError(t, err)
		_, err = grain(sku).Restock(&pb.RestockRequest{CommandId: "delivery-1", Quantity: 5})
		require.NoError(t, err)
	}
	st, err = grain(sku).GetAvailability(&pb.GetAvailabilityRequest{})
	require.NoError(t, err)
	assert.Equal(t, int64(12), st.OnHand)
	assert.Equal(t, int64(3), st.Sold)
	assert.Equal(t, int64(0), st.Reserved)

	// A retried reserve after the commit is answered, not reserved again.
	again, err := grain(sku).Reserve(req)
	require.NoError(t, err)
	assert.Equal(t, pb.ReservationStatus_RESERVATION_STATUS_COMMITTED, again.Reservation.GetStatus())
	assert.Equal(t, int64(12), again.Available)
}

func TestBadCommandsChangeNothing(t *testing.T) {
	sku := newSKU(t, 5)
	before, err := grain(sku).GetAvailability(&pb.GetAvailabilityRequest{})
	require.NoError(t, err)
	cases := []struct {
		name string
		call func() error
		code string
	}{
		{"reserve zero", func() error { _, err := grain(sku).Reserve(&pb.ReserveRequest{OrderId: "o", Quantity: 0}); return err }, emporium.EINVALID},
		{"reserve no order", func() error { _, err := grain(sku).Reserve(&pb.ReserveRequest{Quantity: 1}); return err }, emporium.EINVALID},
		{"reserve too many", func() error { _, err := grain(sku).Reserve(&pb.ReserveRequest{OrderId: "o", Quantity: 6}); return err }, emporium.EOUTOFSTOCK},
		{"negative stock", func() error {
			_, err := grain(sku).SetStock(&pb.SetStockRequest{CommandId: "x", OnHand: -1})
			return err
		}, emporium.EINVALID},
		{"commit unknown", func() error { _, err := grain(sku).Commit(&pb.CommitRequest{OrderId: "nope"}); return err }, emporium.ENOTFOUND},
	}
	for _, c := range cases {
		err := c.call()
		require.Error(t, err, c.name)
		assert.Equal(t, c.code, emporium.ErrorCode(err), "%s: %v", c.name, err)
		assert.NotEmpty(t, emporium.ErrorMessage(err), c.name)
	}
	after, err := grain(sku).GetAvailability(&pb.GetAvailabilityRequest{})
	require.NoError(t, err)
	assert.True(t, proto.Equal(before, after), "refused commands changed the stock: %v -> %v", before, after)
}

func TestPassivationKeepsState(t *testing.T) {
	sku := newSKU(t, 30)
	for i := range 45 { // past SnapshotEvery, so the reload uses a snapshot and the journal
		_, err := grain(sku).Reserve(&pb.ReserveRequest{OrderId: fmt.Sprintf("o%d", i%25), Quantity: 1})
		if i < 25 {
			require.NoError(t, err)
		}
		if i%3 == 0 {
			_, err = grain(sku).Restock(&pb.RestockRequest{CommandId: fmt.Sprintf("r%d", i), Quantity: 1})
			require.NoError(t, err)
		}
	}
	_, err := grain(sku).Commit(&pb.CommitRequest{OrderId: "o1"})
	require.NoError(t, err)
	before, err := grain(sku).GetAvailability(&pb.GetAvailabilityRequest{})
	require.NoError(t, err)

	// Passivate the activation the way the idle timeout does: a poison pill.
	pid := member.Get(sku, inventory.Kind)
	require.NotNil(t, pid)
	require.NoError(t, member.ActorSystem.Root.PoisonFuture(pid).Wait())

	after, err := grain(sku).GetAvailability(&pb.GetAvailabilityRequest{})
	require.NoError(t, err)
	assert.True(t, proto.Equal(before, after), "state changed across passivation: %v -> %v", before, after)
	assert.NotEqual(t, pid.String(), member.Get(sku, inventory.Kind).String(), "a new activation answered")

	// Retries after the reload are still recognised.
	again, err := grain(sku).Restock(&pb.RestockRequest{CommandId: "r42", Quantity: 1})
	require.NoError(t, err)
	assert.Equal(t, after.OnHand, again.OnHand)
}

func TestIdleGrainsPassivate(t *testing.T) {
	sku := newSKU(t, 1)
	require.Positive(t, activations.Live())
	actorstest.WaitFor(t, 3*idleTimeout, "every grain passivated", func() bool { return activations.Live() == 0 })
	st, err := grain(sku).GetAvailability(&pb.GetAvailabilityRequest{})
	require.NoError(t, err)
	assert.Equal(t, int64(1), st.OnHand)
}

func TestReservationsExpire(t *testing.T) {
	sku := newSKU(t, 4)
	_, err := grain(sku).Reserve(&pb.ReserveRequest{OrderId: "o1", Quantity: 3, TtlMs: 60_000})
	require.NoError(t, err)
	_, err = grain(sku).Reserve(&pb.ReserveRequest{OrderId: "o2", Quantity: 1, TtlMs: 120_000})
	require.NoError(t, err)

	// The activation's timer fires at the first expiry.
	clock.Advance(61 * time.Second)
	actorstest.WaitFor(t, 5*time.Second, "o1's units back", func() bool {
		st, err := grain(sku).GetAvailability(&pb.GetAvailabilityRequest{})
		return err == nil && st.Available == 3 && st.Reserved == 1
	})
	st, err := grain(sku).Commit(&pb.CommitRequest{OrderId: "o1"})
	assert.True(t, emporium.IsCode(err, emporium.EEXPIRED), "committing an expired reservation: %v %v", st, err)
}

func TestSweeperReleasesExpiriesOfPassivatedGrains(t *testing.T) {
	sku := newSKU(t, 2)
	_, err := grain(sku).Reserve(&pb.ReserveRequest{OrderId: "o1", Quantity: 2, TtlMs: 30_000})
	require.NoError(t, err)
	pid := member.Get(sku, inventory.Kind)
	require.NoError(t, member.ActorSystem.Root.PoisonFuture(pid).Wait())
	require.NoError(t, store.Projections().Flush(context.Background()))

	clock.Advance(31 * time.Second)
	view := readView(t, sku)
	assert.Equal(t, int64(2), view.Reserved, "no activation ran, so the read model still shows the hold")

	sweeper := &inventory.Sweeper{Cluster: member, Lister: store.Projections(), Clock: clock, Logger: slog.Default()}
	woken, err := sweeper.SweepOnce(context.Background())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, woken, 1)
	require.NoError(t, store.Projections().Flush(context.Background()))
	view = readView(t, sku)
	assert.Equal(t, int64(0), view.Reserved)
	assert.Equal(t, int64(2), view.Available)
	assert.Nil(t, view.NextExpiry)
}

func TestJournalConflictReloadsAndDecidesAgain(t *testing.T) {
	sku := newSKU(t, 10)
	st, err := grain(sku).GetAvailability(&pb.GetAvailabilityRequest{})
	require.NoError(t, err)
	// Another activation of the same SKU (as while members join or leave)
	// appends behind this one's back.
	_, err = store.Journal().Append(context.Background(), inventory.Spec.Stream(sku), st.Seq,
		&pb.Restocked{CommandId: "other-activation", Quantity: 5})
	require.NoError(t, err)

	// The grain decides on its stale state, its append collides with the
	// other activation's, and it reloads and decides again.
	got, err := grain(sku).Reserve(&pb.ReserveRequest{OrderId: "o1", Quantity: 3})
	require.NoError(t, err)
	assert.Equal(t, int64(15), got.OnHand, "the other activation's restock is seen")
	assert.Equal(t, int64(12), got.Available)
	assert.Equal(t, st.Seq+2, got.Seq)
	assert.Equal(t, got.OnHand, replay(t, store, sku).OnHand)

	// The reload also keeps the decision honest: 13 more do not fit.
	_, err = grain(sku).Reserve(&pb.ReserveRequest{OrderId: "o2", Quantity: 13})
	assert.True(t, emporium.IsCode(err, emporium.EOUTOFSTOCK), "got %v", err)
}

func readView(t *testing.T, sku string) inventory.View {
	t.Helper()
	var v inventory.View
	_, err := store.Projections().Get(context.Background(), inventory.ViewCollection, sku, &v)
	require.NoError(t, err)
	return v
}

// replay rebuilds the SKU's state from its whole journal.
func replay(t *testing.T, store persistence.Store, sku string) *pb.State {
	t.Helper()
	s, err := inventory.Spec.Replay(t.Context(), store.Journal(), sku)
	require.NoError(t, err)
	return s
}

// A read-model row left behind the journal (its last write lost in a crash)
// is rewritten by the next activation, so the sweeper does not wake that SKU
// forever.
func TestActivationRepairsAStaleReadModel(t *testing.T) {
	sku := newSKU(t, 3)
	// 40 events in all, so that the grain snapshots at its last seq and the
	// next activation finds nothing new in the journal.
	for i := range 37 {
		_, err := grain(sku).Restock(&pb.RestockRequest{CommandId: fmt.Sprint("r", i), Quantity: 1})
		require.NoError(t, err)
	}
	_, err := grain(sku).Reserve(&pb.ReserveRequest{OrderId: "o1", Quantity: 2, TtlMs: 1000})
	require.NoError(t, err)
	st, err := grain(sku).Release(&pb.ReleaseRequest{OrderId: "o1"})
	require.NoError(t, err)
	require.Equal(t, uint64(40), st.Seq)
	actorstest.WaitFor(t, 5*time.Second, "the snapshot at seq 40", func() bool {
		seq, _, err := store.Snapshots().Load(t.Context(), inventory.Spec.Stream(sku), &pb.State{})
		return err == nil && seq == 40
	})
	require.NoError(t, store.Projections().Flush(t.Context()))
	pid := member.Get(sku, inventory.Kind)
	require.NoError(t, member.ActorSystem.Root.PoisonFuture(pid).Wait())

	// The row as it was before the release: a hold with an expiry long past.
	past := clock.Now().Add(-time.Hour)
	persistencetest.Overwrite(t, store, inventory.ViewCollection, sku, int64(st.Seq-1),
		map[string]any{"sku": sku, "on_hand": 40, "reserved": 2, "available": 38, "next_expiry": past})

	sweeper := &inventory.Sweeper{Cluster: member, Lister: store.Projections(), Clock: clock, Logger: slog.Default()}
	_, err = sweeper.SweepOnce(t.Context())
	require.NoError(t, err)
	require.NoError(t, store.Projections().Flush(t.Context()))
	view := readView(t, sku)
	assert.Equal(t, int64(0), view.Reserved)
	assert.Nil(t, view.NextExpiry)
	due, err := store.Projections().DueBefore(t.Context(), inventory.ViewCollection, inventory.ExpiryField, clock.Now(), 1000)
	require.NoError(t, err)
	assert.NotContains(t, due, sku, "the sweeper no longer finds it")
}

// TestRequestRightAfterPassivation sends a request the moment each
// activation has stopped, as a request that races the idle timeout does:
// the member's request context retries after a pause long enough for the
// identity lookup to forget the stopped activation, so every request is
// answered by a new one (Proto.Actor's own retries, nanoseconds apart,
// failed a few in a hundred).
func TestRequestRightAfterPassivation(t *testing.T) {
	sku := newSKU(t, 7)
	for i := range 25 {
		pid := member.Get(sku, inventory.Kind)
		require.NotNil(t, pid)
		require.NoError(t, member.ActorSystem.Root.PoisonFuture(pid).Wait())
		st, err := grain(sku).GetAvailability(&pb.GetAvailabilityRequest{})
		require.NoError(t, err, "request %d right after passivation", i)
		assert.Equal(t, int64(7), st.OnHand)
	}
}
