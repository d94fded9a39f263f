package node_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/node"
)

// BenchmarkSeed loads the demo catalogue through the grains, as
// `serve --seed` does, into a fresh embedded store, and reports
// products/s. Run it with -benchtime=1x: every iteration seeds anew.
func BenchmarkSeed(b *testing.B) {
	const products = 3000
	for b.Loop() {
		cfg := node.DefaultConfig()
		cfg.HTTPAddr = "127.0.0.1:0"
		cfg.MetricsAddr = "127.0.0.1:0"
		cfg.DataDir = b.TempDir()
		cfg.LogLevel = "warn"
		n := node.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		require.NoError(b, n.Open(b.Context()))
		start := time.Now()
		require.NoError(b, n.Seed(b.Context(), products, 1, nil))
		b.ReportMetric(float64(products)/time.Since(start).Seconds(), "products/s")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		require.NoError(b, n.Close(ctx))
		cancel()
	}
}
