package mongostore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/ferrettest"
)

// openFerret starts FerretDB for the test and opens a store on it; both
// stop when the test ends.
func openFerret(t *testing.T) *Store {
	t.Helper()
	srv := ferrettest.Start(t, t.TempDir())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, persistence.Config{URI: srv.URI})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		assert.NoError(t, s.Close(ctx))
	})
	return s
}

// TestOpenKnowsFerretDB checks that the store takes its FerretDB
// workarounds on FerretDB, and only there: isFerretDB reads the server's
// own buildInfo.
func TestOpenKnowsFerretDB(t *testing.T) {
	t.Parallel()
	s := openFerret(t)
	assert.True(t, s.ferret, "the server is FerretDB")
	assert.NotNil(t, s.locks, "FerretDB needs the key locks")
	assert.Equal(t, "mongodb", s.Backend())
	require.NoError(t, s.Ping(t.Context()))
}

// TestUnorderedInsertManyReportsEachDuplicate pins down the server behaviour
// group commit relies on: an unordered InsertMany with duplicates writes
// every other document and reports each duplicate as a write error with its
// index in the batch, whether it collides with a stored document, with
// another document of the same batch, or on a unique secondary index.
func TestUnorderedInsertManyReportsEachDuplicate(t *testing.T) {
	t.Parallel()
	s := openFerret(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	coll := s.Database().Collection("probe")
	_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "stream", Value: 1}, {Key: "seq", Value: 1}},
		Options: options.Index().SetName("stream_seq").SetUnique(true),
	})
	require.NoError(t, err)

	_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a:1"}, {Key: "stream", Value: "a"}, {Key: "seq", Value: 1}})
	require.NoError(t, err)
	docs := []any{
		bson.D{{Key: "_id", Value: "b:1"}, {Key: "stream", Value: "b"}, {Key: "seq", Value: 1}},
		bson.D{{Key: "_id", Value: "a:1"}, {Key: "stream", Value: "a"}, {Key: "seq", Value: 1}}, // stored _id
		bson.D{{Key: "_id", Value: "c:1"}, {Key: "stream", Value: "c"}, {Key: "seq", Value: 1}},
		bson.D{{Key: "_id", Value: "other"}, {Key: "stream", Value: "b"}, {Key: "seq", Value: 1}}, // (stream, seq) of index 0
		bson.D{{Key: "_id", Value: "d:1"}, {Key: "stream", Value: "d"}, {Key: "seq", Value: 1}},
		bson.D{{Key: "_id", Value: "d:1"}, {Key: "stream", Value: "d"}, {Key: "seq", Value: 1}}, // _id of index 4
		bson.D{{Key: "_id", Value: "e:1"}, {Key: "stream", Value: "e"}, {Key: "seq", Value: 1}},
	}
	_, err = coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))

	var bwe mongo.BulkWriteException
	require.True(t, errors.As(err, &bwe), "got %v (%T), want a mongo.BulkWriteException", err, err)
	assert.Nil(t, bwe.WriteConcernError)
	var failed []int
	for _, we := range bwe.WriteErrors {
		failed = append(failed, we.Index)
		assert.True(t, mongo.IsDuplicateKeyError(we), "write error %d is not a duplicate key: %v", we.Index, we)
		assert.Equal(t, 11000, we.Code)
	}
	assert.Equal(t, []int{1, 3, 5}, failed)

	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	require.NoError(t, err)
	var stored []struct {
		ID string `bson:"_id"`
	}
	require.NoError(t, cur.All(ctx, &stored))
	var ids []string
	for _, d := range stored {
		ids = append(ids, d.ID)
	}
	assert.Equal(t, []string{"a:1", "b:1", "c:1", "d:1", "e:1"}, ids)
}

// TestKeyLocksSerialiseOneKey checks the FerretDB key locks: one key is
// held by one caller at a time, a waiter gives up when its context ends,
// and a nil *keyLocks (MongoDB) never waits.
func TestKeyLocksSerialiseOneKey(t *testing.T) {
	t.Parallel()
	l := newKeyLocks()
	unlock, err := l.lock(t.Context(), "c", "x")
	require.NoError(t, err)
	short, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err = l.lock(short, "c", "x")
	assert.ErrorIs(t, err, context.DeadlineExceeded, "a held key was taken twice")
	unlock()
	unlock, err = l.lock(t.Context(), "c", "x")
	require.NoError(t, err, "a released key cannot be taken")
	unlock()

	var none *keyLocks
	unlock, err = none.lock(t.Context(), "c", "x")
	require.NoError(t, err)
	unlock()
}
