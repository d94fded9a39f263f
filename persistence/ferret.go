package persistence

// FerretDB 1.24 speaks the MongoDB protocol but differs from MongoDB in
// ways the store must work around (each one was measured on this version):
//
//   - An update or delete is a query followed by a separate write, with no
//     lock or transaction in between. A conditional write such as
//     ReplaceOne({_id, version: 3}) is therefore not atomic: of 50
//     concurrent writers at the same version, two succeeded. Only inserts
//     are atomic, because SQLite enforces unique indexes. So on FerretDB the
//     store serialises, per document, its read-check-write sequences in
//     process (keyLocks). That is sound for the embedded store, whose only
//     client is this process; against an external FerretDB it protects only
//     writers in this process, and Open logs a warning.
//   - The SQLite backend pushes only the filter {_id: <string>} down to
//     SQL, and even that is a full table scan, because the query's
//     expression (_ferretdb_sjson->'$._id') differs from the expression of
//     FerretDB's own unique _id index (_ferretdb_sjson->"_id"). Every other
//     filter and every sort is evaluated in Go over the whole collection.
//     So the store reads and writes by _id only on FerretDB (the journal
//     walks a stream commit by commit, see journal_load.go) and, for the
//     embedded store, adds a plain SQLite index on exactly the query's
//     expression (ensureIDIndex), which turns those scans into index seeks.
//   - createIndexes with more than one index that already exists panics in
//     the server, so indexes are created one per command (indexes.go).
//   - update ignores ordered=false: it stops at the first failing statement
//     and reports index 0 whatever the statement. Projections therefore
//     never trust per-statement results of an update batch (projections.go).
//   - An unordered InsertMany does report one write error per failing
//     document with its index and writes all the others, exactly like
//     MongoDB, which is what the journal's group commit relies on.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"path/filepath"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	// The SQLite driver FerretDB itself uses; the store opens the embedded
	// files directly only to add the _id lookup index.
	_ "modernc.org/sqlite"
)

// isFerretDB reports whether the server is FerretDB, which adds a
// "ferretdb" section to its buildInfo.
func isFerretDB(ctx context.Context, db *mongo.Database) (bool, error) {
	raw, err := db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Raw()
	if err != nil {
		return false, err
	}
	_, err = raw.LookupErr("ferretdb")
	return err == nil, nil
}

// keyLocks serialises read-check-write sequences per (collection, _id) on
// FerretDB. Keys share a fixed set of stripes, so memory stays bounded and
// unrelated keys rarely wait for each other. A nil *keyLocks does nothing,
// which is what MongoDB needs: its conditional writes are atomic.
type keyLocks struct {
	stripes [256]chan struct{}
}

func newKeyLocks() *keyLocks {
	l := &keyLocks{}
	for i := range l.stripes {
		l.stripes[i] = make(chan struct{}, 1)
	}
	return l
}

// lock waits until the key is free or ctx ends, and returns the function
// that frees it.
func (l *keyLocks) lock(ctx context.Context, collection, id string) (unlock func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	h := fnv.New32a()
	h.Write([]byte(collection))
	h.Write([]byte{0})
	h.Write([]byte(id))
	stripe := l.stripes[h.Sum32()%uint32(len(l.stripes))]
	select {
	case stripe <- struct{}{}:
		return func() { <-stripe }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// idIndexSuffix names the extra SQLite index; FerretDB names its own indexes
// "<table>_<index name>", and no index the store creates has this name.
const idIndexSuffix = "__emporium_id_lookup"

// ensureIDIndex adds to the SQLite table behind collection an index on the
// expression FerretDB filters _id by, unless it exists. FerretDB does not
// know about the index and needs not: SQLite maintains it on every write and
// drops it with the table. The connection is opened for this call only, so
// that it never holds on to a database file FerretDB has dropped.
func ensureIDIndex(ctx context.Context, dir, database, collection string) error {
	file := filepath.Join(dir, database+".sqlite")
	dsn := (&url.URL{Scheme: "file", Path: file, RawQuery: "mode=rw&_pragma=busy_timeout(10000)"}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	defer db.Close()

	var table string
	err = db.QueryRowContext(ctx, `SELECT table_name FROM _ferretdb_collections WHERE name = ?`, collection).Scan(&table)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("collection %q has no table in %s", collection, file)
	}
	if err != nil {
		return fmt.Errorf("find the table of %q in %s: %w", collection, file, err)
	}
	stmt := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, table+idIndexSuffix, table)
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("index %s in %s: %w", table, file, err)
	}
	return nil
}

// namespaceExists is the server's code for creating a collection that exists.
const namespaceExists = 48

// ensureCollection prepares a collection for _id lookups on FerretDB: it
// creates the collection, so that its table exists, and for the embedded
// store adds the lookup index. It runs once per collection and Store; after a
// failure it is tried again on the next use. Nothing needs doing on MongoDB.
// A missing lookup index only costs speed, so failing to add one is logged,
// not returned.
func (s *Store) ensureCollection(ctx context.Context, op, name string) error {
	if !s.ferret {
		return nil
	}
	if _, done := s.prepared.Load(name); done {
		return nil
	}
	err := s.db.CreateCollection(ctx, name)
	var ce mongo.CommandError
	if err != nil && !(errors.As(err, &ce) && ce.Code == namespaceExists) {
		return failure(op, err)
	}
	if s.embedded != nil {
		if err := ensureIDIndex(ctx, s.embedded.dir, s.db.Name(), name); err != nil {
			if ctx.Err() != nil {
				// Interrupted, not impossible: try again next time.
				return failure(op, ctx.Err())
			}
			s.log.Warn("persistence: cannot add the _id lookup index; reads by _id will scan the collection",
				"collection", name, "error", err)
		}
	}
	s.prepared.Store(name, true)
	return nil
}
