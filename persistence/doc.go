// Package persistence is Emporium's MongoDB layer (DESIGN §5): the event
// journal every grain persists through, snapshots of grain state, versioned
// state documents and batched read-model projections, on MongoDB or, when
// no MONGODB_URI is given, on an embedded FerretDB server backed by SQLite.
//
// Every write is conditional, because a grain may briefly run twice in the
// cluster: journal appends name the seq they expect, documents the version
// they replace, and snapshots and projections never go back to an older
// seq. A lost race is an *emporium.Error with code ECONFLICT, which means
// "reload and decide again". Nothing here needs multi-document transactions
// or change streams, which FerretDB lacks.
//
// Durable writes are the bottleneck, so journal appends and projections
// from all grains of a node are written in batches (group commit; see
// GroupCommit). FerretDB differs from MongoDB in ways that matter for
// correctness and speed; ferret.go lists them and what the store does about
// each.
package persistence
