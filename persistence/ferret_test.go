package persistence_test

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
)

// TestUnorderedInsertManyReportsEachDuplicate pins down the server behaviour
// group commit relies on: an unordered InsertMany with duplicates writes
// every other document and reports each duplicate as a write error with its
// index in the batch, whether it collides with a stored document, with
// another document of the same batch, or on a unique secondary index.
// It runs on the embedded FerretDB, and on MongoDB when MONGODB_URI is set.
func TestUnorderedInsertManyReportsEachDuplicate(t *testing.T) {
	t.Parallel()
	s := persistencetest.Open(t)
	ctx := ctxFor(t)
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

	var ids []string
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	require.NoError(t, err)
	var stored []struct {
		ID string `bson:"_id"`
	}
	require.NoError(t, cur.All(ctx, &stored))
	for _, d := range stored {
		ids = append(ids, d.ID)
	}
	assert.Equal(t, []string{"a:1", "b:1", "c:1", "d:1", "e:1"}, ids)
}

// TestEmbeddedLookupsByIDUseAnIndex checks that SQLite answers FerretDB's
// _id filter from the index the store adds (see ferret.go). The expression
// is the one FerretDB 1.24 puts in its SQL (metadata.IDColumn); if an
// upgrade changes it, this test fails and the index must follow.
func TestEmbeddedLookupsByIDUseAnIndex(t *testing.T) {
	t.Parallel()
	cfg := persistence.Config{DataDir: t.TempDir()}
	s := persistencetest.OpenConfig(t, cfg)
	ctx := ctxFor(t)
	_, err := s.Documents("carts").Put(ctx, "c1", 0, bson.M{"v": 1})
	require.NoError(t, err)
	s.Projections().Put("listings", "p1", 1, bson.M{"v": 1})
	require.NoError(t, s.Projections().Flush(ctx))

	file := filepath.Join(cfg.DataDir, "mongo", persistence.DefaultDatabase+".sqlite")
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: file, RawQuery: "mode=ro"}).String())
	require.NoError(t, err)
	defer db.Close()
	for _, collection := range []string{"journal", "snapshots", "carts", "listings"} {
		var table string
		require.NoError(t, db.QueryRowContext(ctx, `SELECT table_name FROM _ferretdb_collections WHERE name = ?`, collection).Scan(&table))
		for _, stmt := range []string{
			`SELECT _ferretdb_sjson FROM %q WHERE _ferretdb_sjson->'$._id' = ?`,
			`UPDATE %q SET _ferretdb_sjson = '{}' WHERE _ferretdb_sjson->'$._id' = ?`,
			`DELETE FROM %q WHERE _ferretdb_sjson->'$._id' IN (?)`,
		} {
			plan := queryPlan(t, db, fmt.Sprintf(stmt, table))
			assert.Contains(t, plan, "USING INDEX "+table+"__emporium_id_lookup", "%s: %s", collection, stmt)
		}
	}
}

func queryPlan(t *testing.T, db *sql.DB, stmt string) string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+stmt, `"x"`)
	require.NoError(t, err)
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
		lines = append(lines, detail)
	}
	require.NoError(t, rows.Err())
	return strings.Join(lines, "\n")
}
