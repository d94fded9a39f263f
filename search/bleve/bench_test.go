package bleveindex_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/emporium-shop/emporium/search"
	bleveindex "github.com/emporium-shop/emporium/search/bleve"
)

// benchSize is the catalogue size of the benchmarks.
const benchSize = 10_000

// generate returns n deterministic products with varied words, brands,
// categories and prices.
func generate(n int) []search.Product {
	adjectives := []string{"wireless", "compact", "premium", "smart", "portable", "rugged", "classic", "silent", "digital", "modern"}
	nouns := []string{"headphones", "speaker", "keyboard", "blender", "toaster", "skillet", "lamp", "backpack", "monitor", "kettle", "camera", "charger"}
	brands := []string{"Sonix", "Acme", "Northwind", "Zenith", "Orbit", "Globex", "Initech", "Umbrella"}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]search.Product, n)
	for i := range out {
		top, mid, leaf := fmt.Sprintf("c%d", i%4), fmt.Sprintf("c%d-%d", i%4, i%3), fmt.Sprintf("c%d-%d-%d", i%4, i%3, i%5)
		title := adjectives[i%len(adjectives)] + " " + nouns[(i/7)%len(nouns)]
		out[i] = search.Product{
			ID: fmt.Sprintf("b%06d", i), VendorID: fmt.Sprintf("v%d", i%50),
			Title:       title,
			Description: fmt.Sprintf("A %s with %s finish, model %d, for home and travel.", title, adjectives[(i/3)%len(adjectives)], i),
			Brand:       brands[i%len(brands)], CategoryID: leaf, CategoryPath: []string{top, mid, leaf},
			PriceMin: int64(100 + (i*7919)%60000), PriceMax: int64(200 + (i*7919)%60000), Currency: "EUR",
			InStock: i%5 != 0, Rating: float64(i%50) / 10, RatingCount: i % 300,
			CreatedAt: base.Add(time.Duration(i) * time.Minute), Version: 1,
		}
	}
	return out
}

// BenchmarkIndex measures bulk indexing in batches of 500, the outbox's
// batch size, and reports documents per second.
func BenchmarkIndex(b *testing.B) {
	ctx := context.Background()
	products := generate(benchSize)
	for b.Loop() {
		b.StopTimer()
		idx, err := bleveindex.Open(filepath.Join(b.TempDir(), "search"))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for i := 0; i < len(products); i += 500 {
			if err := idx.Upsert(ctx, products[i:min(i+500, len(products))]...); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		_ = idx.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*benchSize)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkSearch measures a text search with two filters and facets over
// 10,000 products and reports queries per second.
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	idx, err := bleveindex.Open(filepath.Join(b.TempDir(), "search"))
	if err != nil {
		b.Fatal(err)
	}
	defer idx.Close()
	products := generate(benchSize)
	for i := 0; i < len(products); i += 1000 {
		if err := idx.Upsert(ctx, products[i:i+1000]...); err != nil {
			b.Fatal(err)
		}
	}
	yes := true
	maxPrice := int64(30000)
	queries := []search.Query{
		{Text: "wireless headphones", Category: "c1", InStock: &yes, Facets: true},
		{Text: "portable speker", Brands: []string{"Acme", "Orbit"}, MaxPrice: &maxPrice, Facets: true},
		{Text: "kettle", Category: "c2-1", InStock: &yes, Facets: true},
	}
	i := 0
	for b.Loop() {
		if _, err := idx.Search(ctx, queries[i%len(queries)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}
