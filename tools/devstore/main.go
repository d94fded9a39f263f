// Command devstore serves the shared stores of a cluster on one machine,
// where no MongoDB server is installed: the MongoDB-protocol store that
// every node's MONGODB_URI points to (FerretDB behind Emporium's write
// gate, package persistence/ferretserver) and, with --redis-addr, a Redis
// (miniredis) for REDIS_URL. `make cluster-up` runs it, and so do the tests
// that start real node processes. It is a development tool: production
// clusters use MongoDB and Redis.
//
//	devstore --addr 127.0.0.1:27018 --postgres-url postgres://postgres@127.0.0.1:5432/postgres
//	devstore --addr 127.0.0.1:27018 --sqlite-dir ./data/cluster/store --redis-addr 127.0.0.1:6380
//
// PostgreSQL is the backend to use: FerretDB pushes filters down to it and
// it keeps up with several nodes. Without one, --sqlite-dir stores in
// SQLite files; that works with Go alone, but FerretDB scans whole
// collections there, which suits a demo catalogue of a few hundred
// products, not load.
//
// It runs until SIGINT or SIGTERM. FerretDB keeps its data in the backend;
// the Redis is in memory and forgets everything when devstore stops, which
// loses no order or stock (DESIGN §7), only sessions' one-time tokens,
// rate-limit windows and live subscriptions.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alicebob/miniredis/v2"

	"github.com/emporium-shop/emporium/persistence/ferretserver"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devstore:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("devstore", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `devstore serves the shared MongoDB-protocol store (FerretDB behind Emporium's write
gate) and optionally a Redis for several emporium nodes on one machine; make cluster-up runs it.

Usage: devstore [flags]

`)
		fs.PrintDefaults()
	}
	addr := fs.String("addr", envOr("DEVSTORE_ADDR", "127.0.0.1:27018"), "host:port of the MongoDB-protocol store (env DEVSTORE_ADDR); nodes use MONGODB_URI=mongodb://HOST:PORT/")
	pg := fs.String("postgres-url", os.Getenv("EMPORIUM_POSTGRES_URL"), "PostgreSQL FerretDB stores into (env EMPORIUM_POSTGRES_URL), e.g. postgres://postgres@127.0.0.1:5432/postgres")
	sqliteDir := fs.String("sqlite-dir", "", "store in SQLite files in this directory instead of PostgreSQL (slow beyond a demo catalogue)")
	redisAddr := fs.String("redis-addr", "", "also serve an in-memory Redis (miniredis) on this host:port, for REDIS_URL")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if (*pg == "") == (*sqliteDir == "") {
		return errors.New("give exactly one of --postgres-url (or EMPORIUM_POSTGRES_URL) and --sqlite-dir")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv, err := ferretserver.Start(ctx, ferretserver.Config{Addr: *addr, PostgreSQLURL: *pg, SQLiteDir: *sqliteDir, Logger: log})
	if err != nil {
		if *pg != "" {
			return fmt.Errorf("%w\n(is PostgreSQL running at --postgres-url? Without one, use --sqlite-dir DIR)", err)
		}
		return err
	}
	log.Info("devstore: MongoDB-protocol store ready", "uri", srv.URI, "backend", srv.Backend)

	if *redisAddr != "" {
		mr := miniredis.NewMiniRedis()
		// miniredis ages keys only when told to; without the wall clock,
		// one-time tokens and rate-limit windows would never expire.
		mr.ClockTTL(true)
		if err := mr.StartAddr(*redisAddr); err != nil {
			srv.Stop()
			return fmt.Errorf("serve Redis on %s (is another one listening there?): %w", *redisAddr, err)
		}
		defer mr.Close()
		log.Info("devstore: Redis ready", "url", "redis://"+mr.Addr()+"/0")
	}

	select {
	case <-ctx.Done():
		log.Info("devstore: stopping")
	case <-srv.Done():
		return errors.New("the store stopped by itself; see the log above")
	}
	srv.Stop()
	return nil
}

// envOr returns the environment variable key, or def when it is empty.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
