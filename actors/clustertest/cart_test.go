package clustertest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/actors/cart"
	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
	cartpb "github.com/emporium-shop/emporium/protos/cartpb"
)

// shelf is the catalogue the carts of this test price from: four SKUs, on
// sale, plenty in stock. What is under test is the carts' survival of a
// member leaving, not the catalogue lookups (actors/catalog tests those).
type shelf struct{}

func (shelf) Items(_ context.Context, skus ...string) (map[string]cart.Item, error) {
	out := make(map[string]cart.Item, len(skus))
	for _, sku := range skus {
		out[sku] = cart.Item{SKU: sku, ProductID: "p-" + sku, Title: "Mug " + sku, Options: map[string]string{},
			Price: emporium.Money{Amount: 1500, Currency: "USD"}, Active: true, Available: 1_000_000}
	}
	return out, nil
}

func startCartMember(t *testing.T, agent *test.InMemAgent, store persistence.Store) *member {
	t.Helper()
	return startCartMemberOnClock(t, agent, store, nil)
}

// startCartMemberOnClock starts a cart member whose topology (the settle
// window) reads clock; nil means the wall clock.
func startCartMemberOnClock(t *testing.T, agent *test.InMemAgent, store persistence.Store, clock actors.Clock) *member {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m := &member{activations: actors.NewActivations(nil)}
	c, err := actors.StartMember(actors.ClusterConfig{
		Provider: actors.ProviderTest, Agent: agent, Addr: "127.0.0.1:0", Logger: logger,
		RequestTimeout: 2 * time.Second, Clock: clock,
	}, cart.NewKind(cart.Config{
		GrainConfig: actors.GrainConfig{Journal: store.Journal(), Snapshots: store.Snapshots(), Logger: logger, Activations: m.activations},
		Catalog:     shelf{},
	}))
	require.NoError(t, err)
	m.c = c
	return m
}

// TestCartsSurviveAMemberLeaving: shoppers keep adding to their carts
// through two members while the third, which owns some of the carts, leaves
// as a node's SIGTERM makes it. Every add that was confirmed is in the cart
// afterwards, answered by the members left; an add whose outcome was
// unknown (it failed during the hand-over) is there at most once.
func TestCartsSurviveAMemberLeaving(t *testing.T) {
	store := persistencetest.Open(t)
	agent := test.NewInMemAgent()
	members := []*member{startCartMember(t, agent, store), startCartMember(t, agent, store), startCartMember(t, agent, store)}
	for _, m := range members {
		actorstest.WaitFor(t, 15*time.Second, "three members", func() bool { return len(actors.Members(m.c)) == 3 })
	}
	defer func() {
		for _, m := range members[:2] {
			m.c.Shutdown(true)
		}
	}()

	run := time.Now().UnixNano()
	users := make([]string, 12)
	for i := range users {
		users[i] = fmt.Sprintf("shopper-%02d-%d", i, run)
	}
	skus := []string{"MUG-A", "MUG-B", "MUG-C", "MUG-D"}
	onLeaving := 0
	for _, u := range users {
		if members[0].c.Get(u, cart.Kind).Address == members[2].c.ActorSystem.Address() {
			onLeaving++
		}
	}
	require.Positive(t, onLeaving, "the leaving member owns some carts")

	// Each (user, SKU) gets 30 adds of one unit, spread over two writers
	// that go through the members that stay.
	type add struct{ user, sku, id string }
	var work []add
	for round := range 30 {
		for _, u := range users {
			for _, s := range skus {
				work = append(work, add{u, s, fmt.Sprintf("add-%s-%s-%d", u, s, round)})
			}
		}
	}
	var (
		mu        sync.Mutex
		confirmed = map[string]int64{} // user/sku -> units
		unknown   = map[string]int64{}
		done      sync.WaitGroup
		progress  = make(chan int, len(work))
	)
	for w := range 2 {
		done.Add(1)
		go func() {
			defer done.Done()
			for i := w; i < len(work); i += 2 {
				a := work[i]
				_, err := cartpb.GetCartGrainGrainClient(members[w].c, a.user).AddItem(&cartpb.AddItemRequest{CommandId: a.id, Sku: a.sku, Quantity: 1})
				mu.Lock()
				if err == nil {
					confirmed[a.user+"/"+a.sku]++
				} else {
					unknown[a.user+"/"+a.sku]++
					t.Logf("add %s: %v", a.id, err)
				}
				mu.Unlock()
				progress <- i
			}
		}()
	}
	actorstest.WaitFor(t, 20*time.Second, "a third of the adds", func() bool { return len(progress) > len(work)/3 })
	require.NoError(t, members[2].activations.PassivateAll(t.Context(), members[2].c.ActorSystem))
	members[2].c.Shutdown(true)
	done.Wait()

	for _, u := range users {
		c, err := cartpb.GetCartGrainGrainClient(members[0].c, u).Get(&cartpb.GetRequest{})
		require.NoError(t, err, u)
		got := map[string]int64{}
		for _, l := range c.Lines {
			got[l.Sku] = l.Quantity
		}
		for _, s := range skus {
			key := u + "/" + s
			assert.GreaterOrEqual(t, got[s], confirmed[key], "%s: a confirmed add was lost", key)
			assert.LessOrEqual(t, got[s], confirmed[key]+unknown[key], "%s: an add was applied twice", key)
		}
		// The journal agrees with the grain.
		s, err := cart.Spec.Replay(t.Context(), store.Journal(), u)
		require.NoError(t, err)
		assert.Len(t, s.Lines, len(c.Lines), u)
	}
}

// TestStrayActivationStopsAndItsWriteIsSeen stages what a member whose view
// of the cluster is behind does while members change: it activates a cart
// on the member that used to hold it, though the ring now places the cart
// elsewhere, and writes through it. The stray answers from the journal,
// stops after answering (a stale route finds it gone), and the owner, whose
// state predates the stray's write, serves that write long after the change
// settled.
func TestStrayActivationStopsAndItsWriteIsSeen(t *testing.T) {
	store := persistencetest.Open(t)
	agent := test.NewInMemAgent()
	clock := actorstest.NewClock(time.Now().UTC())
	a, b := startCartMemberOnClock(t, agent, store, clock), startCartMemberOnClock(t, agent, store, clock)
	defer b.c.Shutdown(true)
	defer a.c.Shutdown(true)
	for _, m := range []*member{a, b} {
		actorstest.WaitFor(t, 15*time.Second, "two members", func() bool { return len(actors.Members(m.c)) == 2 })
	}

	// The members' rings agree with where the identity lookup activates.
	run := time.Now().UnixNano()
	var user string
	for i := range 40 {
		u := fmt.Sprintf("stray-%d-%d", i, run)
		onA := a.c.Get(u, cart.Kind).Address == a.c.ActorSystem.Address()
		require.Equal(t, onA, actors.TopologyOf(a.c.ActorSystem).Ring().Places(cart.Kind, u), u)
		require.Equal(t, !onA, actors.TopologyOf(b.c.ActorSystem).Ring().Places(cart.Kind, u), u)
		if onA && user == "" {
			user = u
		}
	}
	require.NotEmpty(t, user, "a placed some carts")
	owner := cartpb.GetCartGrainGrainClient(a.c, user)
	_, err := owner.AddItem(&cartpb.AddItemRequest{CommandId: "add-1", Sku: "MUG-A", Quantity: 1})
	require.NoError(t, err)

	// b's view is behind: it activates the cart at home and writes there.
	// (Asking the ring above activated b's own carts.)
	onB := b.activations.Live()
	res, err := a.c.ActorSystem.Root.RequestFuture(actor.NewPID(b.c.ActorSystem.Address(), "partition-activator"),
		&cluster.ActivationRequest{ClusterIdentity: cluster.NewClusterIdentity(user, cart.Kind)}, 5*time.Second).Result()
	require.NoError(t, err)
	stray := res.(*cluster.ActivationResponse).Pid
	require.Equal(t, b.c.ActorSystem.Address(), stray.Address)
	add := func() (any, error) {
		data, err := proto.Marshal(&cartpb.AddItemRequest{CommandId: "add-2", Sku: "MUG-B", Quantity: 2})
		require.NoError(t, err)
		return a.c.ActorSystem.Root.RequestFuture(stray, &cluster.GrainRequest{MethodIndex: 0, MessageData: data}, 2*time.Second).Result()
	}
	resp, err := add()
	require.NoError(t, err)
	require.IsType(t, &cartpb.Cart{}, resp, "the stray answered")
	assert.Len(t, resp.(*cartpb.Cart).Lines, 2, "the stray read the owner's add before answering")
	actorstest.WaitFor(t, 5*time.Second, "the stray stops", func() bool { return b.activations.Live() == onB })
	_, err = add()
	require.Error(t, err, "a stale route finds the stray gone")

	clock.Advance(time.Minute) // long after the change settled
	c, err := owner.Get(&cartpb.GetRequest{})
	require.NoError(t, err)
	assert.Len(t, c.Lines, 2, "the owner serves the stray's write")
	c, err = cartpb.GetCartGrainGrainClient(b.c, user).Get(&cartpb.GetRequest{})
	require.NoError(t, err)
	assert.Len(t, c.Lines, 2, "through either member")
	assert.Equal(t, onB, b.activations.Live(), "the cart lives on a only")
}
