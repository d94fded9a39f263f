package node_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/actors/inventory"
	"github.com/emporium-shop/emporium/node"
	"github.com/emporium-shop/emporium/persistence"
	pb "github.com/emporium-shop/emporium/protos/inventorypb"
)

// heartbeatDoc is the stored heartbeat document, as actors.ViewRepair
// writes it.
type heartbeatDoc struct {
	Members map[string]memberBeat `bson:"members"`
}

type memberBeat struct {
	Address string    `bson:"address"`
	AliveAt time.Time `bson:"alive_at"`
}

func heartbeatsOf(t *testing.T, s persistence.Store) heartbeatDoc {
	t.Helper()
	var h heartbeatDoc
	_, err := s.Documents(node.HeartbeatsCollection).Get(t.Context(), "heartbeats", &h)
	if !emporium.IsCode(err, emporium.ENOTFOUND) {
		require.NoError(t, err)
	}
	return h
}

// TestADeadMembersLostReadModelsAreRepaired stages what a member killed
// with -9 leaves: its heartbeat, and SKUs whose events are in the journal
// while their read models are missing or behind (their projections were
// still queued). The node that stays finds the old heartbeat, wakes exactly
// the grains that are behind, which project afresh, and takes the
// heartbeat out; its own heartbeat goes when it stops in order.
func TestADeadMembersLostReadModelsAreRepaired(t *testing.T) {
	cfg := testConfig(t)
	cfg.DeadAfter = 600 * time.Millisecond
	n := node.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, n.Open(t.Context()))
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = n.Close(context.Background())
		}
	})
	ctx := t.Context()
	journal, views := n.Store.Journal(), n.Store.Projections()
	actorstest.WaitFor(t, 5*time.Second, "this node's heartbeat", func() bool {
		_, ok := heartbeatsOf(t, n.Store).Members[n.Cluster.ActorSystem.ID]
		return ok
	})

	// What a dead member left: SKUs whose events it appended and whose
	// projections it had queued when it died.
	stream := func(sku string) string { return inventory.Spec.StreamPrefix + sku }
	// Never projected: its only write was lost.
	_, err := journal.Append(ctx, stream("GHOST-NEW"), 0, &pb.Restocked{CommandId: "c1", Quantity: 7})
	require.NoError(t, err)
	// Projected at seq 1; the projection of seq 2 was lost.
	_, err = journal.Append(ctx, stream("GHOST-BEHIND"), 0, &pb.Restocked{CommandId: "c1", Quantity: 5})
	require.NoError(t, err)
	views.Put(inventory.ViewCollection, "GHOST-BEHIND", 1, inventory.View{SKU: "GHOST-BEHIND", OnHand: 5, Available: 5})
	_, err = journal.Append(ctx, stream("GHOST-BEHIND"), 1, &pb.Restocked{CommandId: "c2", Quantity: 3})
	require.NoError(t, err)
	// Projected in full: nothing to repair.
	_, err = journal.Append(ctx, stream("GHOST-CURRENT"), 0, &pb.Restocked{CommandId: "c1", Quantity: 4})
	require.NoError(t, err)
	views.Put(inventory.ViewCollection, "GHOST-CURRENT", 1, inventory.View{SKU: "GHOST-CURRENT", OnHand: 4, Available: 4})
	require.NoError(t, views.Flush(ctx))
	// Then its heartbeat, as of now (beside this node's, which beats every
	// 100 ms: written over the version read, again on a conflict): the
	// repair reads the journal from a minute before it.
	docs := n.Store.Documents(node.HeartbeatsCollection)
	for {
		var h heartbeatDoc
		version, err := docs.Get(ctx, "heartbeats", &h)
		require.NoError(t, err)
		h.Members["ghost"] = memberBeat{Address: "10.9.9.9:6330", AliveAt: time.Now()}
		if _, err = docs.Put(ctx, "heartbeats", version, h); !emporium.IsCode(err, emporium.ECONFLICT) {
			require.NoError(t, err)
			break
		}
	}

	actorstest.WaitFor(t, 10*time.Second, "the ghost's heartbeat taken out after its repair", func() bool {
		_, ok := heartbeatsOf(t, n.Store).Members["ghost"]
		return !ok
	})
	require.NoError(t, views.Flush(ctx))
	for sku, want := range map[string]int64{"GHOST-NEW": 7, "GHOST-BEHIND": 8, "GHOST-CURRENT": 4} {
		var v inventory.View
		seq, err := views.Get(ctx, inventory.ViewCollection, sku, &v)
		require.NoError(t, err, sku)
		assert.Equal(t, want, v.OnHand, "%s's read model matches its journal", sku)
		assert.Equal(t, map[string]uint64{"GHOST-NEW": 1, "GHOST-BEHIND": 2, "GHOST-CURRENT": 1}[sku], seq, sku)
	}
	assert.EqualValues(t, 2, n.Activations.Counts()[inventory.Spec.Kind], "only the two SKUs behind were woken")

	// An orderly stop takes this node's heartbeat out: nobody repairs
	// after it.
	require.NoError(t, n.Close(context.Background()))
	closed = true
	store, err := node.OpenStore(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer store.Close(context.Background())
	assert.Empty(t, heartbeatsOf(t, store).Members)
}
