package persistence

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"
)

// Store is one backend's connection with the journal, snapshots, documents
// and projections built on it. Implementations are safe for concurrent use.
type Store interface {
	// Journal returns the event journal.
	Journal() Journal
	// Snapshots returns the snapshot store.
	Snapshots() Snapshots
	// Documents returns the versioned documents of a collection.
	Documents(collection string) Documents
	// Projections returns the read models: the batched writer and the
	// queries.
	Projections() Projections
	// Ping checks that the store answers reads and writes in time; it
	// serves the readiness probe.
	Ping(ctx context.Context) error
	// Backend names the backend for logs: "sqlite" or "mongodb".
	Backend() string
	// Close writes what is still queued, waiting at most until ctx ends,
	// and releases the store. Writes after Close fail with EUNAVAILABLE.
	// Close is idempotent.
	Close(ctx context.Context) error
}

// Journal is the append-only event log of every stream (one grain's
// events), with optimistic concurrency: an append names the seq it expects
// the stream to be at, and loses with ECONFLICT if another writer got there
// first.
type Journal interface {
	// Append stores events as the next events of stream, numbered
	// expectedSeq+1 to expectedSeq+len(events), and returns the seq of the
	// last one. expectedSeq is the last seq the caller has seen: 0 for a new
	// stream, otherwise a seq returned by Load or by a successful Append.
	// The events of one Append land together or not at all.
	//
	// If another writer has already appended after expectedSeq, Append
	// fails with ECONFLICT and stores nothing; reload the stream and decide
	// again. Appending no events is EINVALID. If ctx ends first, Append
	// returns EUNAVAILABLE at once, but its events stay queued and may
	// still be stored: reload before deciding again.
	Append(ctx context.Context, stream string, expectedSeq uint64, events ...proto.Message) (lastSeq uint64, err error)
	// Load calls fn, in order, for every event of stream with a seq above
	// afterSeq, with the time its Append was stored, and returns the stream's last seq, or afterSeq when there
	// is nothing after it. afterSeq may fall in the middle of an Append's
	// events, as when resuming from a snapshot. An event whose type is not
	// linked into the binary, or a stream with a gap, is EINTERNAL. If fn
	// returns an error, Load stops and returns it unchanged with the seq of
	// the last event fn accepted.
	Load(ctx context.Context, stream string, afterSeq uint64, fn func(seq uint64, at time.Time, ev proto.Message) error) (lastSeq uint64, err error)
	// Appended returns, for every stream with an Append stored after
	// `after` and at or before `until` (by the clock that stamped it), the
	// stream's highest seq among those Appends. No index serves it: it
	// reads the whole journal, for the rare repair after a member died
	// (actors.ViewRepair), never for a request.
	Appended(ctx context.Context, after, until time.Time) (map[string]uint64, error)
}

// Snapshots keeps the latest snapshot of each stream: the stream's state
// with the seq it reflects, so that a grain loads it and then only the
// journal after it.
type Snapshots interface {
	// Save stores state as the snapshot of stream at seq, unless a snapshot
	// at seq or later is already stored: an old activation of a grain can
	// never replace a newer snapshot with an older one.
	Save(ctx context.Context, stream string, seq uint64, state proto.Message) error
	// Load reads the snapshot of stream into into and returns its seq.
	// found is false, and into untouched, when the stream has no snapshot.
	// A snapshot of another message type than into's is EINTERNAL.
	Load(ctx context.Context, stream string, into proto.Message) (seq uint64, found bool, err error)
}

// Documents is a collection of versioned state documents: the id is the
// identity, and a write names the version it replaces, so that of two
// writers only the one who saw the latest version succeeds.
//
// A document is stored as the BSON encoding of the caller's value plus _id
// and version (an int64 that starts at 1); fields of the value with those
// two names are overwritten. A value decoded by Get may declare them to
// receive them.
type Documents interface {
	// Get decodes the document with the given id into into (which may be
	// nil to learn only the version) and returns its version. A missing
	// document is ENOTFOUND.
	Get(ctx context.Context, id string, into any) (version int64, err error)
	// Put writes doc as the document with the given id and returns its new
	// version. expectedVersion 0 creates the document; it is ECONFLICT if
	// one exists. Otherwise the stored document must be at expectedVersion,
	// or Put is ECONFLICT and writes nothing.
	Put(ctx context.Context, id string, expectedVersion int64, doc any) (version int64, err error)
	// Delete removes the document with the given id if it is at
	// expectedVersion. A missing document is ENOTFOUND, another version
	// ECONFLICT.
	Delete(ctx context.Context, id string, expectedVersion int64) error
}

// Mark names one stored projection at one seq, for SetMark.
type Mark struct {
	ID  string
	Seq uint64
}

// Projections are the read models: documents written by grains after the
// events they derive from are durable, and the queries that serve reads.
//
// A stored projection is the BSON encoding of the caller's value plus _id
// and seq. Put only queues; for each (collection, id) the document with the
// highest seq wins, in the queue and in the store, whatever order the Puts
// came in. A failed write is logged and retried until it succeeds or the
// store closes; since projections are rebuilt from the journal, one lost to
// a crash costs only staleness until the grain projects again.
//
// The queries by field (List, Unmarked, DueBefore) need an index declared
// with EnsureIndex whose first key is that field; without one they are
// EINVALID on the embedded store, so that no query silently scans.
type Projections interface {
	// Put queues doc as the projection at seq of the document id in
	// collection and returns at once. doc is encoded before Put returns.
	// A doc that cannot be encoded, or a Put after Close, is logged at
	// Error and dropped: both are bugs in the caller.
	Put(collection, id string, seq uint64, doc any)
	// Flush waits until every projection queued before the call is stored
	// (or superseded by a newer one that is stored). When ctx ends first it
	// returns EUNAVAILABLE, and the projections stay queued.
	Flush(ctx context.Context) error

	// Get decodes the stored projection of collection with the given id
	// into into (which may be nil) and returns its seq. A missing document
	// is ENOTFOUND. A projection queued by Put is not seen until it is
	// written (see Flush).
	Get(ctx context.Context, collection, id string, into any) (seq uint64, err error)
	// GetMany decodes the stored documents of collection with the given ids
	// into into, a pointer to a slice whose elements a document decodes
	// into. The slice is replaced by one element per document found, in
	// the order of ids; ids without a document are left out, and repeated
	// ids are looked up once. It also serves collections of versioned
	// documents.
	GetMany(ctx context.Context, collection string, ids []string, into any) error
	// List decodes into into (as for GetMany) the documents of collection
	// whose field equals value, by descending _id, at most limit of them,
	// and only those whose _id sorts before beforeID when it is not empty.
	// An index (field, -_id) must be declared.
	List(ctx context.Context, collection, field string, value any, beforeID string, limit int, into any) error
	// DueBefore returns the ids of up to limit documents of collection
	// whose time field is at or before t, earliest first. Sweepers use it
	// to find entities with work due. An index on field must be declared.
	DueBefore(ctx context.Context, collection, field string, t time.Time, limit int) ([]string, error)
	// EnsureIndex declares, unless it exists, the index of collection on
	// keys, in order; a key written "-name" is descending. It is idempotent
	// and meant for start-up; documents already stored are indexed.
	EnsureIndex(ctx context.Context, collection string, keys ...string) error
	// SetMark sets field to the seq on each marked projection of collection
	// that is still stored at that seq, and leaves the others alone. An
	// outbox follower marks what it has handled: a projection written later
	// has no mark and shows up in Unmarked again. field must not be one the
	// projections themselves carry, and must have an index.
	SetMark(ctx context.Context, collection, field string, marks ...Mark) error
	// Unmarked returns the ids of up to limit projections of collection
	// that have no mark in field (see SetMark), by ascending _id, after
	// afterID when it is not empty.
	Unmarked(ctx context.Context, collection, field, afterID string, limit int) ([]string, error)
	// EachID calls fn with the ids of every document of collection, batch
	// ids at a time: the way a rebuild walks a whole collection. Documents
	// added or removed during the walk may or may not be seen. An error
	// from fn stops the walk and is returned as it is.
	EachID(ctx context.Context, collection string, batch int, fn func(ids []string) error) error
	// Count returns about how many documents collection holds. It serves
	// progress reports, not decisions.
	Count(ctx context.Context, collection string) (int, error)
}
