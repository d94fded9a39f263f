// Package mongostore is the MongoDB backend of the store contract
// (package persistence), for clusters and production: it is used when
// MONGODB_URI is set. Conditional writes are single atomic operations
// (filters on version or seq), journal appends from all grains of a node
// are batched into unordered InsertMany calls, and every read-model query
// is served by an index created at start-up.
//
// The same code runs against FerretDB, the MongoDB-protocol server the
// tests start in-process because no MongoDB server can be installed where
// they run. FerretDB differs from MongoDB in ways that matter; ferret.go
// lists them, and the store takes its workarounds only when the server it
// talks to is FerretDB, so the MongoDB path never pays for them.
package mongostore

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/persistence"
)

// openPingTimeout bounds the first ping at Open, so that a wrong address
// fails start-up in seconds rather than after the driver's 30 s default.
// A serverSelectionTimeoutMS in the URI shortens it further.
const openPingTimeout = 10 * time.Second

// disconnectTimeout bounds Disconnect at Close when the caller's context has
// already ended, so that connections are released in any case.
const disconnectTimeout = 5 * time.Second

// Store is a connection to MongoDB with the journal, snapshots, documents
// and projections built on it. It implements persistence.Store and is safe
// for concurrent use.
type Store struct {
	client *mongo.Client
	db     *mongo.Database
	log    *slog.Logger
	now    func() time.Time

	// ferret is set when the server is FerretDB; see ferret.go for what the
	// store does differently then. gated is set when that FerretDB sits
	// behind Emporium's write gate (persistence/ferretserver), which makes
	// its conditional writes atomic. locks is nil unless ferret and not
	// gated.
	ferret   bool
	gated    bool
	locks    *keyLocks
	prepared sync.Map // collection name -> true, see ensureCollection

	journal     *Journal
	snapshots   *Snapshots
	projections *Projections

	closeOnce sync.Once
	closeErr  error
}

var _ persistence.Store = (*Store)(nil)

// Open connects to the MongoDB server at cfg.URI, pings it and creates the
// store's collections and indexes, which is idempotent, so opening the same
// data again works. ctx bounds the whole of Open; the store itself lives
// until Close.
func Open(ctx context.Context, cfg persistence.Config) (*Store, error) {
	const op = "mongostore.Open"
	if cfg.URI == "" {
		return nil, persistence.Invalid(op, "MONGODB_URI is empty; unset it entirely to use the embedded store")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	name := cfg.Database
	if name == "" {
		name = persistence.DefaultDatabase
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}

	client, err := mongo.Connect(options.Client().ApplyURI(cfg.URI).SetAppName("emporium"))
	if err != nil {
		return nil, &emporium.Error{
			Code:    emporium.EINVALID,
			Message: "MONGODB_URI=" + persistence.RedactURI(cfg.URI) + " is not a usable MongoDB connection string",
			Op:      op,
			Err:     persistence.Scrub(err, persistence.URIPassword(cfg.URI)),
		}
	}
	s := &Store{client: client, db: client.Database(name), log: log, now: now}
	if err := s.start(ctx, cfg.URI, cfg.GroupCommit.WithDefaults()); err != nil {
		s.abort()
		return nil, err
	}
	return s, nil
}

// start checks that the server answers, learns what it is, prepares the
// collections and starts the batchers.
func (s *Store) start(ctx context.Context, uri string, gc persistence.GroupCommit) error {
	const op = "mongostore.Open"
	if err := s.ping(ctx, uri); err != nil {
		return err
	}
	ferret, err := isFerretDB(ctx, s.db)
	if err != nil {
		return failure(op, persistence.Scrub(err, persistence.URIPassword(uri)))
	}
	if s.ferret = ferret; ferret {
		gated, err := isGated(ctx, s.db)
		if err != nil {
			return failure(op, persistence.Scrub(err, persistence.URIPassword(uri)))
		}
		if s.gated = gated; !gated {
			s.locks = newKeyLocks()
			s.log.Warn("persistence: MONGODB_URI points to FerretDB, which has no atomic conditional updates; " +
				"documents and snapshots stay consistent only while this process is their only writer " +
				"(for several processes, serve it with tools/devstore, whose write gate makes them atomic)")
		}
	}
	if err := s.createIndexes(ctx); err != nil {
		return failure(op, persistence.Scrub(err, persistence.URIPassword(uri)))
	}
	s.journal = newJournal(s, gc)
	s.snapshots = &Snapshots{store: s, coll: s.db.Collection(snapshotsCollection)}
	s.projections = newProjections(s, gc)
	return nil
}

// ping makes sure the server answers, and explains in the error how to fix
// the setting when it does not.
func (s *Store) ping(ctx context.Context, uri string) error {
	const op = "mongostore.Open"
	ctx, cancel := context.WithTimeout(ctx, openPingTimeout)
	defer cancel()
	started := time.Now()
	err := s.client.Ping(ctx, nil)
	if err == nil {
		return nil
	}
	reason := "the server refused the ping"
	if unreachable(err) {
		reason = "server selection timed out after " + time.Since(started).Round(100*time.Millisecond).String()
	}
	return &emporium.Error{
		Code: emporium.EUNAVAILABLE,
		Message: "cannot reach MongoDB at MONGODB_URI=" + persistence.RedactURI(uri) + " (" + reason + "); " +
			"check the address or unset MONGODB_URI to use the embedded store",
		Op:  op,
		Err: persistence.Scrub(err, persistence.URIPassword(uri)),
	}
}

// abort releases what Open acquired before it failed.
func (s *Store) abort() {
	ctx, cancel := context.WithTimeout(context.Background(), disconnectTimeout)
	defer cancel()
	_ = s.client.Disconnect(ctx)
}

// Database returns the database, for tests that inspect what is stored.
func (s *Store) Database() *mongo.Database { return s.db }

// Ping checks that the server answers; it serves the readiness probe.
func (s *Store) Ping(ctx context.Context) error {
	return failure("mongostore.Store.Ping", s.client.Ping(ctx, nil))
}

// Backend returns "mongodb".
func (s *Store) Backend() string { return "mongodb" }

// Journal returns the event journal.
func (s *Store) Journal() persistence.Journal { return s.journal }

// Snapshots returns the snapshot store.
func (s *Store) Snapshots() persistence.Snapshots { return s.snapshots }

// Documents returns the versioned documents of a collection.
func (s *Store) Documents(collection string) persistence.Documents {
	return &Documents{store: s, name: collection, coll: s.db.Collection(collection)}
}

// Projections returns the read models.
func (s *Store) Projections() persistence.Projections { return s.projections }

// Close writes what the journal and projection batchers still hold, waiting
// at most until ctx ends, then disconnects. Appends after Close fail with
// EUNAVAILABLE. Close is idempotent; later calls return the first call's
// result.
func (s *Store) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.close(ctx) })
	return s.closeErr
}

func (s *Store) close(ctx context.Context) error {
	const op = "mongostore.Store.Close"
	var errs []error
	if err := s.journal.commits.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.projections.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	// Disconnect even when ctx has ended, or connections would leak; writes
	// still in flight then fail fast and their callers get EUNAVAILABLE.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), disconnectTimeout)
	defer cancel()
	if err := s.client.Disconnect(dctx); err != nil {
		errs = append(errs, err)
	}
	s.journal.commits.Wait()
	s.projections.Wait()
	if err := errors.Join(errs...); err != nil {
		return failure(op, err)
	}
	return nil
}
