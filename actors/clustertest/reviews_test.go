package clustertest

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/actors/product"
	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
	pb "github.com/emporium-shop/emporium/protos/productpb"
)

// startProductMember starts a member hosting ProductGrains over store.
func startProductMember(t *testing.T, agent *test.InMemAgent, store persistence.Store) *cluster.Cluster {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := actors.StartMember(actors.ClusterConfig{
		Provider: actors.ProviderTest, Agent: agent, Addr: "127.0.0.1:0", Logger: logger,
		RequestTimeout: 2 * time.Second,
	}, product.NewKind(product.Config{
		GrainConfig: actors.GrainConfig{Journal: store.Journal(), Snapshots: store.Snapshots(), Logger: logger},
		Claims:      &actors.DocumentClaims{Collection: func(c string) actors.ClaimDocuments { return store.Documents(c) }},
		Views:       store.Projections(),
	}))
	require.NoError(t, err)
	return c
}

// TestReviewsCountedOnceWhenAMemberIsKilled: buyers post, edit and
// withdraw reviews of products spread over three members while one member
// dies mid-work (no passivation, no goodbye). Every command that fails is
// sent again with its command id until it is answered, as Proto.Actor's
// retries and the service's callers do. Each product's rating is then
// exactly the count and mean of the reviews its buyers last left, and
// replaying its journal gives the same: no review counted twice, none
// lost.
func TestReviewsCountedOnceWhenAMemberIsKilled(t *testing.T) {
	store := persistencetest.Open(t)
	agent := test.NewInMemAgent()
	members := []*cluster.Cluster{startProductMember(t, agent, store), startProductMember(t, agent, store), startProductMember(t, agent, store)}
	for _, m := range members {
		actorstest.WaitFor(t, 15*time.Second, "three members", func() bool { return len(actors.Members(m)) == 3 })
	}
	defer func() {
		for _, m := range members[:2] {
			m.Shutdown(true)
		}
	}()

	const products, buyers = 12, 6
	run := time.Now().UnixNano()
	ids := make([]string, products)
	onKilled := 0
	for i := range ids {
		ids[i] = fmt.Sprintf("cluster-product-%02d-%d", i, run)
		c := members[i%3]
		_, err := pb.GetProductGrainGrainClient(c, ids[i]).Create(&pb.CreateRequest{
			CommandId: "create", VendorId: "vendor", Title: "Mug", CategoryId: "mugs", Currency: "USD",
			Variants: []*pb.VariantInput{{Sku: fmt.Sprintf("CL-%d-%02d", run, i), PriceAmount: 900}},
		})
		require.NoError(t, err)
		_, err = pb.GetProductGrainGrainClient(c, ids[i]).Publish(&pb.PublishRequest{CommandId: "publish", Caller: &pb.Caller{VendorId: "vendor"}})
		require.NoError(t, err)
		if members[0].Get(ids[i], product.Kind).Address == members[2].ActorSystem.Address() {
			onKilled++
		}
	}
	require.Positive(t, onKilled, "the member to be killed hosts some products")

	// send sends one command until it is answered, through the two
	// members that stay, with the same command id every time.
	send := func(via *cluster.Cluster, id string, cmd proto.Message) {
		g := pb.GetProductGrainGrainClient(via, id)
		deadline := time.Now().Add(30 * time.Second)
		for {
			var err error
			switch c := cmd.(type) {
			case *pb.PostReviewRequest:
				_, err = g.PostReview(c)
			case *pb.EditReviewRequest:
				_, err = g.EditReview(c)
			case *pb.DeleteReviewRequest:
				_, err = g.DeleteReview(c)
			}
			if err == nil {
				return
			}
			require.True(t, time.Now().Before(deadline), "%s: %T never answered: %v", id, cmd, err)
			t.Logf("%s %T: %v (sent again)", id, cmd, err)
		}
	}

	// Each buyer drives their own review of every product, one command at
	// a time, so the last stars each left are known.
	var (
		mu       sync.Mutex
		last     = map[string]map[string]int32{} // product -> buyer -> stars (absent: no review)
		commands atomic.Int64
		wg       sync.WaitGroup
		killed   = make(chan struct{})
	)
	for _, id := range ids {
		last[id] = map[string]int32{}
	}
	for b := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(b), 12))
			buyer := fmt.Sprint("buyer-", b)
			via := members[b%2]
			for round := range 6 {
				for _, id := range ids {
					mu.Lock()
					stars, has := last[id][buyer]
					mu.Unlock()
					cmdID := fmt.Sprintf("%s-%s-%d", buyer, id, round)
					next := int32(1 + r.IntN(5))
					switch {
					case !has:
						send(via, id, &pb.PostReviewRequest{CommandId: cmdID, ReviewId: id + "~" + cmdID, BuyerId: buyer,
							Rating: next, VerifiedPurchase: true})
						stars, has = next, true
					case r.IntN(4) == 0:
						send(via, id, &pb.DeleteReviewRequest{CommandId: cmdID, BuyerId: buyer})
						has = false
					default:
						send(via, id, &pb.EditReviewRequest{CommandId: cmdID, BuyerId: buyer, Rating: wrapperspb.Int32(next)})
						stars = next
					}
					mu.Lock()
					if has {
						last[id][buyer] = stars
					} else {
						delete(last[id], buyer)
					}
					mu.Unlock()
					commands.Add(1)
				}
				if round == 2 {
					<-killed // the later rounds run after the member died
				}
			}
		}()
	}
	actorstest.WaitFor(t, 20*time.Second, "some reviews", func() bool { return commands.Load() > 40 })
	agent.DeregisterService(members[2].ActorSystem.ID)
	members[2].Remote.Shutdown(false)
	for _, m := range members[:2] {
		actorstest.WaitFor(t, 15*time.Second, "two members", func() bool { return len(actors.Members(m)) == 2 })
	}
	close(killed)
	wg.Wait()

	for _, id := range ids {
		var sum int64
		for _, stars := range last[id] {
			sum += int64(stars)
		}
		want := &pb.Rating{Count: int64(len(last[id]))}
		if want.Count > 0 {
			want.Average = float64(sum) / float64(want.Count)
		}
		got, err := pb.GetProductGrainGrainClient(members[0], id).Get(&pb.GetRequest{})
		require.NoError(t, err, id)
		assert.InDelta(t, want.Average, got.Rating.GetAverage(), 1e-9, "%s: the average is the mean of the reviews left", id)
		assert.Equal(t, want.Count, got.Rating.GetCount(), "%s: every review counted once", id)
		replayed, err := product.Spec.Replay(t.Context(), store.Journal(), id)
		require.NoError(t, err, id)
		assert.True(t, proto.Equal(got.Rating, replayed.Rating), "%s: the journal replays to the rating answered", id)
		listed := 0
		for _, r := range replayed.Reviews {
			if r.Status == pb.ReviewStatus_REVIEW_STATUS_LISTED {
				listed++
				assert.Equal(t, last[id][r.BuyerId], r.Rating, "%s: %s's review", id, r.BuyerId)
			}
		}
		assert.Equal(t, len(last[id]), listed, "%s: one listed review per buyer", id)
	}
}
