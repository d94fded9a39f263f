package clustertest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m := &member{activations: actors.NewActivations(nil)}
	c, err := actors.StartMember(actors.ClusterConfig{
		Provider: actors.ProviderTest, Agent: agent, Addr: "127.0.0.1:0", Logger: logger,
		RequestTimeout: 2 * time.Second,
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
		actorstest.WaitFor(t, 15*time.Second, "three members", func() bool { return m.c.MemberList.Length() == 3 })
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
