package actorstest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
)

// Main runs a grain package's tests, m, from its TestMain and returns the
// exit code for os.Exit. One store and one cluster member serve every test
// of a package: starting a member costs over a second, and Proto.Actor's
// remote does not like being started and stopped many times in one process.
//
// Main opens the store (persistencetest.MainConfig, in a temporary directory
// named after name) and a logger to stderr at Warn, and hands both to setUp,
// which builds the package's fixtures: typically it keeps the store in a
// package variable and starts the member. setUp registers each tear-down
// with cleanup as it goes, as it would defer it; after the tests, or as soon
// as setUp fails, Main runs them last first, then closes the store.
func Main(m *testing.M, name string, setUp func(store persistence.Store, logger *slog.Logger, cleanup func(func())) error) int {
	dir, err := os.MkdirTemp("", name+"-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	store, err := persistencetest.OpenStore(ctx, persistencetest.MainConfig(dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer store.Close(ctx)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	if err := setUp(store, logger, func(f func()) { cleanups = append(cleanups, f) }); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
