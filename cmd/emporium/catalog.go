package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/emporium-shop/emporium/node"
)

// seedGrainIdle is the grain idle timeout of `emporium seed`, and
// seedMemoryLimit its soft memory limit.
const (
	seedGrainIdle   = 20 * time.Second
	seedMemoryLimit = 640 << 20
)

// seedCmd loads a demo catalogue into the stores the settings name.
func seedCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("emporium seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	products := fs.Int("products", 1000, "how many demo products to load")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: emporium seed [--products N] [--seed-random S] [node settings]\n\n"+
			"Loads a demo catalogue: vendors, a category tree, products with variants and stock. The same\n"+
			"--seed-random makes the same catalogue, and running it again adds only what is missing. With the\n"+
			"embedded store, run it while no server uses the same DATA_DIR. Demo vendors sign in as\n"+
			"<username>@example.com with the password in DATA_DIR/%s (random, made once per data\n"+
			"directory, readable only by its owner), or the one DEMO_PASSWORD gives.\n\nFlags:\n", node.DemoPasswordFile)
		fs.PrintDefaults()
	}
	var cfg node.Config
	if err := parseSettings(&cfg, fs, args, getenv); err != nil {
		return ignoreHelp(err)
	}
	if *products < 1 || *products > 1_000_000 {
		fmt.Fprintln(stderr, "emporium seed: --products must be between 1 and 1000000")
		return errUsage
	}
	// Seeding touches each product's and SKU's grain once: passivate them
	// soon after, so that memory stays flat however large the demo.
	cfg.GrainIdle = min(cfg.GrainIdle, seedGrainIdle)
	// The live heap of a large seed is a few hundred MB; without a limit the
	// collector lets the process grow to twice that between cycles. A soft
	// limit (unless GOMEMLIMIT sets one) makes it collect sooner instead.
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(seedMemoryLimit)
	}
	n, err := openForAdmin(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer closeNode(n, cfg)
	start := time.Now()
	bar := newProgress(stderr, "seeding")
	if err := n.Seed(ctx, *products, uint64(cfg.SeedRandom), bar.report); err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	fmt.Fprintf(stdout, "seeded %d demo products in %s; the search index catches up as the node runs\n",
		*products, time.Since(start).Round(time.Millisecond))
	if _, file, err := n.DemoVendorPassword(); err == nil && file != "" {
		fmt.Fprintf(stdout, "demo vendors sign in as <username>@example.com with the password in %s\n", file)
	} else if err == nil {
		fmt.Fprintln(stdout, "demo vendors sign in as <username>@example.com with the password DEMO_PASSWORD gives")
	}
	return nil
}

// reindexCmd rebuilds the search index from the stores.
func reindexCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("emporium reindex", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: emporium reindex [node settings]\n\n"+
			"Rebuilds the product search index from the store (MongoDB or the embedded one). The embedded\n"+
			"index is built anew beside the old one, which it replaces when complete; run it while no server\n"+
			"uses the same DATA_DIR. Elasticsearch (ELASTICSEARCH_URL) is rewritten in place.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var cfg node.Config
	if err := parseSettings(&cfg, fs, args, getenv); err != nil {
		return ignoreHelp(err)
	}
	n, err := openForAdmin(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer closeNode(n, cfg)
	start := time.Now()
	bar := newProgress(stderr, "indexing")
	var total int
	if err := n.Reindex(ctx, func(done, all int) { total = all; bar.report(done, all) }); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reindexed %d products in %s\n", total, time.Since(start).Round(time.Millisecond))
	return nil
}

// openForAdmin opens a node for an operator command, logging to stderr
// (warnings only, so that a progress bar stays readable).
func openForAdmin(ctx context.Context, cfg node.Config, stderr io.Writer) (*node.Node, error) {
	if cfg.LogLevel == "info" {
		cfg.LogLevel = "warn"
	}
	cfg.HTTPAddr = "" // not served
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := node.New(cfg, cfg.NewLogger(stderr))
	if err := n.OpenForAdmin(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

func closeNode(n *node.Node, cfg node.Config) {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	_ = n.Close(ctx)
}
