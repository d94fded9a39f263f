package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/actors/inventory"
	"github.com/emporium-shop/emporium/gateway/gatewaytest"
	"github.com/emporium-shop/emporium/node"
	"github.com/emporium-shop/emporium/persistence/ferrettest"
	"github.com/emporium-shop/emporium/protos/inventorypb"
)

// cluster is whole nodes in one process, joined with the automanaged
// provider over one shared store (FerretDB), each with its own DATA_DIR and
// so its own embedded search index, as a local cluster without
// Elasticsearch runs.
type cluster struct {
	nodes  []*node.Node
	closed []bool
	client *http.Client
}

// startCluster opens size nodes; drain is each node's SHUTDOWN_DRAIN.
func startCluster(t *testing.T, size int, drain time.Duration) *cluster {
	t.Helper()
	health := make([]int, size)
	var peers []string
	for i := range health {
		health[i] = freePort(t)
		peers = append(peers, "127.0.0.1:"+strconv.Itoa(health[i]))
	}
	store := ferrettest.Start(t, t.TempDir())
	// Every node of a cluster signs and checks access tokens with the same
	// keys; the first node makes the file.
	keys := filepath.Join(t.TempDir(), "jwt-ed25519.pem")
	c := &cluster{nodes: make([]*node.Node, size), closed: make([]bool, size),
		client: &http.Client{Transport: gatewaytest.Transport(t, http.DefaultTransport), Timeout: 20 * time.Second}}
	for i := range c.nodes {
		cfg := memberConfig(t, health[i], strings.Join(peers, ","), store.URI)
		cfg.PublicURL = "https://shop.example"
		cfg.ShutdownDrain = drain
		cfg.JWTKeyFile = keys
		n := node.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		require.NoError(t, n.Open(t.Context()), "node %d", i)
		c.nodes[i] = n
	}
	t.Cleanup(func() {
		for i := len(c.nodes) - 1; i >= 0; i-- {
			if !c.closed[i] {
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				assert.NoError(t, c.nodes[i].Close(ctx))
				cancel()
			}
		}
	})
	for _, n := range c.nodes {
		actorstest.WaitFor(t, 20*time.Second, fmt.Sprintf("%d members", size), func() bool { return len(actors.Members(n.Cluster)) == size })
	}
	return c
}

// do sends a JSON request to node i and decodes the JSON answer; the
// transport checks both against the contract.
func (c *cluster) do(t *testing.T, i int, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.nodes[i].URL()+path, rd)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.client.Do(req)
	require.NoError(t, err, "%s %s", method, path)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out), "%s", raw)
	}
	return resp.StatusCode, out
}

// token creates a verified account with roles through node 0's accounts
// and signs it in over HTTP.
func (c *cluster) token(t *testing.T, name string, roles ...string) string {
	t.Helper()
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e8)
	email := name + suffix + "@example.com"
	const password = "correct horse battery staple"
	_, err := c.nodes[0].Accounts.CreateUser(t.Context(), name+"_"+suffix, email, password, roles)
	require.NoError(t, err)
	status, body := c.do(t, 0, "POST", "/v1/auth/login", "", map[string]any{"email": email, "password": password})
	require.Equal(t, http.StatusOK, status, "%v", body)
	return body["access_token"].(string)
}

// metric reads one sample of node i's metrics, or -1 when it is absent.
func (c *cluster) metric(t *testing.T, i int, sample string) float64 {
	t.Helper()
	resp, err := http.Get(c.nodes[i].MetricsURL())
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			require.NoError(t, err)
			return f
		}
	}
	return -1
}

// TestOperatingACluster is issue 13's resize and search in one cluster of
// two nodes: an administrator sees both members with the grains each
// holds (and nobody else does), a product written through one node is
// found by search on the other, and a node's orderly stop (what SIGTERM
// runs) fails its readiness first, keeps serving while it drains, and
// leaves every acknowledged change readable through the node that stays.
func TestOperatingACluster(t *testing.T) {
	c := startCluster(t, 2, time.Second)
	admin := c.token(t, "root", "admin")
	shopper := c.token(t, "ada")

	// Stock for SKUs spread over both members, each change acknowledged.
	owners := map[string]string{} // sku -> member address
	perMember := map[string]int64{}
	for i := range 16 {
		sku := fmt.Sprintf("OPS-SKU-%02d", i)
		_, err := inventorypb.GetInventoryGrainGrainClient(c.nodes[i%2].Cluster, sku).SetStock(&inventorypb.SetStockRequest{CommandId: "s1", OnHand: int64(10 + i)})
		require.NoError(t, err)
		pid := c.nodes[0].Cluster.Get(sku, "InventoryGrain")
		require.NotNil(t, pid)
		owners[sku] = pid.Address
		perMember[pid.Address]++
	}
	require.Len(t, perMember, 2, "the SKUs' grains are on both members: %v", perMember)

	t.Run("only an administrator sees the cluster", func(t *testing.T) {
		status, body := c.do(t, 0, "GET", "/v1/admin/cluster", "", nil)
		assert.Equal(t, http.StatusUnauthorized, status, "anonymous: %v", body)
		status, body = c.do(t, 1, "GET", "/v1/admin/cluster", shopper, nil)
		assert.Equal(t, http.StatusForbidden, status, "a shopper: %v", body)
		assert.NotContains(t, fmt.Sprint(body), "127.0.0.1", "a refusal names no member")
	})

	t.Run("the administrator sees every member and its grains", func(t *testing.T) {
		for asked := range c.nodes {
			var body map[string]any
			// Other grain kinds come and go (the sign-ins' user and
			// session grains); the inventory grains are the test's own.
			actorstest.WaitFor(t, 10*time.Second, "the inventory grains counted on each member", func() bool {
				var status int
				status, body = c.do(t, asked, "GET", "/v1/admin/cluster", admin, nil)
				require.Equal(t, http.StatusOK, status, "%v", body)
				members := body["members"].([]any)
				if len(members) != 2 {
					return false
				}
				for _, m := range members {
					m := m.(map[string]any)
					grains := m["grains"].(map[string]any)
					if m["status"] != "serving" || grains["InventoryGrain"] != float64(perMember[m["address"].(string)]) {
						return false
					}
				}
				return true
			})
			assert.Equal(t, c.nodes[asked].Cluster.ActorSystem.Address(), body["node"])
			selves := 0
			for _, m := range body["members"].([]any) {
				m := m.(map[string]any)
				assert.Equal(t, node.Version, m["version"])
				assert.Equal(t, "bleve", m["search"].(map[string]any)["backend"])
				if m["self"] == true {
					selves++
					assert.Equal(t, body["node"], m["address"])
				}
			}
			assert.Equal(t, 1, selves, "one member is the one asked")
			for _, dep := range []string{"store", "redis", "search"} {
				assert.Equal(t, "ok", body[dep].(map[string]any)["status"], dep)
			}
			assert.Equal(t, "mongodb", body["store"].(map[string]any)["backend"])
		}
		for i, n := range c.nodes {
			assert.Equal(t, 2.0, c.metric(t, i, "emporium_cluster_members"), "node %d", i)
			assert.Equal(t, 0.0, c.metric(t, i, "emporium_node_draining"), "node %d", i)
			assert.Equal(t, float64(perMember[n.Cluster.ActorSystem.Address()]),
				c.metric(t, i, `emporium_grain_active{kind="InventoryGrain"}`), "node %d", i)
		}
	})

	t.Run("search answers the same on every member", func(t *testing.T) {
		status, cat := c.do(t, 0, "POST", "/v1/admin/categories", admin, map[string]any{"name": "Kettles"})
		require.Equal(t, http.StatusCreated, status, "%v", cat)
		vendor := c.token(t, "vera")
		status, body := c.do(t, 0, "POST", "/v1/vendors", vendor, map[string]any{"store_name": "Vera Steam", "description": "Kettles."})
		require.Equal(t, http.StatusCreated, status, "%v", body)
		// Products until each member hosts the grain of one: a product whose
		// grain is on node 0 is indexed there and reaches node 1's index
		// only through the search feed, and the other way round.
		hosts := map[string][][2]string{} // member -> (word, product id)
		for i := 0; i < 16 && len(hosts) < 2; i++ {
			word := fmt.Sprintf("zephyrkettle%d", i)
			status, p := c.do(t, i%2, "POST", "/v1/vendor/products", vendor, map[string]any{
				"title": "Copper " + word, "brand": "Vera", "category_id": cat["id"], "currency": "USD",
				"variants": []any{map[string]any{"sku": fmt.Sprintf("VERA-K%d", i), "price": 4999}},
			})
			require.Equal(t, http.StatusCreated, status, "%v", p)
			id := p["id"].(string)
			status, p = c.do(t, i%2, "PATCH", "/v1/vendor/products/"+id, vendor, map[string]any{"status": "active"})
			require.Equal(t, http.StatusOK, status, "%v", p)
			host := c.nodes[0].Cluster.Get(id, "ProductGrain").Address
			hosts[host] = append(hosts[host], [2]string{word, id})
		}
		require.Len(t, hosts, 2, "products on both members")
		for _, products := range hosts {
			for _, p := range products {
				for i := range c.nodes {
					// The search is typo-tolerant, so the other kettles
					// may be found too; this one must be.
					actorstest.WaitFor(t, 20*time.Second, fmt.Sprintf("%s found on node %d", p[0], i), func() bool {
						status, body := c.do(t, i, "GET", "/v1/products?limit=100&q="+p[0], "", nil)
						require.Equal(t, http.StatusOK, status, "%v", body)
						for _, it := range body["items"].([]any) {
							if it.(map[string]any)["id"] == p[1] {
								return true
							}
						}
						return false
					})
				}
			}
		}
		// A member may find the other's product before it reads the feed
		// (its own sweep of pending products indexes it too), so its cursor
		// may still be 0 here; within a few feed intervals it is not.
		actorstest.WaitFor(t, 10*time.Second, "each member followed the feed", func() bool {
			status, body := c.do(t, 1, "GET", "/v1/admin/cluster", admin, nil)
			require.Equal(t, http.StatusOK, status, "%v", body)
			for _, m := range body["members"].([]any) {
				if m.(map[string]any)["search"].(map[string]any)["feed_cursor"].(float64) <= 0 {
					return false
				}
			}
			return true
		})
	})

	t.Run("an orderly stop loses nothing acknowledged", func(t *testing.T) {
		leaving := c.nodes[1]
		// The last changes before the stop go through the leaving node, to
		// grains on both members.
		for i := range 16 {
			sku := fmt.Sprintf("OPS-SKU-%02d", i)
			_, err := inventorypb.GetInventoryGrainGrainClient(leaving.Cluster, sku).SetStock(&inventorypb.SetStockRequest{CommandId: "s2", OnHand: int64(100 + i)})
			require.NoError(t, err)
		}
		readyz := func() (int, map[string]any) { return c.do(t, 1, "GET", "/readyz", "", nil) }
		status, body := readyz()
		require.Equal(t, http.StatusOK, status, "%v", body)

		var wg sync.WaitGroup
		var closeErr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			closeErr = leaving.Close(ctx) // what SIGTERM runs (cmd/emporium serve)
		}()
		actorstest.WaitFor(t, 5*time.Second, "readiness fails first", func() bool {
			status, body = readyz()
			return status == http.StatusServiceUnavailable
		})
		assert.Equal(t, "draining", body["status"])
		status, body = c.do(t, 1, "GET", "/v1/products?q=zephyrkettle0", "", nil)
		assert.Equal(t, http.StatusOK, status, "still serving while draining: %v", body)
		assert.Equal(t, 1.0, c.metric(t, 1, "emporium_node_draining"))
		wg.Wait()
		require.NoError(t, closeErr)
		c.closed[1] = true

		stays := c.nodes[0]
		actorstest.WaitFor(t, 20*time.Second, "one member left", func() bool { return len(actors.Members(stays.Cluster)) == 1 })
		// The read models first, before any grain of the leaving node is
		// activated again here (an activation projects afresh): those of
		// its grains were written by its stop.
		require.NoError(t, stays.Store.Projections().Flush(t.Context()))
		for i := range 16 {
			sku := fmt.Sprintf("OPS-SKU-%02d", i)
			var view inventory.View
			_, err := stays.Store.Projections().Get(t.Context(), inventory.ViewCollection, sku, &view)
			require.NoError(t, err)
			assert.Equal(t, int64(100+i), view.OnHand, "%s's read model (grain on %s) is current", sku, owners[sku])
		}
		for i := range 16 {
			sku := fmt.Sprintf("OPS-SKU-%02d", i)
			st, err := inventorypb.GetInventoryGrainGrainClient(stays.Cluster, sku).GetAvailability(&inventorypb.GetAvailabilityRequest{})
			require.NoError(t, err, sku)
			assert.Equal(t, int64(100+i), st.OnHand, "%s (was on %s) kept its last acknowledged change", sku, owners[sku])
		}
		status, body = c.do(t, 0, "GET", "/v1/admin/cluster", admin, nil)
		require.Equal(t, http.StatusOK, status)
		require.Len(t, body["members"], 1)
		assert.Equal(t, stays.Cluster.ActorSystem.Address(), body["members"].([]any)[0].(map[string]any)["address"])
	})
}
