package persistence

import (
	"log/slog"
	"time"
)

// DefaultDatabase is the database used when Config.Database is empty.
const DefaultDatabase = "emporium"

// Config says where the store lives.
type Config struct {
	// URI is the MongoDB connection string (mongostore). The embedded
	// store (sqlitestore) ignores it.
	URI string
	// Database is the database name; empty means DefaultDatabase.
	Database string
	// DataDir is the data directory; the embedded store keeps its files in
	// filepath.Join(DataDir, "store"). MongoDB ignores it.
	DataDir string
	// Logger receives the store's own logs; nil means slog.Default().
	Logger *slog.Logger
	// GroupCommit tunes how journal appends and projection writes are
	// batched; zero fields take the defaults documented on GroupCommit.
	GroupCommit GroupCommit
	// Now is the clock that stamps commits and snapshots; nil means time.Now.
	Now func() time.Time
}

// GroupCommit tunes the batching of writes (DESIGN §5): concurrent writes
// of all grains on a node are coalesced into one batch (an unordered
// InsertMany on MongoDB, one transaction on SQLite), and projection
// documents into one bulk write.
type GroupCommit struct {
	// Linger is how long a batch waits for more writes after its first one
	// arrived, unless it fills up first. Zero means 1 ms; a negative value
	// writes as soon as a batch slot is free.
	Linger time.Duration
	// MaxBatch caps the writes in one batch. Zero means 100.
	MaxBatch int
	// MaxInFlight caps the batches being written at once, so that
	// throughput scales with the server's parallelism without flooding it.
	// Zero means 4. SQLite has one writer and always writes one at a time.
	MaxInFlight int
	// WriteTimeout bounds one batch write. Zero means 30 s.
	WriteTimeout time.Duration
}

// WithDefaults returns g with every zero field set to its default.
func (g GroupCommit) WithDefaults() GroupCommit {
	switch {
	case g.Linger == 0:
		g.Linger = time.Millisecond
	case g.Linger < 0:
		g.Linger = 0
	}
	if g.MaxBatch <= 0 {
		g.MaxBatch = 100
	}
	if g.MaxInFlight <= 0 {
		g.MaxInFlight = 4
	}
	if g.WriteTimeout <= 0 {
		g.WriteTimeout = 30 * time.Second
	}
	return g
}
