package persistence

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	emporium "github.com/emporium-shop/emporium"
)

// openPingTimeout bounds the first ping at Open, so that a wrong address
// fails start-up in seconds rather than after the driver's 30 s default.
// A serverSelectionTimeoutMS in the URI shortens it further.
const openPingTimeout = 10 * time.Second

// disconnectTimeout bounds Disconnect at Close when the caller's context has
// already ended, so that connections are released in any case.
const disconnectTimeout = 5 * time.Second

// Store is a connection to MongoDB, or to the embedded FerretDB, with the
// journal, snapshots, documents and projections built on it. It is safe for
// concurrent use.
type Store struct {
	client   *mongo.Client
	db       *mongo.Database
	embedded *embedded // nil when connected to MONGODB_URI
	log      *slog.Logger
	now      func() time.Time

	// ferret is set when the server is FerretDB; see ferret.go for what the
	// store does differently then. locks is nil otherwise.
	ferret   bool
	locks    *keyLocks
	prepared sync.Map // collection name -> true, see ensureCollection

	journal     *Journal
	snapshots   *Snapshots
	projections *Projections

	closeOnce sync.Once
	closeErr  error
}

// Open connects to the store described by cfg. With an empty URI it starts
// the embedded FerretDB on 127.0.0.1 with a random port and its SQLite files
// under DataDir/mongo. It then pings the server and creates the store's
// collections and indexes, which is idempotent, so opening the same data
// again works. ctx bounds the whole of Open; the store itself lives until
// Close.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	const op = "persistence.Open"
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	name := cfg.Database
	if name == "" {
		name = DefaultDatabase
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}

	uri := cfg.URI
	var emb *embedded
	if uri == "" {
		if cfg.DataDir == "" {
			return nil, invalid(op, "DataDir is required when MONGODB_URI is not set")
		}
		var err error
		if emb, err = startEmbedded(cfg.DataDir, log); err != nil {
			return nil, &emporium.Error{Code: emporium.EUNAVAILABLE, Message: "cannot start the embedded store", Op: op, Err: err}
		}
		uri = emb.uri
	}

	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetAppName("emporium"))
	if err != nil {
		if emb != nil {
			emb.stop()
		}
		return nil, &emporium.Error{
			Code:    emporium.EINVALID,
			Message: "MONGODB_URI=" + RedactURI(uri) + " is not a usable MongoDB connection string",
			Op:      op,
			Err:     scrub(err, uriPassword(uri)),
		}
	}
	s := &Store{client: client, db: client.Database(name), embedded: emb, log: log, now: now}
	if err := s.start(ctx, cfg.URI, cfg.GroupCommit.withDefaults()); err != nil {
		s.abort()
		return nil, err
	}
	return s, nil
}

// start checks that the server answers, learns what it is, prepares the
// collections and starts the batchers.
func (s *Store) start(ctx context.Context, uri string, gc GroupCommit) error {
	const op = "persistence.Open"
	if err := s.ping(ctx, uri); err != nil {
		return err
	}
	if s.embedded != nil {
		s.ferret = true
	} else {
		ferret, err := isFerretDB(ctx, s.db)
		if err != nil {
			return failure(op, scrub(err, uriPassword(uri)))
		}
		if s.ferret = ferret; ferret {
			s.log.Warn("persistence: MONGODB_URI points to FerretDB, which has no atomic conditional updates; " +
				"documents and snapshots stay consistent only while this process is their only writer")
		}
	}
	if s.ferret {
		s.locks = newKeyLocks()
	}
	if err := s.createIndexes(ctx); err != nil {
		return failure(op, scrub(err, uriPassword(uri)))
	}
	s.journal = newJournal(s, gc)
	s.snapshots = &Snapshots{store: s, coll: s.db.Collection(snapshotsCollection)}
	s.projections = newProjections(s, gc)
	return nil
}

// ping makes sure the server answers, and explains in the error how to fix
// the setting when it does not. uri is the configured URI, empty for the
// embedded store.
func (s *Store) ping(ctx context.Context, uri string) error {
	const op = "persistence.Open"
	ctx, cancel := context.WithTimeout(ctx, openPingTimeout)
	defer cancel()
	started := time.Now()
	err := s.client.Ping(ctx, nil)
	if err == nil {
		return nil
	}
	if uri == "" {
		return &emporium.Error{Code: emporium.EUNAVAILABLE, Message: "the embedded store does not answer", Op: op, Err: err}
	}
	reason := "the server refused the ping"
	if unreachable(err) {
		reason = "server selection timed out after " + time.Since(started).Round(100*time.Millisecond).String()
	}
	return &emporium.Error{
		Code: emporium.EUNAVAILABLE,
		Message: "cannot reach MongoDB at MONGODB_URI=" + RedactURI(uri) + " (" + reason + "); " +
			"check the address or unset MONGODB_URI to use the embedded store",
		Op:  op,
		Err: scrub(err, uriPassword(uri)),
	}
}

// abort releases what Open acquired before it failed.
func (s *Store) abort() {
	ctx, cancel := context.WithTimeout(context.Background(), disconnectTimeout)
	defer cancel()
	_ = s.client.Disconnect(ctx)
	if s.embedded != nil {
		s.embedded.stop()
	}
}

// Database returns the database, for read models that need queries beyond
// what the store offers. On the embedded store only lookups by _id are fast;
// any other filter or sort reads the whole collection (see ferret.go).
func (s *Store) Database() *mongo.Database { return s.db }

// Ping checks that the server answers; it serves the readiness probe.
func (s *Store) Ping(ctx context.Context) error {
	return failure("persistence.Store.Ping", s.client.Ping(ctx, nil))
}

// EmbeddedURI returns the MongoDB URI of the embedded server, or "" for an
// external one. Tests use it to run a second node against the same store.
func (s *Store) EmbeddedURI() string {
	if s.embedded == nil {
		return ""
	}
	return s.embedded.uri
}

// Embedded reports whether the store is the in-process FerretDB.
func (s *Store) Embedded() bool { return s.embedded != nil }

// Journal returns the event journal.
func (s *Store) Journal() *Journal { return s.journal }

// Snapshots returns the snapshot store.
func (s *Store) Snapshots() *Snapshots { return s.snapshots }

// Documents returns the versioned documents of a collection.
func (s *Store) Documents(collection string) *Documents {
	return &Documents{store: s, name: collection, coll: s.db.Collection(collection)}
}

// Projections returns the batched read-model writer.
func (s *Store) Projections() *Projections { return s.projections }

// Close writes what the journal and projection batchers still hold, waiting
// at most until ctx ends, then disconnects and stops the embedded server.
// Appends after Close fail with EUNAVAILABLE. Close is idempotent; later
// calls return the first call's result.
func (s *Store) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.close(ctx) })
	return s.closeErr
}

func (s *Store) close(ctx context.Context) error {
	const op = "persistence.Store.Close"
	var errs []error
	if err := s.journal.close(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.projections.close(ctx); err != nil {
		errs = append(errs, err)
	}
	// Disconnect even when ctx has ended, or connections would leak; writes
	// still in flight then fail fast and their callers get EUNAVAILABLE.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), disconnectTimeout)
	defer cancel()
	if err := s.client.Disconnect(dctx); err != nil {
		errs = append(errs, err)
	}
	s.journal.wait()
	s.projections.wait()
	if s.embedded != nil {
		s.embedded.stop()
	}
	if err := errors.Join(errs...); err != nil {
		return failure(op, err)
	}
	return nil
}
