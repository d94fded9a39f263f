// Package clustertest runs several whole nodes in one process, joined with
// the automanaged provider the way two processes on one machine would be.
// Like actors/clustertest it runs without -race (DESIGN §2).
package clustertest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/node"
	"github.com/emporium-shop/emporium/persistence/ferrettest"
	"github.com/emporium-shop/emporium/protos/inventorypb"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestTwoNodesWithAutomanaged starts two nodes with CLUSTER_PROVIDER=
// automanaged, a shared peer list and one shared store (FerretDB),
// and checks that they form one cluster: each SKU has one owner whichever
// node is asked, and both see the same stock.
func TestTwoNodesWithAutomanaged(t *testing.T) {
	health := []int{freePort(t), freePort(t)}
	peers := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d", health[0], health[1])
	// Both nodes use one MongoDB-protocol store, as a cluster does.
	store := ferrettest.Start(t, t.TempDir())
	nodes := make([]*node.Node, 2)
	for i := range nodes {
		cfg := memberConfig(t, health[i], peers, store.URI)
		n := node.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		require.NoError(t, n.Open(t.Context()), "node %d", i)
		nodes[i] = n
	}
	defer func() {
		for i := len(nodes) - 1; i >= 0; i-- {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			assert.NoError(t, nodes[i].Close(ctx))
			cancel()
		}
	}()
	for _, n := range nodes {
		actorstest.WaitFor(t, 20*time.Second, "two members", func() bool { return len(actors.Members(n.Cluster)) == 2 })
	}

	owners := map[string]int{}
	for i := range 20 {
		sku := fmt.Sprintf("auto-sku-%d", i)
		a := nodes[0].Cluster.Get(sku, "InventoryGrain")
		b := nodes[1].Cluster.Get(sku, "InventoryGrain")
		require.NotNil(t, a)
		require.NotNil(t, b)
		assert.Equal(t, a.String(), b.String(), "%s has one owner", sku)
		owners[a.Address]++
		_, err := inventorypb.GetInventoryGrainGrainClient(nodes[i%2].Cluster, sku).SetStock(&inventorypb.SetStockRequest{CommandId: "c", OnHand: int64(i)})
		require.NoError(t, err)
		st, err := inventorypb.GetInventoryGrainGrainClient(nodes[(i+1)%2].Cluster, sku).GetAvailability(&inventorypb.GetAvailabilityRequest{})
		require.NoError(t, err)
		assert.Equal(t, int64(i), st.OnHand, "%s reads the same through the other node", sku)
	}
	assert.Len(t, owners, 2, "grains spread over both nodes: %v", owners)
}

// memberConfig is the configuration of one node of a test cluster on
// loopback: the automanaged provider with its health endpoint on health,
// the peers' health endpoints (comma-separated), and the shared store.
func memberConfig(t *testing.T, health int, peers, storeURI string) node.Config {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.ClusterProvider = "automanaged"
	cfg.ClusterAddr = "127.0.0.1:" + strconv.Itoa(freePort(t))
	cfg.ClusterHealth = health
	cfg.ClusterPeers = peers
	cfg.MongoURI = storeURI
	return cfg
}
