// Command stockaudit replays SKUs' InventoryGrain journals from a database
// a cluster wrote through FerretDB on PostgreSQL (the kill test's store;
// run it with KILLTEST_KEEP=1 to keep the database) and prints what they
// hold: each SKU's stock, its read model beside it, and the orders that
// still hold units of it with their journals. It is a post-mortem tool.
//
//	stockaudit --database killtest_1796531924118534439 KILL-ORDER-000 KILL-SCARCE-000
//	stockaudit --database killtest_1796531924118534439 --events KILL-ORDER-000
//
// --events prints every event of each SKU's journal, and --orders the
// journals of the orders that committed units of it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium/actors/inventory"
	"github.com/emporium-shop/emporium/actors/order"
	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/ferretserver"
	"github.com/emporium-shop/emporium/persistence/mongostore"
	_ "github.com/emporium-shop/emporium/protos" // every event type, to decode the journals
	inventorypb "github.com/emporium-shop/emporium/protos/inventorypb"
)

func main() {
	pg := flag.String("postgres-url", envOr("EMPORIUM_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"), "the PostgreSQL behind FerretDB")
	database := flag.String("database", "", "the database (a schema in PostgreSQL) to read")
	events := flag.Bool("events", false, "print every event of each SKU's journal")
	orders := flag.Bool("orders", false, "print the journals of the orders that committed units of each SKU")
	flag.Parse()
	if *database == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: stockaudit --database NAME [--events] [--orders] SKU...")
		os.Exit(2)
	}
	if err := run(*pg, *database, flag.Args(), *events, *orders); err != nil {
		fmt.Fprintln(os.Stderr, "stockaudit:", err)
		os.Exit(1)
	}
}

func run(pg, database string, skus []string, events, orders bool) error {
	ctx := context.Background()
	srv, err := ferretserver.Start(ctx, ferretserver.Config{Addr: "127.0.0.1:0", PostgreSQLURL: pg,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		return fmt.Errorf("starting FerretDB on %s: %w", pg, err)
	}
	defer srv.Stop()
	st, err := mongostore.Open(ctx, persistence.Config{URI: srv.URI, Database: database, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("opening database %s: %w", database, err)
	}
	defer func() { _ = st.Close(ctx) }()
	a := auditor{ctx: ctx, store: st}
	for _, sku := range skus {
		if err := a.sku(sku, events, orders); err != nil {
			return err
		}
	}
	return nil
}

type auditor struct {
	ctx   context.Context
	store *mongostore.Store
}

// sku prints sku's stock as its journal has it and as its read model shows
// it, and the orders that still hold units of it.
func (a auditor) sku(sku string, events, orders bool) error {
	s, err := inventory.Spec.Replay(a.ctx, a.store.Journal(), sku)
	if err != nil {
		return fmt.Errorf("replaying %s: %w", sku, err)
	}
	fmt.Printf("== %s: journal: on hand %d, reserved %d, available %d, sold %d\n", sku, s.OnHand, s.Reserved, s.OnHand-s.Reserved, s.Sold)
	var v inventory.View
	if seq, err := a.store.Projections().Get(a.ctx, inventory.ViewCollection, sku, &v); err != nil {
		fmt.Printf("   read model: %v\n", err)
	} else {
		fmt.Printf("   read model at seq %d: on hand %d, reserved %d, available %d, sold %d\n", seq, v.OnHand, v.Reserved, v.Available, v.Sold)
	}
	for id, r := range s.Held {
		fmt.Printf("   held: %d units for order %s until %s\n", r.Quantity, id, r.ExpiresAt.AsTime().Format(time.RFC3339))
		a.stream(order.Spec.Stream(id))
	}
	if events {
		a.stream(inventory.Spec.Stream(sku))
	}
	if orders {
		_, err := a.store.Journal().Load(a.ctx, inventory.Spec.Stream(sku), 0, func(_ uint64, _ time.Time, ev proto.Message) error {
			if c, ok := ev.(*inventorypb.Committed); ok {
				a.stream(order.Spec.Stream(c.OrderId))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading the journal of %s: %w", sku, err)
		}
	}
	return nil
}

// stream prints every event of a journal stream.
func (a auditor) stream(stream string) {
	fmt.Printf("   -- %s\n", stream)
	_, err := a.store.Journal().Load(a.ctx, stream, 0, func(seq uint64, at time.Time, ev proto.Message) error {
		data, _ := protojson.Marshal(ev)
		fmt.Printf("   %4d %s %s %s\n", seq, at.Format("15:04:05.000"), ev.ProtoReflect().Descriptor().Name(), data)
		return nil
	})
	if err != nil {
		fmt.Printf("   (reading it failed: %v)\n", err)
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
