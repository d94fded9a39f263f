package node_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/node"
	"github.com/emporium-shop/emporium/node/seed"
	"github.com/emporium-shop/emporium/search"
)

// The search benchmark of issue 4: 100,000 demo products indexed, then a
// text search with two filters and facets through HTTP at 16 concurrent
// clients. The products go straight into the node's index (as the indexer
// would write them): seeding 100,000 products through the grains measures
// the store, which has its own benchmarks.

const benchProducts = 100_000

// BenchmarkSearchHTTP reports the indexing rate of the demo catalogue
// (index-docs/s, once per run) and the search rate and latency through
// HTTP (q/s, p50-ms, p99-ms).
func BenchmarkSearchHTTP(b *testing.B) {
	cfg := node.DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.DataDir = b.TempDir()
	cfg.LogLevel = "warn"
	n := node.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(b, n.Open(b.Context()))
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	}()

	demo := seed.Generate(1, benchProducts)
	categories := benchCategories(b, n, demo)
	products := benchSearchProducts(demo, categories)
	start := time.Now()
	for i := 0; i < len(products); i += 500 {
		require.NoError(b, n.Index.Upsert(b.Context(), products[i:min(i+500, len(products))]...))
	}
	indexRate := float64(len(products)) / time.Since(start).Seconds()

	queries := benchQueries(demo, categories)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	base := n.URL() + "/v1/products?"
	// The index merges the segments of the bulk load in the background for
	// a while, which would otherwise be measured as search time: wait until
	// it has been idle for a second (at most two minutes), then warm up.
	if m, ok := n.Index.(interface{ Merging() bool }); ok {
		idleSince, deadline := time.Now(), time.Now().Add(2*time.Minute)
		for time.Since(idleSince) < time.Second && time.Now().Before(deadline) {
			if m.Merging() {
				idleSince = time.Now()
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, q := range queries {
		benchGet(b, client, base+q)
	}

	var mu sync.Mutex
	var latencies []time.Duration
	var next int
	var nextMu sync.Mutex
	b.SetParallelism(8) // 8 x GOMAXPROCS (2 here) = 16 clients
	b.ResetTimer()
	start = time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			nextMu.Lock()
			q := queries[next%len(queries)]
			next++
			nextMu.Unlock()
			t0 := time.Now()
			benchGet(b, client, base+q)
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		latencies = append(latencies, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(latencies)
	// After the run: ResetTimer drops the metrics reported before it.
	b.ReportMetric(indexRate, "index-docs/s")
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "q/s")
	b.ReportMetric(ms(latencies[len(latencies)/2]), "p50-ms")
	b.ReportMetric(ms(latencies[len(latencies)*99/100]), "p99-ms")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func benchGet(b *testing.B, c *http.Client, u string) {
	resp, err := c.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
}

// benchCategories creates the demo category tree through the catalogue and
// answers the id of each demo key.
func benchCategories(b *testing.B, n *node.Node, demo seed.Demo) map[string]string {
	admin := emporium.Principal{UserID: "bench", Roles: []string{emporium.RoleAdmin}}
	ids := map[string]string{}
	for _, c := range demo.Categories {
		created, err := n.Catalog.CreateCategory(b.Context(), admin, emporium.CategoryInput{Name: c.Name, Slug: c.Key, ParentID: ids[c.ParentKey]})
		require.NoError(b, err)
		ids[c.Key] = created.ID
	}
	return ids
}

// benchSearchProducts turns the demo products into what the indexer would
// write for them.
func benchSearchProducts(demo seed.Demo, categories map[string]string) []search.Product {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]search.Product, len(demo.Products))
	for i, p := range demo.Products {
		in := p.Input
		lo, hi := in.Variants[0].Price, in.Variants[0].Price
		for _, v := range in.Variants {
			lo, hi = min(lo, v.Price), max(hi, v.Price)
		}
		inStock := false
		for _, s := range p.Stock {
			inStock = inStock || s.OnHand > 0
		}
		out[i] = search.Product{
			ID: fmt.Sprintf("bench-%06d", i), VendorID: fmt.Sprintf("vendor-%d", p.Vendor),
			Title: in.Title, Description: in.Description, Brand: in.Brand,
			CategoryID: categories[p.Category], Status: search.StatusActive,
			PriceMin: lo, PriceMax: hi, Currency: in.Currency, InStock: inStock,
			ImageURL: in.Images[0].URL, ImageAlt: in.Images[0].Alt,
			CreatedAt: base.Add(time.Duration(i) * time.Minute), Version: 1 << 32,
		}
	}
	return out
}

// benchQueries makes 256 different searches as shoppers type them: one or
// two words of a product's title (a quarter with a typo), a category (a
// root or a sub-category) and one more filter (brand, price range or in
// stock), with facets (always answered).
func benchQueries(demo seed.Demo, categories map[string]string) []string {
	r := rand.New(rand.NewPCG(7, 11))
	parents := map[string]string{}
	for _, c := range demo.Categories {
		parents[c.Key] = c.ParentKey
	}
	var out []string
	for len(out) < 256 {
		p := demo.Products[r.IntN(len(demo.Products))]
		words := search.Words(p.Input.Title)
		var text []string
		for _, w := range words {
			if len(w.Text) >= 4 && len(text) < 1+r.IntN(2) {
				text = append(text, w.Text)
			}
		}
		if len(text) == 0 {
			continue
		}
		if r.IntN(4) == 0 && len(text[0]) >= 6 {
			t := []byte(text[0])
			t[3] = 'a' + byte((int(t[3]-'a')+1)%26) // a wrong letter: one edit away
			text[0] = string(t)
		}
		cat := p.Category
		for up := r.IntN(3); up > 0 && parents[cat] != ""; up-- {
			cat = parents[cat]
		}
		v := url.Values{"q": {strings.Join(text, " ")}, "category": {cat}}
		switch r.IntN(3) {
		case 0:
			v.Set("brand", p.Input.Brand)
		case 1:
			v.Set("max_price", fmt.Sprint(p.Input.Variants[0].Price*2))
		default:
			v.Set("in_stock", "true")
		}
		out = append(out, v.Encode())
	}
	return out
}

// BenchmarkAddToCartHTTP is issue 5's benchmark: authenticated add-to-cart
// over HTTP against one node with embedded stores, at 64 concurrent
// shoppers, each add durable (its event batch committed to the store)
// before the reply. It reports adds/s, p50-ms and p99-ms.
func BenchmarkAddToCartHTTP(b *testing.B) {
	const shoppers = 64
	cfg := node.DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.DataDir = b.TempDir()
	cfg.LogLevel = "warn"
	cfg.PublicURL = "https://shop.example"
	n := node.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(b, n.Open(b.Context()))
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	}()
	ctx := b.Context()
	admin := emporium.Principal{UserID: "bench-admin", Roles: []string{emporium.RoleAdmin}}
	cat, err := n.Catalog.CreateCategory(ctx, admin, emporium.CategoryInput{Name: "Bench"})
	require.NoError(b, err)
	vendor, err := n.Accounts.CreateUser(ctx, "benchvendor", "benchvendor@example.com", benchPassword, []string{emporium.RoleVendor})
	require.NoError(b, err)
	vp := emporium.Principal{UserID: vendor.ID, Roles: vendor.Roles}
	var skus []string
	for i := range 20 {
		in := emporium.ProductInput{Title: fmt.Sprintf("Bench product %d", i), Brand: "Bench", CategoryID: cat.ID, Currency: "USD", Status: emporium.StatusActive,
			Options: []emporium.Option{{Name: "size", Values: []string{"s", "m"}}}}
		for _, size := range []string{"s", "m"} {
			sku := fmt.Sprintf("BENCH-%02d-%s", i, size)
			in.Variants = append(in.Variants, emporium.VariantInput{SKU: sku, Options: map[string]string{"size": size}, Price: int64(1000 + i)})
			skus = append(skus, sku)
		}
		p, err := n.Catalog.CreateProduct(ctx, vp, in, "")
		require.NoError(b, err)
		for _, sku := range skus[len(skus)-2:] {
			_, err := n.Catalog.SetStock(ctx, vp, p.ID, sku, 1_000_000)
			require.NoError(b, err)
		}
	}
	tokens := make([]string, shoppers)
	a := struct {
		base   string
		client *http.Client
	}{n.URL(), &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: shoppers}, Timeout: 30 * time.Second}}
	for i := range tokens {
		email := fmt.Sprintf("shopper%d@example.com", i)
		_, err := n.Accounts.CreateUser(ctx, fmt.Sprintf("shopper%d", i), email, benchPassword, nil)
		require.NoError(b, err)
		login, err := n.Accounts.Login(ctx, email, benchPassword, emporium.Client{IP: "127.0.0.1"})
		require.NoError(b, err)
		tokens[i] = login.Tokens.AccessToken
	}
	// Warm up: every cart grain active, the catalogue cache filled.
	for i, tok := range tokens {
		benchAdd(b, a.client, a.base, tok, skus[i%len(skus)])
	}

	var mu sync.Mutex
	var latencies []time.Duration
	var next int
	b.SetParallelism((shoppers + 1) / 2) // x GOMAXPROCS (2) = 64 clients
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		tok := tokens[next%len(tokens)]
		me := next
		next++
		mu.Unlock()
		var mine []time.Duration
		for i := 0; pb.Next(); i++ {
			t0 := time.Now()
			// Each shopper's cart holds 5 SKUs, a typical cart: a cart of
			// dozens of lines costs more to price and to encode.
			if !benchAdd(b, a.client, a.base, tok, skus[(me*5+i%5)%len(skus)]) {
				// A line reached 99 units: empty the cart (not counted).
				benchClear(b, a.client, a.base, tok)
				continue
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		latencies = append(latencies, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "adds/s")
	b.ReportMetric(ms(latencies[len(latencies)/2]), "p50-ms")
	b.ReportMetric(ms(latencies[len(latencies)*99/100]), "p99-ms")
}

// benchAdd adds one unit of sku; false means the line is full (422).
func benchAdd(b *testing.B, c *http.Client, base, token, sku string) bool {
	req, _ := http.NewRequest("POST", base+"/v1/cart/items", strings.NewReader(`{"sku":"`+sku+`","quantity":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true
	case http.StatusUnprocessableEntity:
		return false
	}
	b.Fatalf("POST /v1/cart/items: %d", resp.StatusCode)
	return false
}

func benchClear(b *testing.B, c *http.Client, base, token string) {
	req, _ := http.NewRequest("DELETE", base+"/v1/cart", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}

// benchPassword is the password of the accounts the benchmarks create.
const benchPassword = "emporium bench account"
