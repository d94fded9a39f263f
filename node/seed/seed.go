// Package seed makes the demo catalogue `emporium seed` and `serve --seed N`
// load, so that a newcomer can browse, search and buy at once (DESIGN §10):
// vendors with their stores, a category tree, and products with brands,
// options and variants, prices, stock and pictures.
//
// Generate is pure: the same seed and count give the same Demo, and product
// i of a seed is the same whatever the count, so a larger run extends a
// smaller one. Load creates a Demo through a Target, concurrently and
// idempotently: every step either finds what an earlier run made or makes it
// under the same name, so a run cut short can simply be run again.
package seed

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/emporium-shop/emporium"
)

// Demo is a generated catalogue, ready for Load.
type Demo struct {
	// Seed is the seed the demo was generated from.
	Seed uint64
	// Categories is the category tree, parents before their children.
	Categories []Category
	// Vendors are the stores the products belong to.
	Vendors []Vendor
	// Products are the products, each of one vendor in one leaf category.
	Products []Product
}

// Category is a node of the demo's category tree. Key is unique in the demo
// and is used as the category's slug, which is how a re-run recognises the
// categories an earlier run made.
type Category struct {
	Key       string
	ParentKey string // "" for a root
	Name      string
}

// Vendor is a demo store and the account that owns it. The vendors are the
// same for every seed: vendor k of any demo is the same store.
type Vendor struct {
	Username string
	Email    string
	Store    emporium.VendorInput
}

// Product is a demo product. Input is complete but for its CategoryID, which
// Load sets from Category once the category exists.
type Product struct {
	// CommandID is the idempotency key Load creates the product with: the
	// same for the same seed and product number, so a re-run answers the
	// product the first run made.
	CommandID string
	// Vendor is the index of the product's vendor in Demo.Vendors.
	Vendor int
	// Category is the key of the product's category, always a leaf.
	Category string
	Input    emporium.ProductInput
	// Stock is the units on hand of each variant, in variant order.
	Stock []Stock
}

// Stock is the units on hand of one SKU.
type Stock struct {
	SKU    string
	OnHand int64
}

// Limits of the demo.
const (
	// ProductsPerVendor is how many products make one more vendor.
	ProductsPerVendor = 500
	// MinVendors and MaxVendors bound the number of vendors.
	MinVendors = 3
	MaxVendors = 50
)

// VendorCount is the number of vendors of a demo of n products:
// n/ProductsPerVendor, within [MinVendors, MaxVendors].
func VendorCount(n int) int { return min(MaxVendors, max(MinVendors, n/ProductsPerVendor)) }

// Generate makes the demo of the given number of products for seed. It is
// deterministic: the same arguments give an equal Demo. A negative count is
// taken as zero.
func Generate(seed uint64, products int) Demo {
	products = max(products, 0)
	return GenerateRange(seed, products, 0, products)
}

// GenerateRange makes the part of the demo of the given number of products
// that holds products from to to-1 (clamped to the demo): its categories
// and vendors are the whole demo's, and product i is the same as product i
// of Generate(seed, products). Loading a large demo a range at a time keeps
// only one range of products in memory; Load is idempotent, so loading the
// ranges one after another loads the demo.
func GenerateRange(seed uint64, products, from, to int) Demo {
	products = max(products, 0)
	from, to = min(max(from, 0), products), min(max(to, 0), products)
	to = max(to, from)
	d := Demo{
		Seed:       seed,
		Categories: slices.Clone(tree.categories),
		Vendors:    slices.Clone(allVendors[:VendorCount(products)]),
		Products:   make([]Product, to-from),
	}
	// Products are independent of each other, so chunks of them are made
	// in parallel, each by a generator of its own.
	const chunk = 1024
	n := to - from
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), (n+chunk-1)/chunk) {
		wg.Go(func() {
			g := newGenerator(seed)
			for {
				start := int(next.Add(chunk)) - chunk
				if start >= n {
					return
				}
				for i := start; i < min(start+chunk, n); i++ {
					d.Products[i] = g.product(from + i)
				}
			}
		})
	}
	wg.Wait()
	return d
}

// The category tree and the leaves products are put in, resolved once from
// the tables of data.go.

type rootInfo struct {
	*rootSpec
	leaves []*leafInfo
}

type leafInfo struct {
	key                 string
	nouns, lowerNouns   []string
	features, lowerFeat []string
	logMin, logMax      float64 // of the price bounds in cents
	options             []*optionKind
	attrs               []*attrKind
}

var tree = buildTree()

type builtTree struct {
	categories []Category
	roots      []*rootInfo
}

// buildTree resolves the tables and checks them; a mistake in them is a bug
// found by the first test that runs.
func buildTree() builtTree {
	var t builtTree
	keys := map[string]bool{}
	var walk func(ri *rootInfo, parent string, s spec, depth int)
	walk = func(ri *rootInfo, parent string, s spec, depth int) {
		key := slug(s.name)
		if keys[key] {
			panic("seed: two categories have the key " + key)
		}
		keys[key] = true
		t.categories = append(t.categories, Category{Key: key, ParentKey: parent, Name: s.name})
		if s.leaf == nil {
			for _, c := range s.children {
				walk(ri, key, c, depth+1)
			}
			return
		}
		if depth < 2 || len(s.children) > 0 {
			panic("seed: leaf " + key + " is a root or has children")
		}
		l := &leafInfo{
			key: key, nouns: s.leaf.nouns, features: s.leaf.features,
			logMin: math.Log(float64(s.leaf.min * 100)), logMax: math.Log(float64(s.leaf.max * 100)),
		}
		for _, w := range l.nouns {
			l.lowerNouns = append(l.lowerNouns, lowerWords(w))
		}
		for _, w := range l.features {
			l.lowerFeat = append(l.lowerFeat, lowerWords(w))
		}
		names := map[string]bool{}
		for _, id := range s.leaf.options {
			k := optionKinds[id]
			if k == nil || names[k.name] || len(k.values) != len(k.codes) || len(k.values) < 2 {
				panic("seed: leaf " + key + ": bad option " + id)
			}
			names[k.name] = true
			l.options = append(l.options, k)
		}
		attrKeys := map[string]bool{}
		for _, id := range s.leaf.attrs {
			a := attrKinds[id]
			if a == nil || attrKeys[a.key] {
				panic("seed: leaf " + key + ": bad attribute " + id)
			}
			attrKeys[a.key] = true
			l.attrs = append(l.attrs, a)
		}
		if len(l.options) > 2 || len(l.attrs) < 2 || len(l.nouns) == 0 || len(l.features) == 0 {
			panic("seed: leaf " + key + " needs at most 2 options, 2 attributes, a noun and a feature")
		}
		ri.leaves = append(ri.leaves, l)
	}
	for i := range roots {
		ri := &rootInfo{rootSpec: &roots[i]}
		walk(ri, "", roots[i].spec, 1)
		t.roots = append(t.roots, ri)
	}
	return t
}

// slug makes a category key or a username from a name: lower-case letters
// and digits, words joined by '-'; apostrophes vanish ("Men's" is "mens").
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(name) {
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(c)
		case c == '\'':
		default:
			dash = true
		}
	}
	return b.String()
}

// allVendors are the stores, in the order demos take them; the same for
// every seed so that demos of different seeds share their vendors.
var allVendors = buildVendors()

func buildVendors() []Vendor {
	r := rand.New(rand.NewPCG(0x5eed, 0x7e4d0))
	combos := make([][2]int, 0, len(storePrefixes)*len(storeSuffixes))
	for p := range storePrefixes {
		for s := range storeSuffixes {
			combos = append(combos, [2]int{p, s})
		}
	}
	r.Shuffle(len(combos), func(i, j int) { combos[i], combos[j] = combos[j], combos[i] })
	vendors := make([]Vendor, MaxVendors)
	for k := range vendors {
		name := storePrefixes[combos[k][0]] + " " + storeSuffixes[combos[k][1]]
		username := slug(name)
		if len(username) > 32 {
			username = strings.TrimRight(username[:32], "-")
		}
		kind := pick(r, storeKinds)
		desc := name + " is " + article(kind) + " " + kind + " shop based in " + pick(r, cities) +
			", selling online since " + strconv.Itoa(1998+r.IntN(27)) + ". " + pick(r, storeLines)
		vendors[k] = Vendor{
			Username: username,
			Email:    username + "@example.com",
			Store:    emporium.VendorInput{StoreName: name, Description: desc},
		}
	}
	return vendors
}

// article is "a" or "an" for the word that follows.
func article(word string) string {
	if word != "" && strings.ContainsRune("aeioAEIO", rune(word[0])) {
		return "an"
	}
	return "a"
}
