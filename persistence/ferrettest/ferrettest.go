// Package ferrettest starts FerretDB, a MongoDB-protocol server, in-process
// on SQLite, so that the MongoDB backend (mongostore) and the multi-member
// cluster tests run where no MongoDB server can be installed. It is for
// tests at test sizes only: FerretDB 1.24 on SQLite scans whole
// collections and has no atomic conditional writes (mongostore/ferret.go).
// No binary links it.
package ferrettest

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Server is an in-process FerretDB server on SQLite, listening on a random
// loopback port, that a store reaches through the ordinary driver so that
// the same code runs against it and against MongoDB.
type Server struct {
	// URI is the MongoDB connection string of the server.
	URI    string
	dir    string // absolute directory of the SQLite files
	cancel context.CancelFunc
	done   chan struct{} // closed when the server has stopped

	stopOnce sync.Once
}

var (
	// ferretNewMu serialises ferretdb.New, which writes package-level state
	// of FerretDB (its version info) and so races when two stores start at
	// once in one process, as they do in parallel tests.
	ferretNewMu sync.Mutex

	// openDirs holds the directories served in this process. Two servers on
	// the same SQLite files would break the store's guarantees, which rely
	// on one process owning the data (see mongostore/ferret.go).
	openDirsMu sync.Mutex
	openDirs   = map[string]bool{}
)

// Start starts FerretDB with its files under dir and stops it when the test
// ends. Its logs go to the test's log at Warn level and above.
func Start(t testing.TB, dir string) *Server {
	t.Helper()
	s, err := StartDir(dir, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatalf("start FerretDB: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// testWriter writes a server's logs to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// StartDir starts FerretDB with its files under dir, for a TestMain, which
// has no testing.TB. Its logs go to logger at Warn level and above. Stop it
// with Stop.
func StartDir(dir string, logger *slog.Logger) (*Server, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve data directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if err := claimDir(dir); err != nil {
		return nil, err
	}
	sqliteURL := (&url.URL{Scheme: "file", Path: dir + "/"}).String()

	ferretNewMu.Lock()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
		Logger:    slog.New(ferretLogHandler{logger.With("component", "ferretdb").Handler()}),
	})
	ferretNewMu.Unlock()
	if err != nil {
		releaseDir(dir)
		return nil, fmt.Errorf("start FerretDB in %s: %w", dir, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	e := &Server{dir: dir, URI: f.MongoDBURI(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		// Run only returns once ctx is cancelled, and then always with nil.
		_ = f.Run(ctx)
	}()
	return e, nil
}

// Stop shuts the server down and waits until its files are closed. It is
// idempotent.
func (e *Server) Stop() {
	e.stopOnce.Do(e.stop)
}

func (e *Server) stop() {
	e.cancel()
	<-e.done
	releaseDir(e.dir)
}

func claimDir(dir string) error {
	openDirsMu.Lock()
	defer openDirsMu.Unlock()
	if openDirs[dir] {
		return fmt.Errorf("FerretDB in %s is already running in this process", dir)
	}
	openDirs[dir] = true
	return nil
}

func releaseDir(dir string) {
	openDirsMu.Lock()
	defer openDirsMu.Unlock()
	delete(openDirs, dir)
}

// ferretLogHandler passes on FerretDB's records at Warn level and above,
// except its echo of every failed command ("Response header: ...",
// "Response message: ..."), which FerretDB logs at Warn. Those failures
// reach the client as errors and are reported there; the echo would only
// repeat them, and it fires on harmless ones such as the endSessions command
// the driver sends on disconnect, which FerretDB does not implement.
type ferretLogHandler struct{ next slog.Handler }

func (h ferretLogHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelWarn && h.next.Enabled(ctx, level)
}

func (h ferretLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelError && strings.HasPrefix(r.Message, "Response ") {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h ferretLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return ferretLogHandler{h.next.WithAttrs(attrs)}
}

func (h ferretLogHandler) WithGroup(name string) slog.Handler {
	return ferretLogHandler{h.next.WithGroup(name)}
}
