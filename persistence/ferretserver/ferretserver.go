// Package ferretserver runs FerretDB as the one MongoDB-protocol store that
// several node processes share on one machine: the store of the local
// cluster (`make cluster-up`, tools/devstore) and of the tests that start
// real node processes, where no MongoDB server can be installed.
//
// FerretDB 1.24 alone is not safe for several writers: it runs an update,
// a delete or a findAndModify as a query followed by a separate write, so
// two conditional writes at the same version can both succeed, on SQLite
// and on PostgreSQL alike (mongostore/ferret.go). A Server therefore puts
// a write gate in front of it (gate.go) that serialises those commands per
// collection across every client connection, which makes each conditional
// write atomic, and answers mongostore.GateCommand so that mongostore knows it may
// trust them. FerretDB itself listens only on a Unix socket in a private
// directory, so nothing reaches it around the gate.
//
// The backend is PostgreSQL when Config.PostgreSQLURL is set, which is
// what a cluster should use: it pushes filters down to SQL and keeps its
// connections under load. SQLite works without anything installed but
// scans whole collections (mongostore/ferret.go), which suits a demo of a
// few hundred products, not load.
//
// Only tools and tests link this package; the emporium binary does not
// (imports_test.go), since production clusters use MongoDB.
package ferretserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// startTimeout bounds how long Start waits for FerretDB to listen.
const startTimeout = 30 * time.Second

// Config says where the server listens and what it stores into.
type Config struct {
	// Addr is the TCP address clients connect to, e.g. "127.0.0.1:27018";
	// port 0 picks a free one (see Server.URI).
	Addr string
	// PostgreSQLURL, when set, selects FerretDB's PostgreSQL backend, e.g.
	// "postgres://postgres@127.0.0.1:5432/postgres". Each MongoDB database
	// becomes a schema of that PostgreSQL database.
	PostgreSQLURL string
	// SQLiteDir holds the SQLite files when PostgreSQLURL is empty.
	SQLiteDir string
	// Logger receives the server's records; FerretDB's own are passed on
	// at Warn level and above. Nil discards them.
	Logger *slog.Logger
}

// Server is FerretDB behind the write gate.
type Server struct {
	// URI is the MongoDB connection string clients use (the gate's address).
	URI string
	// Backend is "postgresql" or "sqlite".
	Backend string

	gate   *gate
	sock   string
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// ferretNewMu serialises ferretdb.New, which writes package-level state of
// FerretDB (its version info) and so races when two servers start at once.
var ferretNewMu sync.Mutex

// Start starts FerretDB and the gate in front of it. They run until Stop
// or until ctx ends.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fcfg := &ferretdb.Config{Logger: slog.New(warnOnly{log.With("component", "ferretdb").Handler()})}
	backend := "postgresql"
	switch {
	case cfg.PostgreSQLURL != "":
		fcfg.Handler, fcfg.PostgreSQLURL = "postgresql", cfg.PostgreSQLURL
	case cfg.SQLiteDir != "":
		dir, err := filepath.Abs(cfg.SQLiteDir)
		if err != nil {
			return nil, fmt.Errorf("ferretserver: resolve the SQLite directory %s: %w", cfg.SQLiteDir, err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("ferretserver: create the SQLite directory: %w", err)
		}
		backend = "sqlite"
		fcfg.Handler, fcfg.SQLiteURL = "sqlite", (&url.URL{Scheme: "file", Path: dir + "/"}).String()
	default:
		return nil, errors.New("ferretserver: set a PostgreSQL URL or a SQLite directory for FerretDB to store into")
	}

	// FerretDB listens on a Unix socket in a directory only this user can
	// enter, so that every client goes through the gate. Unix socket paths
	// are short (108 bytes), hence a directory of its own under the
	// system's temporary directory rather than under the data directory.
	sockDir, err := os.MkdirTemp("", "ferretgate-")
	if err != nil {
		return nil, fmt.Errorf("ferretserver: create the socket directory: %w", err)
	}
	sock := filepath.Join(sockDir, "ferretdb.sock")
	fcfg.Listener.Unix = sock

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		os.RemoveAll(sockDir)
		return nil, fmt.Errorf("ferretserver: listen on %s for clients (is another store running there?): %w", cfg.Addr, err)
	}

	ferretNewMu.Lock()
	f, err := ferretdb.New(fcfg)
	ferretNewMu.Unlock()
	if err != nil {
		ln.Close()
		os.RemoveAll(sockDir)
		return nil, fmt.Errorf("ferretserver: start FerretDB on %s: %w", backend, err)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	s := &Server{
		URI:     "mongodb://" + ln.Addr().String() + "/",
		Backend: backend,
		sock:    sock,
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	dial := func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}
	s.gate = newGate(log, dial)

	var wg sync.WaitGroup
	wg.Go(func() { _ = f.Run(runCtx) }) // Run returns nil once runCtx is cancelled
	wg.Go(func() { s.gate.serve(runCtx, ln) })
	go func() {
		wg.Wait()
		os.RemoveAll(sockDir)
		close(s.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			s.Stop()
		case <-s.done:
		}
	}()

	// Wait until FerretDB answers on its socket, so that the first client
	// does not race its start.
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := dial(ctx)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.Stop()
			return nil, fmt.Errorf("ferretserver: FerretDB did not listen on %s within %s: %w", sock, startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a local socket until FerretDB has bound it
	}
	return s, nil
}

// Stop stops the gate and FerretDB and waits until they have closed. It is
// idempotent.
func (s *Server) Stop() {
	s.once.Do(s.cancel)
	<-s.done
}

// Done is closed once the server has stopped.
func (s *Server) Done() <-chan struct{} { return s.done }

// Gated returns how many commands took a collection's turn at the gate.
func (s *Server) Gated() int64 { return s.gate.gated.Load() }

// warnOnly passes on FerretDB's records at Warn level and above, except its
// echo of every failed command ("Response header: ...", "Response message:
// ..."), which it logs at Warn, its warning when a connection closes under
// it, and its log of every duplicate key: the client receives those as
// errors anyway, or caused them.
type warnOnly struct{ next slog.Handler }

func (h warnOnly) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelWarn && h.next.Enabled(ctx, level)
}

func (h warnOnly) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelError && strings.HasPrefix(r.Message, "Response ") {
		return nil
	}
	// FerretDB warns when a client connection it serves closes under it;
	// the gate closes its side whenever its client goes.
	if r.Level < slog.LevelError && (strings.HasPrefix(r.Message, "Failed to set deadline") || r.Message == "Connection stopped") {
		return nil
	}
	if quietError(r) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// quietError reports whether r is the PostgreSQL backend's log of a unique
// violation (SQLSTATE 23505), which it logs at Error for every refused
// insert, or of a query cancelled because its client went away. The first
// are the store's expected conflicts (two writers of the same journal seq,
// a snapshot that lost to a newer one), which the client receives as
// duplicate key errors; the second come with every node that stops.
func quietError(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" && (strings.Contains(a.Value.String(), "SQLSTATE 23505") || a.Value.String() == "context canceled") {
			found = true
			return false
		}
		return true
	})
	return found
}

func (h warnOnly) WithAttrs(attrs []slog.Attr) slog.Handler { return warnOnly{h.next.WithAttrs(attrs)} }

func (h warnOnly) WithGroup(name string) slog.Handler { return warnOnly{h.next.WithGroup(name)} }
