package sqlitestore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/emporium-shop/emporium/persistence"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
)

// Run with: go test -run '^$' -bench . -benchtime 2s ./persistence/sqlitestore/

// BenchmarkJournalAppend measures group commit (persistencetest.BenchJournalAppend).
func BenchmarkJournalAppend(b *testing.B) {
	persistencetest.BenchJournalAppend(b, func(b *testing.B) persistence.Journal {
		return persistencetest.OpenConfig(b, persistence.Config{DataDir: b.TempDir()}).Journal()
	})
}

// BenchmarkJournalAppendSequential measures one append with nothing to
// batch with: the linger plus one durable commit.
func BenchmarkJournalAppendSequential(b *testing.B) {
	persistencetest.BenchJournalAppendSequential(b, persistencetest.OpenConfig(b, persistence.Config{DataDir: b.TempDir()}).Journal())
}

// Read-model shapes of the benchmark: products listed by vendor and marked
// by the search indexer, holds that expire.
const (
	vendors    = 10   // a vendor's page is one of size/10 products
	unmarkedIn = 20   // one product in unmarkedIn is not marked
	markChunk  = 5000 // marks per SetMark while seeding
	pageSize   = 20
)

// product is a product's read model as the benchmark stores it.
type product struct {
	Vendor string `bson:"vendor"`
	Title  string `bson:"title"`
	Price  int64  `bson:"price"`
}

// BenchmarkReadModel measures every kind of read-model query at 1,000 and
// at 100,000 documents: each is served by an index, so both sizes should
// take about the same time.
func BenchmarkReadModel(b *testing.B) {
	for _, size := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("docs=%d", size), func(b *testing.B) {
			s := seed(b, size)
			p := s.Projections()
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(1, uint64(size)))
			id := func() string { return fmt.Sprintf("p%07d", rng.IntN(size)) }
			now := time.Now()

			b.Run("List", func(b *testing.B) {
				var page []bson.Raw
				for b.Loop() {
					if err := p.List(ctx, "products", "vendor", fmt.Sprintf("v%d", rng.IntN(vendors)), "", pageSize, &page); err != nil {
						b.Fatal(err)
					}
					if len(page) != pageSize {
						b.Fatalf("a page of %d", len(page))
					}
				}
			})
			b.Run("List_next_page", func(b *testing.B) {
				var page []bson.Raw
				for b.Loop() {
					if err := p.List(ctx, "products", "vendor", fmt.Sprintf("v%d", rng.IntN(vendors)), id(), pageSize, &page); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("DueBefore", func(b *testing.B) {
				for b.Loop() {
					ids, err := p.DueBefore(ctx, "holds", "expires", now, pageSize)
					if err != nil {
						b.Fatal(err)
					}
					if len(ids) != pageSize {
						b.Fatalf("%d due", len(ids))
					}
				}
			})
			b.Run("Unmarked", func(b *testing.B) {
				for b.Loop() {
					ids, err := p.Unmarked(ctx, "products", "indexed", "", pageSize)
					if err != nil {
						b.Fatal(err)
					}
					if len(ids) != pageSize {
						b.Fatalf("%d unmarked", len(ids))
					}
				}
			})
			b.Run("GetMany_20", func(b *testing.B) {
				ids := make([]string, pageSize)
				var docs []product
				for b.Loop() {
					for i := range ids {
						ids[i] = id()
					}
					if err := p.GetMany(ctx, "products", ids, &docs); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("Get", func(b *testing.B) {
				var doc product
				for b.Loop() {
					if _, err := p.Get(ctx, "products", id(), &doc); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// seed opens a store with size products and size holds, their indexes
// declared first as a node declares them at start-up. Projections go in
// batches of thousands, each one transaction. Every product but one in
// unmarkedIn is marked; half the holds expire, half of those before now,
// and the other half never do.
func seed(b *testing.B, size int) persistence.Store {
	b.Helper()
	ctx := context.Background()
	s := persistencetest.OpenConfig(b, persistence.Config{
		DataDir:     b.TempDir(),
		GroupCommit: persistence.GroupCommit{MaxBatch: 5000},
	})
	p := s.Projections()
	for _, index := range [][]string{{"products", "vendor", "-_id"}, {"products", "indexed", "_id"}, {"holds", "expires"}} {
		if err := p.EnsureIndex(ctx, index[0], index[1:]...); err != nil {
			b.Fatal(err)
		}
	}
	started := time.Now()
	now := time.Now()
	for i := range size {
		id := fmt.Sprintf("p%07d", i)
		p.Put("products", id, 1, product{Vendor: fmt.Sprintf("v%d", i%vendors), Title: "product " + id, Price: int64(i)})
		hold := bson.M{"sku": id}
		if i%2 == 0 {
			// Spread over two hours around now, in an order unrelated to ids.
			hold["expires"] = now.Add(time.Duration((i*7919)%7200-3600) * time.Second)
		}
		p.Put("holds", id, 1, hold)
		if i%20_000 == 19_999 {
			if err := p.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	marks := make([]persistence.Mark, 0, markChunk)
	for i := range size {
		if i%unmarkedIn != 0 {
			marks = append(marks, persistence.Mark{ID: fmt.Sprintf("p%07d", i), Seq: 1})
		}
		if len(marks) == markChunk || i == size-1 {
			if err := p.SetMark(ctx, "products", "indexed", marks...); err != nil {
				b.Fatal(err)
			}
			marks = marks[:0]
		}
	}
	b.Logf("seeded %d products and %d holds in %v", size, size, time.Since(started).Round(time.Millisecond))
	return s
}

// BenchmarkJournalAppended measures the view repair's journal scan
// (persistencetest.BenchJournalAppended): 100,000 commits, the last 2,000
// asked for.
func BenchmarkJournalAppended(b *testing.B) {
	persistencetest.BenchJournalAppended(b, func(b *testing.B, now func() time.Time) persistence.Journal {
		return persistencetest.OpenConfig(b, persistence.Config{DataDir: b.TempDir(), Now: now}).Journal()
	}, 100_000, 2_000)
}
