package mongostore

// FerretDB 1.24 speaks the MongoDB protocol but differs from MongoDB in
// ways the store must work around (each one was measured on this version):
//
//   - An update or delete is a query followed by a separate write, with no
//     lock or transaction in between. A conditional write such as
//     ReplaceOne({_id, version: 3}) is therefore not atomic: of 50
//     concurrent writers at the same version, two succeeded. Only inserts
//     are atomic, because SQLite enforces unique indexes. So on FerretDB the
//     store serialises, per document, its read-check-write sequences in
//     process (keyLocks). That is sound for FerretDB in-process
//     (ferrettest), whose only client is this process; against an external
//     FerretDB it protects only writers in this process, and Open logs a
//     warning. The exception is FerretDB behind Emporium's write gate
//     (persistence/ferretserver, which tools/devstore and the multi-process
//     tests run): the gate lets one update, delete or findAndModify at a
//     time run on a collection, across all its clients, so each such
//     command is atomic, and it says so when asked (isGated). The store
//     then writes as it does on MongoDB, with single conditional commands
//     and no key locks (serialWrites), and several processes may share it.
//   - The SQLite backend pushes only the filter {_id: <string>} down to
//     SQL, and even that is a full table scan, because the query's
//     expression (_ferretdb_sjson->'$._id') differs from the expression of
//     FerretDB's own unique _id index (_ferretdb_sjson->"_id"). Every other
//     filter and every sort is evaluated in Go over the whole collection.
//     So the store reads and writes by _id only on FerretDB (the journal
//     walks a stream commit by commit, see journal_load.go). That is why
//     FerretDB serves only tests, at test sizes, and the embedded store of
//     a node is SQLite used directly (package sqlitestore).
//   - createIndexes with more than one index that already exists panics in
//     the server, so indexes are created one per command (indexes.go).
//   - update ignores ordered=false: it stops at the first failing statement
//     and reports index 0 whatever the statement. Projections therefore
//     never trust per-statement results of an update batch (projections.go).
//   - An unordered InsertMany does report one write error per failing
//     document with its index and writes all the others, exactly like
//     MongoDB, which is what the journal's group commit relies on.
//   - An update command keeps the read of each of its statements open (one
//     PostgreSQL connection each, on that backend) until the whole command
//     ends. An update of more statements than the backend's pool holds (50)
//     waits for itself forever, and every command after it waits too: one
//     search-index mark of 200 products hung a local cluster's store. So on
//     FerretDB the store sends at most ferretStatements statements per update
//     command (bulkWrite): a command then holds at most nine connections, and
//     the write gate runs at most four gated commands at once (36 of 50). One
//     statement per command was safe too, but made a node's final flush at
//     SIGTERM several times slower (its exit took 15 s in the kill test).

import (
	"context"
	"errors"
	"hash/fnv"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// isFerretDB reports whether the server is FerretDB, which adds fields of
// its own to its buildInfo: "ferretdbVersion" and "ferretdbFeatures" in
// 1.x, a "ferretdb" section in later releases.
func isFerretDB(ctx context.Context, db *mongo.Database) (bool, error) {
	raw, err := db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Raw()
	if err != nil {
		return false, err
	}
	for _, key := range []string{"ferretdbVersion", "ferretdb"} {
		if _, err := raw.LookupErr(key); err == nil {
			return true, nil
		}
	}
	return false, nil
}

// isGated asks the server whether it is FerretDB behind Emporium's write
// gate (persistence/ferretserver), whose conditional writes are atomic. A
// bare FerretDB refuses the command as unknown, which means no.
func isGated(ctx context.Context, db *mongo.Database) (bool, error) {
	var answer struct {
		Gate string `bson:"gate"`
	}
	err := db.RunCommand(ctx, bson.D{{Key: GateCommand, Value: 1}}).Decode(&answer)
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return answer.Gate == GateName, nil
}

// GateCommand is the command a client sends to learn whether a FerretDB
// sits behind Emporium's write gate (persistence/ferretserver), which
// answers it itself; a bare FerretDB refuses it as unknown.
const GateCommand = "emporiumWriteGate"

// GateName is what the gate answers in the "gate" field of GateCommand's
// reply: it serialises conditional writes per collection.
const GateName = "per-collection"

// Gated reports whether the store talks to FerretDB behind the write gate,
// whose conditional writes are atomic for every client.
func (s *Store) Gated() bool { return s.gated }

// serialWrites reports whether conditional writes must be made of a read
// and a write under a key lock in this process: on FerretDB without the
// write gate. On MongoDB and on gated FerretDB a single conditional command
// is atomic.
func (s *Store) serialWrites() bool { return s.ferret && !s.gated }

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

// namespaceExists is the server's code for creating a collection that exists.
const namespaceExists = 48

// ensureCollection creates a collection on FerretDB before its first use,
// which FerretDB needs before some commands. It runs once per collection
// and Store; after a failure it is tried again on the next use. Nothing
// needs doing on MongoDB.
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
	s.prepared.Store(name, true)
	return nil
}

// ferretStatements is the most statements bulkWrite puts in one update
// command on FerretDB (see the note on update commands above).
const ferretStatements = 8

// bulkWrite runs models on coll as one BulkWrite, or, on FerretDB, in
// commands of at most ferretStatements models, in order, stopping at the
// first error when ordered, else going on and returning the first error.
// Callers never rely on per-statement results (FerretDB's are not exact),
// only on whether all succeeded.
func (s *Store) bulkWrite(ctx context.Context, coll *mongo.Collection, models []mongo.WriteModel, ordered bool) error {
	if !s.ferret {
		_, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(ordered))
		return err
	}
	var first error
	for chunk := range slices.Chunk(models, ferretStatements) {
		_, err := coll.BulkWrite(ctx, chunk, options.BulkWrite().SetOrdered(ordered))
		if err == nil {
			continue
		}
		if ordered {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}
