package persistence

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// embedded is an in-process FerretDB server on SQLite, listening on a random
// loopback port, that the store reaches through the ordinary driver so that
// the same code runs against it and against MongoDB.
type embedded struct {
	dir    string // absolute directory of the SQLite files
	uri    string // where the server listens
	cancel context.CancelFunc
	done   chan struct{} // closed when the server has stopped
}

var (
	// ferretNewMu serialises ferretdb.New, which writes package-level state
	// of FerretDB (its version info) and so races when two stores start at
	// once in one process, as they do in parallel tests.
	ferretNewMu sync.Mutex

	// openDirs holds the embedded directories open in this process. Two
	// servers on the same SQLite files would break the store's guarantees,
	// which rely on one process owning the embedded data (see ferret.go).
	openDirsMu sync.Mutex
	openDirs   = map[string]bool{}
)

// startEmbedded starts FerretDB with its files under dataDir/mongo. Its logs
// go to logger at Warn level and above.
func startEmbedded(dataDir string, logger *slog.Logger) (*embedded, error) {
	dir, err := filepath.Abs(filepath.Join(dataDir, "mongo"))
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
		return nil, fmt.Errorf("start embedded FerretDB in %s: %w", dir, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	e := &embedded{dir: dir, uri: f.MongoDBURI(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		// Run only returns once ctx is cancelled, and then always with nil.
		_ = f.Run(ctx)
	}()
	return e, nil
}

// stop shuts the server down and waits until its files are closed.
func (e *embedded) stop() {
	e.cancel()
	<-e.done
	releaseDir(e.dir)
}

func claimDir(dir string) error {
	openDirsMu.Lock()
	defer openDirsMu.Unlock()
	if openDirs[dir] {
		return fmt.Errorf("the embedded store in %s is already open in this process", dir)
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
