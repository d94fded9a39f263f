// Package persistence is Emporium's store contract (DESIGN §5): the event
// journal every grain persists through, snapshots of grain state, versioned
// state documents, and read-model projections with the queries the API
// pages through. Two backends implement it and pass one contract suite
// (persistencetest.RunContract): sqlitestore, the embedded default under
// DATA_DIR for one node, and mongostore, MongoDB for clusters and
// production, used when MONGODB_URI is set.
//
// Every write is conditional, because a grain may briefly run twice in the
// cluster: journal appends name the seq they expect, documents the version
// they replace, and snapshots and projections never go back to an older
// seq. A lost race is an *emporium.Error with code ECONFLICT, which means
// "reload and decide again". Nothing here needs multi-document transactions
// or change streams.
//
// Durable writes are the bottleneck, so both backends write in batches
// (group commit): Committer coalesces the journal appends of all grains of
// a node, and ProjectionQueue the read-model documents.
//
// Documents and projections are encoded as BSON on both backends (the bson
// package serves as the codec; no MongoDB connection is involved on
// SQLite), so a value names its stored fields with `bson` struct tags.
// Read-model queries (List, Unmarked, DueBefore) filter and sort only on
// fields an index was declared for with EnsureIndex: no query scans a
// collection whose size grows with the shop.
package persistence
