package mongostore_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/ferrettest"
	"github.com/emporium-shop/emporium/persistence/mongostore"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
)

// TestContractFerretDB runs the persistence contract suite against FerretDB
// in-process, with the workarounds the store takes there (ferret.go): key
// locks make its conditional writes atomic for this process, so the racing
// tests run too. Every FerretDB query reads the whole collection, even one
// by _id, so the test that loads hundreds of streams is skipped: it takes
// minutes there and proves nothing about MongoDB.
func TestContractFerretDB(t *testing.T) {
	t.Parallel()
	srv := ferrettest.Start(t, t.TempDir())
	b := backend(srv.URI, nil)
	b.ScanningQueries = true
	persistencetest.RunContract(t, b)
}

// TestContractMongoDBStrategiesOnFerretDB runs the code paths meant for
// MongoDB against FerretDB, so that they are tested on machines without
// MongoDB. FerretDB makes neither their concurrent conditional writes
// atomic nor their journal queries fast (see ferret.go), so the tests that
// depend on those are skipped.
func TestContractMongoDBStrategiesOnFerretDB(t *testing.T) {
	t.Parallel()
	srv := ferrettest.Start(t, t.TempDir())
	b := backend(srv.URI, mongostore.UseMongoDBStrategies)
	b.RacyConditionals = true
	b.ScanningQueries = true
	persistencetest.RunContract(t, b)
}

// TestContractMongoDB runs the suite against the MongoDB server at
// MONGODB_URI, in databases of its own that are dropped afterwards.
func TestContractMongoDB(t *testing.T) {
	uri := os.Getenv("MONGODB_URI")
	if uri == "" {
		t.Skip("MONGODB_URI is not set")
	}
	t.Parallel()
	persistencetest.RunContract(t, backend(uri, nil))
}

// backend is the contract suite's view of MongoDB at uri; prepare, when
// not nil, adjusts each store right after it opens.
func backend(uri string, prepare func(*mongostore.Store)) persistencetest.Backend {
	return persistencetest.Backend{
		Config: func(t *testing.T) persistence.Config { return persistencetest.MongoConfig(t, uri) },
		Open: func(t *testing.T, cfg persistence.Config) persistence.Store {
			s := persistencetest.OpenConfig(t, cfg)
			if prepare != nil {
				prepare(s.(*mongostore.Store))
			}
			return s
		},
		PlantEvent: plantEvent,
	}
}

// plantEvent stores a commit of one event, as Append would have stored it.
func plantEvent(t *testing.T, s persistence.Store, stream string, seq uint64, typ string, data []byte) {
	t.Helper()
	_, err := s.(*mongostore.Store).Database().Collection("journal").InsertOne(t.Context(), bson.D{
		{Key: "_id", Value: mongostore.CommitID(stream, int64(seq))}, {Key: "stream", Value: stream},
		{Key: "seq", Value: int64(seq)}, {Key: "last", Value: int64(seq)},
		{Key: "events", Value: bson.A{bson.D{{Key: "type", Value: typ}, {Key: "data", Value: data}}}},
		{Key: "at", Value: time.Now()},
	})
	require.NoError(t, err)
}
