// Command emporium runs an Emporium node and its operator tasks.
//
//	emporium serve      run one node (HTTP API, cluster member, stores)
//	emporium seed       load a demo catalogue
//	emporium reindex    rebuild the search index from the store
//	emporium backup     copy the embedded store while the node serves
//	emporium admin      operator tasks (create-user)
//	emporium help       show the commands
//
// Every setting is an environment variable with a flag twin; run
// `emporium serve --help` to see them all.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/emporium-shop/emporium/node"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the process at once,
		// should a graceful shutdown hang.
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "emporium: %v\n", err)
		os.Exit(1)
	}
}

// errUsage means the command line was wrong and the usage was printed.
var errUsage = errors.New("usage")

const usage = `Emporium is an open-source marketplace backend.

Usage:
  emporium <command> [flags]

Commands:
  serve     run one node: HTTP API on HTTP_ADDR, cluster member, stores
            (--seed N loads N demo products into an empty catalogue first)
  seed      load a demo catalogue: emporium seed --products 1000
  reindex   rebuild the search index from the store
  backup    copy the embedded store, consistently, while the node serves: emporium backup DIR
  admin     operator tasks: create-user
  version   print the version
  help      show this help

Run 'emporium serve --help' for the settings (env vars and flags).
`

// run is the whole program: it returns instead of exiting so tests can call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "seed":
		return seedCmd(ctx, args[1:], getenv, stdout, stderr)
	case "reindex":
		return reindexCmd(ctx, args[1:], getenv, stdout, stderr)
	case "backup":
		return backupCmd(ctx, args[1:], getenv, stdout, stderr)
	case "admin":
		return admin(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, node.Version)
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "emporium: unknown command %q\n\n%s", args[0], usage)
		return errUsage
	}
}

// serve runs a node until ctx ends (SIGINT or SIGTERM), then shuts it down
// gracefully within SHUTDOWN_TIMEOUT.
// serveGCPercent is the garbage collector's target for a serving node when
// GOGC is not set: a node's live heap is small (tens of megabytes) and its
// garbage comes from requests, so collecting at 5x the live heap rather than
// Go's 2x takes about a tenth of the CPU off every checkout
// (docs/benchmarks.md, "Checkout") for some hundred megabytes more. GOGC (and
// GOMEMLIMIT) in the environment win.
const serveGCPercent = 400

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("emporium serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: emporium serve [flags]\n\nRuns one Emporium node. With no settings it uses embedded stores under ./data.\nEvery flag has an environment variable twin; a flag wins over its variable.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var cfg node.Config
	if err := parseSettings(&cfg, fs, args, getenv); err != nil {
		return ignoreHelp(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "emporium serve: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	logger := cfg.NewLogger(stdout)
	if getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	n := node.New(cfg, logger)
	if err := n.Open(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	start := time.Now()
	if err := n.Close(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped", "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// parseSettings parses the node settings and a command's own flags (already
// on fs). A usage mistake becomes errUsage (the flag package printed what
// was wrong); a malformed setting stays an error naming its variable.
func parseSettings(cfg *node.Config, fs *flag.FlagSet, args []string, getenv func(string) string) error {
	err := cfg.Parse(fs, args, getenv)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp), errors.Is(err, node.ErrBadSettings):
		return err
	default:
		return errUsage
	}
}

// ignoreHelp turns a request for help, which the flag package answered,
// into success.
func ignoreHelp(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}
