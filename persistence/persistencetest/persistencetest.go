// Package persistencetest gives tests a real store and holds the contract
// suite every backend passes (RunContract). Open gives the embedded SQLite
// store in a temporary directory, or, when MONGODB_URI is set, MongoDB in a
// database of its own, so that the same tests run against the real server.
package persistencetest

import (
	"context"
	"crypto/rand"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/mongostore"
	"github.com/emporium-shop/emporium/persistence/sqlitestore"
)

// timeout bounds opening, closing and dropping a test store.
const timeout = 30 * time.Second

// Open opens a store for the test and closes it when the test ends. Without
// MONGODB_URI it is an embedded store under t.TempDir(), which starts in
// milliseconds. With MONGODB_URI it uses a database with a random name that
// is dropped when the test ends.
func Open(t testing.TB) persistence.Store {
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
	return MongoConfig(t, uri)
}

// MongoConfig returns the configuration of a database with a random name on
// the MongoDB server at uri, dropped when the test ends.
func MongoConfig(t testing.TB, uri string) persistence.Config {
	t.Helper()
	name := "test_" + rand.Text()[:16]
	t.Cleanup(func() { drop(t, uri, name) })
	return persistence.Config{URI: uri, Database: name}
}

// OpenConfig opens a store with cfg (MongoDB when cfg.URI is set, the
// embedded store otherwise) and closes it when the test ends.
func OpenConfig(t testing.TB, cfg persistence.Config) persistence.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, err := OpenStore(ctx, cfg)
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

// OpenStore opens the backend cfg names: MongoDB when cfg.URI is set, the
// embedded store otherwise, as a node does.
func OpenStore(ctx context.Context, cfg persistence.Config) (persistence.Store, error) {
	if cfg.URI != "" {
		return mongostore.Open(ctx, cfg)
	}
	return sqlitestore.Open(ctx, cfg)
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

// Overwrite stores doc as the projection id of collection at seq, whatever
// is stored, and fails the test if it cannot: tests use it to plant the
// state a crash or a bug would leave, which the conditional writes of the
// contract never make.
func Overwrite(t testing.TB, s persistence.Store, collection, id string, seq int64, doc any) {
	t.Helper()
	body, err := persistence.EncodeDocument(doc, id, "seq", seq)
	if err != nil {
		t.Fatalf("encode %s %q: %v", collection, id, err)
	}
	switch st := s.(type) {
	case *sqlitestore.Store:
		err = st.Overwrite(t.Context(), collection, id, seq, body)
	case *mongostore.Store:
		_, err = st.Database().Collection(collection).ReplaceOne(t.Context(), bson.D{{Key: "_id", Value: id}}, body, options.Replace().SetUpsert(true))
	default:
		t.Fatalf("cannot overwrite documents of a %T", s)
	}
	if err != nil {
		t.Fatalf("overwrite %s %q: %v", collection, id, err)
	}
}

// Remove deletes the document id of collection whatever its version; see
// Overwrite.
func Remove(t testing.TB, s persistence.Store, collection, id string) {
	t.Helper()
	var err error
	switch st := s.(type) {
	case *sqlitestore.Store:
		err = st.Remove(t.Context(), collection, id)
	case *mongostore.Store:
		_, err = st.Database().Collection(collection).DeleteOne(t.Context(), bson.D{{Key: "_id", Value: id}})
	default:
		t.Fatalf("cannot remove documents of a %T", s)
	}
	if err != nil {
		t.Fatalf("remove %s %q: %v", collection, id, err)
	}
}
