package node_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/gateway/gatewaytest"
	"github.com/emporium-shop/emporium/node"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
	"github.com/emporium-shop/emporium/protos/inventorypb"
)

// TestNodeServesAndShutsDown opens a whole node the way `emporium serve`
// does, with the embedded stores (or the servers MONGODB_URI and REDIS_URL
// name), checks that it is ready and answers by the contract, and closes it.
func TestNodeServesAndShutsDown(t *testing.T) {
	cfg := node.DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MetricsAddr = "127.0.0.1:0"
	store := persistencetest.Config(t)
	cfg.DataDir, cfg.MongoURI, cfg.MongoDatabase = store.DataDir, store.URI, store.Database
	if cfg.MongoDatabase == "" {
		cfg.MongoDatabase = "emporium"
	}
	cfg.RedisURL = getenv("REDIS_URL")
	n := node.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))

	start := time.Now()
	require.NoError(t, n.Open(t.Context()))
	t.Logf("node opened in %s", time.Since(start))
	closed := false
	defer func() {
		if !closed {
			_ = n.Close(context.Background())
		}
	}()

	client := &http.Client{Transport: gatewaytest.Transport(t, http.DefaultTransport), Timeout: 10 * time.Second}
	for _, path := range []string{"/readyz", "/healthz", "/openapi.yaml", "/metrics", "/debug/pprof/", "/v1/nothing-here"} {
		resp, err := client.Get(n.URL() + path)
		require.NoError(t, err, path)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch path {
		case "/readyz":
			assert.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, body)
			assert.Contains(t, string(body), `"ready"`)
			for _, check := range []string{"store", "redis", "cluster"} {
				assert.Contains(t, string(body), `"`+check+`":"ok"`)
			}
		case "/metrics":
			// Metrics are not public: the API answers 404, and they are
			// served on METRICS_ADDR (below).
			assert.Equal(t, http.StatusNotFound, resp.StatusCode)
			assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		case "/v1/nothing-here", "/debug/pprof/":
			assert.Equal(t, http.StatusNotFound, resp.StatusCode)
			assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		default:
			assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		}
	}

	require.NotEmpty(t, n.MetricsURL(), "METRICS_ADDR=127.0.0.1:0 serves metrics")
	assert.NotEqual(t, n.URL()+"/metrics", n.MetricsURL(), "metrics have their own listener")
	resp, err := http.Get(n.MetricsURL())
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "emporium_http_requests_total")
	assert.Contains(t, string(body), "emporium_grain_activations_total")
	assert.Contains(t, string(body), `route="/readyz"`, "the API's traffic is counted")
	resp, err = http.Get(strings.TrimSuffix(n.MetricsURL(), "/metrics") + "/debug/pprof/goroutine?debug=1")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the profiler is served beside the metrics")
	assert.Contains(t, string(body), "goroutine profile")

	// Keys with a TTL expire (one-time tokens and rate-limit windows rely
	// on it), including in the embedded Redis.
	require.NoError(t, n.Redis.Set(t.Context(), "node-test:ttl", "x", 50*time.Millisecond).Err())
	actorstest.WaitFor(t, 5*time.Second, "the key to expire", func() bool {
		return n.Redis.Exists(t.Context(), "node-test:ttl").Val() == 0
	})

	// Grains are live when the node stops: Close passivates them (each saves
	// its snapshot) before the member leaves and the store closes.
	for i := range 50 {
		sku := fmt.Sprintf("node-sku-%d", i)
		_, err := inventorypb.GetInventoryGrainGrainClient(n.Cluster, sku).SetStock(&inventorypb.SetStockRequest{CommandId: "c", OnHand: 1})
		require.NoError(t, err)
		for j := range 25 {
			_, err := inventorypb.GetInventoryGrainGrainClient(n.Cluster, sku).Restock(&inventorypb.RestockRequest{CommandId: fmt.Sprint(j), Quantity: 1})
			require.NoError(t, err)
		}
	}
	require.Equal(t, 50, n.Activations.Live())

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start = time.Now()
	require.NoError(t, n.Close(ctx))
	closed = true
	assert.Less(t, time.Since(start), 15*time.Second)
	assert.Equal(t, 0, n.Activations.Live(), "every grain passivated")
	_, err = http.Get(n.URL() + "/healthz")
	assert.Error(t, err, "the listener is closed")
	_, err = http.Get(n.MetricsURL())
	assert.Error(t, err, "the metrics listener is closed")
}

func TestOpenNamesTheBadSetting(t *testing.T) {
	cfg := node.DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.MongoURI = "mongodb://shopper:hunter2@127.0.0.1:1/?serverSelectionTimeoutMS=500&connectTimeoutMS=500"
	n := node.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	err := n.Open(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "MONGODB_URI")
	assert.Contains(t, err.Error(), "127.0.0.1:1")
	assert.NotContains(t, err.Error(), "hunter2")

	cfg.MongoURI = ""
	cfg.RedisURL = "redis://:hunter2@127.0.0.1:1/0"
	n = node.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	err = n.Open(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "REDIS_URL")
	assert.NotContains(t, err.Error(), "hunter2")

	cfg.RedisURL = ""
	cfg.LogLevel = "loud"
	cfg.ClusterProvider = "carrier-pigeon"
	err = node.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))).Open(t.Context())
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "LOG_LEVEL") && strings.Contains(err.Error(), "CLUSTER_PROVIDER"), err.Error())
}

// TestMetricsListener: an empty METRICS_ADDR serves no metrics (and the API
// still answers 404 for /metrics); an address in use fails the start naming
// METRICS_ADDR.
func TestMetricsListener(t *testing.T) {
	cfg := node.DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MetricsAddr = ""
	cfg.DataDir = t.TempDir()
	n := node.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, n.Open(t.Context()))
	assert.Empty(t, n.MetricsURL())
	resp, err := http.Get(n.URL() + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.NoError(t, n.Close(context.Background()))

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	cfg.MetricsAddr = busy.Addr().String()
	cfg.DataDir = t.TempDir()
	n = node.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	err = n.Open(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "METRICS_ADDR="+busy.Addr().String())
}
