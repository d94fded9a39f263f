package bleveindex_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emporium-shop/emporium/search"
	bleveindex "github.com/emporium-shop/emporium/search/bleve"
)

// benchSize is the catalogue size of the small benchmarks; bigSize is the
// size of the product issue's performance target.
const (
	benchSize = 10_000
	bigSize   = 100_000
)

// Vocabulary of the generated catalogue: leaf categories each with their own
// nouns, shared adjectives, materials and colours, and a long tail of brands,
// so that words have realistic, uneven frequencies.
var (
	benchAdjectives = []string{"wireless", "compact", "premium", "smart", "portable", "rugged", "classic", "silent", "digital", "modern",
		"foldable", "ergonomic", "vintage", "lightweight", "professional", "waterproof", "adjustable", "rechargeable", "heavy-duty", "slim",
		"deluxe", "eco", "mini", "ultra", "cordless", "insulated", "magnetic", "modular", "handmade", "organic"}
	benchMaterials = []string{"steel", "aluminium", "bamboo", "oak", "walnut", "leather", "cotton", "wool", "linen", "ceramic",
		"glass", "silicone", "carbon", "titanium", "copper", "nylon", "canvas", "marble", "cast iron", "recycled plastic"}
	benchColours = []string{"black", "white", "grey", "navy", "red", "green", "olive", "sand", "blue", "pink", "yellow", "orange", "teal", "brown"}
	benchUses    = []string{"home", "travel", "office", "outdoor", "kitchen", "camping", "studio", "gym", "garden", "kids", "gaming", "commuting"}
	benchNouns   = [][]string{
		{"headphones", "earbuds", "headset"}, {"speaker", "soundbar", "subwoofer"}, {"turntable", "amplifier", "receiver"},
		{"laptop", "notebook", "ultrabook"}, {"monitor", "display", "projector"}, {"keyboard", "keypad"}, {"mouse", "trackball", "trackpad"},
		{"charger", "powerbank", "adapter"}, {"cable", "hub", "dock"}, {"camera", "webcam", "camcorder"}, {"lens", "tripod", "gimbal"},
		{"smartwatch", "tracker"}, {"phone", "smartphone"}, {"tablet", "e-reader"}, {"router", "repeater", "modem"},
		{"drone", "quadcopter"}, {"console", "controller", "joystick"}, {"printer", "scanner"},
		{"blender", "mixer", "juicer"}, {"toaster", "grill"}, {"kettle", "teapot"}, {"skillet", "pan", "wok"}, {"saucepan", "stockpot", "casserole"},
		{"knife", "cleaver"}, {"cutting board", "chopping block"}, {"mug", "cup", "tumbler"}, {"plate", "bowl", "platter"},
		{"coffee maker", "espresso machine", "grinder"}, {"fridge", "freezer", "cooler"}, {"oven", "microwave", "air fryer"},
		{"lamp", "lantern", "nightlight"}, {"pendant", "chandelier"}, {"sofa", "couch", "loveseat"}, {"chair", "stool", "bench"},
		{"table", "desk", "console table"}, {"bookcase", "shelf", "cabinet"}, {"bed", "mattress", "bunk bed"}, {"pillow", "cushion", "duvet"},
		{"rug", "carpet", "doormat"}, {"curtain", "blind"}, {"mirror", "frame"}, {"vase", "planter", "pot"},
		{"hammock", "parasol", "gazebo"}, {"barbecue", "smoker"}, {"hose", "sprinkler"}, {"shovel", "rake", "trowel"}, {"mower", "trimmer"},
		{"tent", "tarp", "shelter"}, {"sleeping bag", "sleeping mat"}, {"backpack", "daypack", "duffel"}, {"bottle", "flask", "canteen"},
		{"jacket", "parka", "windbreaker"}, {"boots", "shoes", "sandals"}, {"hoodie", "sweater", "cardigan"}, {"t-shirt", "shirt", "polo"},
		{"jeans", "trousers", "shorts"}, {"watch", "bracelet"}, {"wallet", "purse"}, {"sunglasses", "goggles"}, {"bicycle", "scooter", "skateboard"},
	}
	benchBrands = func() []string {
		syllables := []string{"so", "nix", "ac", "me", "north", "wind", "ze", "nith", "or", "bit", "glo", "bex", "ini", "tech", "um", "brel",
			"la", "vex", "tor", "quin", "ka", "lo", "ra", "dyn", "ex", "pro", "mo", "vo", "lux", "tek"}
		out := make([]string, 0, 400)
		for i := 0; len(out) < 400; i++ {
			a, b := syllables[i%len(syllables)], syllables[(i/len(syllables)+i*7)%len(syllables)]
			name := string(a[0]-'a'+'A') + a[1:] + b
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
		return out
	}()
)

// benchCategory is the id of leaf category i of the generated catalogue.
func benchCategory(i int) string { return fmt.Sprintf("cat-%02d", i) }

// generate returns n deterministic products: one of ~60 leaf categories, a
// title and description drawn from the category's nouns and shared words,
// brands with a skewed popularity, prices from one euro to a thousand, four
// products in five in stock and nineteen in twenty active.
func generate(n int) []search.Product {
	r := rand.New(rand.NewPCG(42, 7))
	pick := func(words []string) string { return words[r.IntN(len(words))] }
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]search.Product, n)
	for i := range out {
		cat := r.IntN(len(benchNouns))
		noun := pick(benchNouns[cat])
		// Popular brands are much more common than the long tail.
		brand := benchBrands[int(float64(len(benchBrands))*r.Float64()*r.Float64())]
		title := fmt.Sprintf("%s %s %s %s", brand, pick(benchAdjectives), pick(benchColours), noun)
		desc := fmt.Sprintf("A %s %s %s made of %s, for %s and %s use. Model %s-%d, %s finish, %d year warranty.",
			pick(benchAdjectives), pick(benchAdjectives), noun, pick(benchMaterials), pick(benchUses), pick(benchUses),
			brand[:2], r.IntN(9000)+1000, pick(benchColours), 1+r.IntN(5))
		status := search.StatusActive
		switch r.IntN(40) {
		case 0:
			status = search.StatusDraft
		case 1:
			status = search.StatusArchived
		}
		price := int64(100 + r.ExpFloat64()*6000)
		price = min(price, 100_000)
		out[i] = search.Product{
			ID: fmt.Sprintf("b%06d", i), VendorID: fmt.Sprintf("v%d", r.IntN(500)),
			Title: title, Description: desc, Brand: brand, CategoryID: benchCategory(cat), Status: status,
			ImageURL: fmt.Sprintf("https://cdn.example.com/b%06d/1.jpg", i), ImageAlt: title,
			PriceMin: price, PriceMax: price + int64(r.IntN(5000)), Currency: "EUR",
			InStock: r.IntN(5) != 0, Rating: float64(r.IntN(51)) / 10, RatingCount: r.IntN(500),
			CreatedAt: base.Add(time.Duration(i) * time.Minute), Version: 1,
		}
	}
	return out
}

// load indexes products in batches of 500, the outbox's batch size.
func load(tb testing.TB, idx *bleveindex.Index, products []search.Product) {
	tb.Helper()
	for i := 0; i < len(products); i += 500 {
		if err := idx.Upsert(context.Background(), products[i:min(i+500, len(products))]...); err != nil {
			tb.Fatal(err)
		}
	}
}

// benchIndex measures bulk indexing of n products and reports documents per
// second.
func benchIndex(b *testing.B, n int) {
	products := generate(n)
	for b.Loop() {
		b.StopTimer()
		idx, err := bleveindex.Open(filepath.Join(b.TempDir(), "search"))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		load(b, idx, products)
		b.StopTimer()
		_ = idx.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkIndex measures bulk indexing of 10,000 products.
func BenchmarkIndex(b *testing.B) { benchIndex(b, benchSize) }

// BenchmarkIndex100k measures bulk indexing of 100,000 products.
func BenchmarkIndex100k(b *testing.B) { benchIndex(b, bigSize) }

// BenchmarkSearch measures a text search with two filters and facets over
// 10,000 products, one client at a time, and reports queries per second.
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	idx, err := bleveindex.Open(filepath.Join(b.TempDir(), "search"))
	if err != nil {
		b.Fatal(err)
	}
	defer idx.Close()
	load(b, idx, generate(benchSize))
	queries := benchQueries()
	i := 0
	for b.Loop() {
		if _, err := idx.Search(ctx, queries[i%len(queries)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}

// big is the 100,000-product index, built once per process under a
// temporary directory and shared by the benchmarks that search it. Setting
// EMPORIUM_BENCH_INDEX to a directory keeps the index there across runs
// instead; delete it when the mapping or the generator changes.
var big struct {
	once sync.Once
	dir  string
	idx  *bleveindex.Index
	err  error
}

// bigIndex returns the shared 100,000-product index.
func bigIndex(b *testing.B) *bleveindex.Index {
	b.Helper()
	big.once.Do(func() {
		path := os.Getenv("EMPORIUM_BENCH_INDEX")
		if path == "" {
			big.dir, big.err = os.MkdirTemp("", "emporium-bench-*")
			if big.err != nil {
				return
			}
			path = filepath.Join(big.dir, "search")
		}
		_, statErr := os.Stat(path)
		big.idx, big.err = bleveindex.Open(path)
		if big.err == nil && statErr != nil {
			start := time.Now()
			load(b, big.idx, generate(bigSize))
			b.Logf("indexed %d products in %v", bigSize, time.Since(start).Round(time.Millisecond))
		}
	})
	if big.err != nil {
		b.Fatal(big.err)
	}
	return big.idx
}

// TestMain removes the shared benchmark index when the process ends.
func TestMain(m *testing.M) {
	code := m.Run()
	if big.idx != nil {
		_ = big.idx.Close()
	}
	if big.dir != "" {
		_ = os.RemoveAll(big.dir)
	}
	os.Exit(code)
}

// benchQueries returns a deterministic mix of shopper searches: one to three
// words (one in four with a typo), with two filters chosen among a list of
// categories, brands, a price range and the stock flag, always with facets.
func benchQueries() []search.Query {
	r := rand.New(rand.NewPCG(1, 2))
	words := func() string {
		cat := benchNouns[r.IntN(len(benchNouns))]
		text := cat[r.IntN(len(cat))]
		if r.IntN(2) == 0 {
			text = benchAdjectives[r.IntN(len(benchAdjectives))] + " " + text
		}
		if r.IntN(4) == 0 {
			text += " " + benchColours[r.IntN(len(benchColours))]
		}
		if r.IntN(4) == 0 && len(text) > 6 {
			// Drop one letter: the typo a fuzzy match must forgive.
			i := 1 + r.IntN(len(text)-2)
			text = text[:i] + text[i+1:]
		}
		return text
	}
	yes := true
	out := make([]search.Query, 0, 256)
	for len(out) < cap(out) {
		q := search.Query{Text: words(), Facets: true}
		for _, f := range r.Perm(4)[:2] {
			switch f {
			case 0:
				cats := make([]string, 1+r.IntN(4))
				for i := range cats {
					cats[i] = benchCategory(r.IntN(len(benchNouns)))
				}
				q.Categories = cats
			case 1:
				q.Brands = []string{benchBrands[r.IntN(40)], benchBrands[r.IntN(len(benchBrands))]}
			case 2:
				lo := int64(r.IntN(5000))
				hi := lo + int64(1000+r.IntN(20000))
				q.MinPrice, q.MaxPrice = &lo, &hi
			case 3:
				q.InStock = &yes
			}
		}
		out = append(out, q)
	}
	return out
}

// BenchmarkSearch100k measures the product issue's target: text, two filters
// and facets over 100,000 products from 16 concurrent clients. It reports
// queries per second and the 50th and 99th percentile latencies.
func BenchmarkSearch100k(b *testing.B) {
	const clients = 16
	ctx := context.Background()
	idx := bigIndex(b)
	queries := benchQueries()
	// Warm up the caches and the mmapped segments.
	for _, q := range queries {
		if _, err := idx.Search(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, b.N)
		next      = make(chan int)
		wg        sync.WaitGroup
		failed    error
	)
	cpuStart := cpuTime()
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, b.N/clients+1)
			for i := range next {
				t := time.Now()
				_, err := idx.Search(ctx, queries[i%len(queries)])
				mine = append(mine, time.Since(t))
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	for i := 0; i < b.N; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpuStart
	b.StopTimer()
	if failed != nil {
		b.Fatal(failed)
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "queries/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	// CPU per query says what the machine could answer if the benchmark
	// had it to itself: 2 cores / cpu-ms = queries per millisecond.
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	b.ReportMetric(0, "ns/op")
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
