// Package persistencetest gives tests of other packages a real store: the
// embedded FerretDB in a temporary directory, or the MongoDB named by the
// MONGODB_URI environment variable, in a database of its own.
package persistencetest

import (
	"context"
	"crypto/rand"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/emporium-shop/emporium/persistence"
)

// timeout bounds opening, closing and dropping a test store.
const timeout = 30 * time.Second

// Open opens a store for the test and closes it when the test ends. Without
// MONGODB_URI it is an embedded store under t.TempDir(), which starts in
// milliseconds. With MONGODB_URI it uses a database with a random name that
// is dropped when the test ends.
func Open(t testing.TB) *persistence.Store {
	t.Helper()
	return OpenConfig(t, Config(t))
}

// Config returns the configuration Open uses, for tests that want to change
// it (for example GroupCommit or Now) or to reopen the same data: each call
// names a fresh temporary directory or database, dropped when the test ends.
func Config(t testing.TB) persistence.Config {
	t.Helper()
	uri := os.Getenv("MONGODB_URI")
	if uri == "" {
		return persistence.Config{DataDir: t.TempDir()}
	}
	name := "test_" + rand.Text()[:16]
	t.Cleanup(func() { drop(t, uri, name) })
	return persistence.Config{URI: uri, Database: name}
}

// OpenConfig opens a store with cfg and closes it when the test ends.
func OpenConfig(t testing.TB, cfg persistence.Config) *persistence.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, err := persistence.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open the test store: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close the test store: %v", err)
		}
	})
	return s
}

// drop removes a test database with a client of its own, since the store
// that used it is closed by then.
func drop(t testing.TB, uri, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Errorf("drop test database %s: %v", name, err)
		return
	}
	defer func() { _ = client.Disconnect(ctx) }()
	if err := client.Database(name).Drop(ctx); err != nil {
		t.Errorf("drop test database %s: %v", name, err)
	}
}

// MainConfig is Config for a TestMain, which has no testing.TB: the embedded
// store under dir, or MONGODB_URI with a database of a random name. That
// database is left behind; name it in the server's clean-up if that matters.
func MainConfig(dir string) persistence.Config {
	uri := os.Getenv("MONGODB_URI")
	if uri == "" {
		return persistence.Config{DataDir: dir}
	}
	return persistence.Config{URI: uri, Database: "test_" + rand.Text()[:16]}
}
