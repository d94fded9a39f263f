// Package sqlitestore is the embedded backend of the store contract
// (package persistence): SQLite, through the pure-Go modernc.org/sqlite, in
// one file under DATA_DIR/store. It is the default when MONGODB_URI is not
// set: one node, a laptop, a small shop, the tests.
//
// SQLite is used directly, with real tables and indexes:
//
//   - The journal is one row per event, keyed by (stream, seq); an append
//     checks the stream's last seq and inserts its events in the same
//     transaction, so conditional appends are atomic.
//   - Every collection of documents is a table with the document's BSON in
//     a column, the version or seq in another, and one real column per
//     field an index was declared for (EnsureIndex), filled from the
//     document on every write. Read-model queries filter and sort on those
//     columns only, through their indexes; a query on a field without one
//     is refused rather than left to scan.
//   - Every write (appends, snapshots, documents, projections, marks) goes
//     through one writer that groups the writes of all callers into one
//     transaction (group commit): SQLite commits a transaction of a hundred
//     writes about as fast as a transaction of one.
//   - Reads use a pool of their own connections; in WAL mode they never
//     wait for the writer, and each is bounded in time, so that a slow
//     store answers EUNAVAILABLE quickly instead of queueing callers.
//
// Transactions are durable when they commit (WAL with synchronous=FULL): a
// reply to a write means the write survives a crash of the process or the
// machine.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	emporium "github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/persistence"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// Where the store keeps its file, below DATA_DIR.
const (
	// Dir is the directory of the store below DATA_DIR.
	Dir = "store"
	// File is the database file in Dir.
	File = "emporium.db"
	// legacyDir is where the embedded store before SQLite (FerretDB) kept
	// its files. Its data cannot be read here; see checkLegacy.
	legacyDir = "mongo"
)

// schemaVersion is the layout of the tables this code writes. A file of
// another version is refused at Open rather than misread.
const schemaVersion = 1

// readTimeout bounds every read, shorter than a grain request's 5 s, so
// that a store that cannot answer in time fails the read with EUNAVAILABLE
// and the API answers 503 quickly instead of hanging on a queue.
const readTimeout = 3 * time.Second

// mmapSize is how much of the file a reader maps into memory: address
// space, not memory, which the operating system shares between readers.
const mmapSize = 1 << 30

// maxBatch is the default cap of the writes in one transaction.
const maxBatch = 1000

// writerCacheKiB is the page cache of the one writing connection, in KiB.
// Writes land on pages all over the file (ids are random), and SQLite's
// default 2 MB cache made the writer read most of them back for every
// transaction.
const writerCacheKiB = 64 << 10

// walCheckpointPages is how many pages the write-ahead log grows to before
// a commit copies it into the file (SQLite's default is 1,000). A page
// written many times between checkpoints is copied once: under a stream of
// small transactions, a larger log means far fewer page writes.
const walCheckpointPages = 16 << 10

// busyTimeout is how long a connection waits for a lock another connection
// holds (SQLite's busy_timeout), in milliseconds.
const busyTimeout = 10_000

// Store is the embedded store. It implements persistence.Store and is safe
// for concurrent use.
type Store struct {
	path   string
	log    *slog.Logger
	now    func() time.Time
	lock   *os.File // the exclusive lock on the data directory
	writer *sql.DB  // one connection; only the committer writes
	reader *sql.DB  // a pool of read-only connections
	reads  sync.Map // SQL -> *sql.Stmt on reader, prepared once per connection
	// readTimeout bounds each read (the constant readTimeout; tests
	// shorten it).
	readTimeout time.Duration
	tables      *tables

	commits     *persistence.Committer
	journal     *Journal
	snapshots   *Snapshots
	projections *Projections

	closeOnce sync.Once
	closeErr  error
}

var _ persistence.Store = (*Store)(nil)

// Open opens, or creates, the store under cfg.DataDir/store and prepares
// its tables. It refuses a data directory another process serves, and one
// written by the embedded store Emporium had before (see checkLegacy).
func Open(ctx context.Context, cfg persistence.Config) (*Store, error) {
	const op = "sqlitestore.Open"
	if cfg.DataDir == "" {
		return nil, persistence.Invalid(op, "DataDir is required for the embedded store (set DATA_DIR, or MONGODB_URI for MongoDB)")
	}
	if err := checkLegacy(cfg.DataDir); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Join(cfg.DataDir, Dir))
	if err != nil {
		return nil, failure(op, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, &emporium.Error{Code: emporium.EUNAVAILABLE, Message: "cannot create the store directory " + dir, Op: op, Err: err}
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, &emporium.Error{
			Code: emporium.ECONFLICT,
			Message: "the store in " + dir + " is in use by another process; stop the node that serves this " +
				"DATA_DIR first, or give this one a DATA_DIR of its own",
			Op:  op,
			Err: err,
		}
	}
	s := &Store{path: filepath.Join(dir, File), log: cfg.Logger, now: cfg.Now, lock: lock, readTimeout: readTimeout}
	// The store holds password hashes and tokens: only its owner may read
	// it. SQLite gives its -wal and -shm files the database file's mode.
	if f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.open(ctx, cfg.GroupCommit); err != nil {
		s.release()
		return nil, err
	}
	return s, nil
}

// open connects, prepares the schema and starts the writer.
func (s *Store) open(ctx context.Context, gc persistence.GroupCommit) error {
	const op = "sqlitestore.Open"
	var err error
	if s.writer, err = openDB(s.path, false); err != nil {
		return failure(op, err)
	}
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxIdleTime(0)
	if err := migrate(ctx, s.writer); err != nil {
		return err
	}
	if s.reader, err = openDB(s.path, true); err != nil {
		return failure(op, err)
	}
	readers := max(4, 2*runtime.GOMAXPROCS(0))
	s.reader.SetMaxOpenConns(readers)
	s.reader.SetMaxIdleConns(readers)
	if s.tables, err = loadTables(ctx, s.writer); err != nil {
		return failure(op, err)
	}

	// SQLite has one writer: batches are written one at a time, each in
	// one transaction. While one commits (its fsync), the next gathers
	// every write that arrives meanwhile: a cap far above a busy node's
	// concurrent writers keeps the next batch from leaving some behind for
	// another commit.
	if gc.MaxBatch == 0 {
		gc.MaxBatch = maxBatch
	}
	gc = gc.WithDefaults()
	gc.MaxInFlight = 1
	s.commits = persistence.NewCommitter(gc, s.writeBatch)
	s.journal = &Journal{store: s}
	s.snapshots = &Snapshots{store: s}
	s.projections = newProjections(s, gc)
	return nil
}

// openDB opens a connection pool on the file with the store's settings.
func openDB(path string, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout))
	q.Add("_pragma", "foreign_keys(0)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
		// Readers map the file (up to mmapSize) and read its pages from the
		// operating system's cache where they are, rather than copying
		// each into a page cache of their own (2 MB, a few thousand pages):
		// at 100,000 documents, that copying made a page of a list cost
		// twice what it does at 1,000.
		q.Add("_pragma", fmt.Sprintf("mmap_size(%d)", mmapSize))
	} else {
		// Take the write lock when a transaction begins, not at its first
		// write, so that a transaction never fails halfway on a lock.
		q.Set("_txlock", "immediate")
		q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", writerCacheKiB))
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walCheckpointPages))
	}
	dsn := (&url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	return db, nil
}

// migrate creates the fixed tables of a new file, and refuses a file of
// another schema version.
func migrate(ctx context.Context, db *sql.DB) error {
	const op = "sqlitestore.Open"
	var version int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return failure(op, err)
	}
	switch version {
	case schemaVersion:
		return nil
	case 0:
	default:
		return &emporium.Error{
			Code:    emporium.EINVALID,
			Message: fmt.Sprintf("the store file has schema version %d, and this emporium reads version %d; run the emporium release that wrote it", version, schemaVersion),
			Op:      op,
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return failure(op, err)
	}
	defer tx.Rollback()
	for _, stmt := range []string{
		// One row per event. WITHOUT ROWID keeps a stream's events
		// together in the primary key's b-tree, which serves appends (the
		// last seq of a stream) and loads (the events after a seq) alike.
		`CREATE TABLE IF NOT EXISTS journal (
			stream TEXT NOT NULL,
			seq    INTEGER NOT NULL,
			type   TEXT NOT NULL,
			data   BLOB NOT NULL,
			at     INTEGER NOT NULL,
			PRIMARY KEY (stream, seq)
		) WITHOUT ROWID`,
		`CREATE TABLE IF NOT EXISTS snapshots (
			stream TEXT PRIMARY KEY,
			seq    INTEGER NOT NULL,
			type   TEXT NOT NULL,
			data   BLOB NOT NULL,
			at     INTEGER NOT NULL
		)`,
		fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion),
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return failure(op, err)
		}
	}
	return failure(op, tx.Commit())
}

// checkLegacy refuses a data directory written by the embedded store of
// earlier releases (FerretDB, under DATA_DIR/mongo) and not by this one: its
// data cannot be read here. It held demo data only, so the message says how
// to start afresh.
func checkLegacy(dataDir string) error {
	legacy := filepath.Join(dataDir, legacyDir)
	if _, err := os.Stat(legacy); err != nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dataDir, Dir, File)); err == nil {
		return nil // both: the old files were kept beside the new store
	}
	return &emporium.Error{
		Code: emporium.EINVALID,
		Message: "DATA_DIR " + dataDir + " holds data of the embedded store of earlier releases (" + legacy +
			"), which this release cannot read. That store held demo data only: move the old data away " +
			"(mv " + legacy + " " + legacy + ".old; rm -rf " + filepath.Join(dataDir, "search") + ") or use a new DATA_DIR, " +
			"then start again and seed anew",
		Op: "sqlitestore.Open",
	}
}

// Path returns the database file.
func (s *Store) Path() string { return s.path }

// Backend returns "sqlite".
func (s *Store) Backend() string { return "sqlite" }

// Journal returns the event journal.
func (s *Store) Journal() persistence.Journal { return s.journal }

// Snapshots returns the snapshot store.
func (s *Store) Snapshots() persistence.Snapshots { return s.snapshots }

// Documents returns the versioned documents of a collection.
func (s *Store) Documents(collection string) persistence.Documents {
	return &Documents{store: s, name: collection}
}

// Projections returns the read models.
func (s *Store) Projections() persistence.Projections { return s.projections }

// Ping checks that a read and a (empty) write transaction both complete
// before ctx ends: a store whose writer is stuck is not ready, even when
// reads still answer.
func (s *Store) Ping(ctx context.Context) error {
	const op = "sqlitestore.Store.Ping"
	if err := s.read(ctx, op, func(ctx context.Context) error {
		var one int
		return s.reader.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
	}); err != nil {
		return err
	}
	return s.submitNow(ctx, op, func(*writeTx) error { return nil })
}

// Close writes what the writer and the projection queue still hold,
// waiting at most until ctx ends, then closes the file. Writes after Close
// fail with EUNAVAILABLE. Close is idempotent.
func (s *Store) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.close(ctx) })
	return s.closeErr
}

func (s *Store) close(ctx context.Context) error {
	const op = "sqlitestore.Store.Close"
	var errs []error
	// Projections first: their last batch goes through the committer.
	if err := s.projections.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	s.projections.Wait()
	if err := s.commits.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	s.commits.Wait()
	s.release()
	if err := errors.Join(errs...); err != nil {
		return failure(op, err)
	}
	return nil
}

// release closes the connections and the directory lock.
func (s *Store) release() {
	s.reads.Range(func(_, stmt any) bool {
		stmt.(*sql.Stmt).Close()
		return true
	})
	if s.reader != nil {
		_ = s.reader.Close()
	}
	if s.writer != nil {
		// A clean close checkpoints the WAL into the database file.
		_ = s.writer.Close()
	}
	if s.lock != nil {
		unlockDir(s.lock)
	}
}

// query runs a read on the read pool. Its statement is prepared once per
// connection and kept: SQLite spends more time parsing a short statement
// than running it. Statements name tables, so a store holds a few dozen.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	stmt, err := s.readStmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return stmt.QueryContext(ctx, args...)
}

// queryRow is query for one row.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	stmt, err := s.readStmt(ctx, query)
	if err != nil {
		return s.reader.QueryRowContext(ctx, query, args...) // reports the error at Scan
	}
	return stmt.QueryRowContext(ctx, args...)
}

func (s *Store) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if stmt, ok := s.reads.Load(query); ok {
		return stmt.(*sql.Stmt), nil
	}
	stmt, err := s.reader.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.reads.LoadOrStore(query, stmt); loaded {
		stmt.Close()
		return prev.(*sql.Stmt), nil
	}
	return stmt, nil
}

// read runs fn with a context bounded by readTimeout and maps its error.
func (s *Store) read(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.readTimeout)
	defer cancel()
	return failure(op, fn(ctx))
}
