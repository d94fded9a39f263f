package node_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/node"
	"github.com/emporium-shop/emporium/node/seed"
)

// syncBuffer is a log sink safe for the node's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemoVendorPassword: the demo vendors seeded by `serve --seed` get a
// random password per data directory, kept in DATA_DIR/demo-vendor-password
// (mode 0600) and reused by later seeds there; the log names the file and
// never shows the password; DEMO_PASSWORD gives one instead.
func TestDemoVendorPassword(t *testing.T) {
	cfg := node.DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.MongoURI, cfg.RedisURL, cfg.ElasticURL = "", "", ""
	cfg.DataDir = t.TempDir()
	cfg.SeedProducts = 3
	var logs syncBuffer
	n := node.New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, n.Open(t.Context()))
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	}()

	password, file, err := n.DemoVendorPassword()
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(cfg.DataDir, node.DemoPasswordFile), file)
	assert.GreaterOrEqual(t, len(password), 20)
	info, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "only the node's user reads it")
	saved, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, password, strings.TrimSpace(string(saved)))

	// A seeded vendor signs in with it.
	vendor := seed.GenerateRange(uint64(cfg.SeedRandom), cfg.SeedProducts, 0, cfg.SeedProducts).Vendors[0]
	_, err = n.Accounts.Login(t.Context(), vendor.Email, password, emporium.Client{IP: "127.0.0.1"})
	require.NoError(t, err, "the demo vendor signs in with the password of the file")
	_, err = n.Accounts.Login(t.Context(), vendor.Email, "emporium demo vendor", emporium.Client{IP: "127.0.0.1"})
	require.Error(t, err, "the old published password is not theirs")

	assert.Contains(t, logs.String(), file, "the log names the file")
	assert.NotContains(t, logs.String(), password, "the log never shows the password")

	// Later seeds of the same data directory reuse it; another directory
	// gets another.
	again, _, err := node.New(cfg, slog.New(slog.DiscardHandler)).DemoVendorPassword()
	require.NoError(t, err)
	assert.Equal(t, password, again)
	other := cfg
	other.DataDir = t.TempDir()
	otherPassword, otherFile, err := node.New(other, slog.New(slog.DiscardHandler)).DemoVendorPassword()
	require.NoError(t, err)
	assert.NotEqual(t, password, otherPassword)
	assert.Equal(t, filepath.Join(other.DataDir, node.DemoPasswordFile), otherFile)

	// DEMO_PASSWORD gives it, and no file is made.
	given := cfg
	given.DataDir = t.TempDir()
	given.DemoPassword = "a demo for the team"
	got, gotFile, err := node.New(given, slog.New(slog.DiscardHandler)).DemoVendorPassword()
	require.NoError(t, err)
	assert.Equal(t, "a demo for the team", got)
	assert.Empty(t, gotFile)
	assert.NoFileExists(t, filepath.Join(given.DataDir, node.DemoPasswordFile))
	assert.NotContains(t, slog.AnyValue(&given).Resolve().String(), "a demo for the team", "the settings log masks it")
}
