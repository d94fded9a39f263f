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

// generator makes products. Each product draws from its own stream, seeded
// from the demo's seed and the product's number, so product i does not
// depend on how many products come before or after it.
type generator struct {
	seed uint64
	tag  string // the seed in base 36, in SKUs and command ids
	pcg  rand.PCG
	r    *rand.Rand

	// rootOrder is the order of the roots in the current block: each block
	// of len(roots) products has one product of every root, so that every
	// root has products, in an order drawn from the block's own stream.
	rootOrder []int
	block     int
	blockPCG  rand.PCG
	blockRand *rand.Rand

	scratch [16]int
	b       strings.Builder
}

func newGenerator(seed uint64) *generator {
	g := &generator{seed: seed, tag: strings.ToUpper(strconv.FormatUint(seed, 36)), block: -1}
	g.r = rand.New(&g.pcg)
	g.blockRand = rand.New(&g.blockPCG)
	g.rootOrder = make([]int, len(tree.roots))
	return g
}

// mix is SplitMix64's finaliser: it spreads nearby numbers (product 1 and
// product 2) over unrelated stream seeds.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (g *generator) root(i int) *rootInfo {
	n := len(tree.roots)
	if block := i / n; block != g.block {
		g.block = block
		g.blockPCG.Seed(mix(g.seed^0xb10c), mix(uint64(block)))
		for j := range g.rootOrder {
			g.rootOrder[j] = j
		}
		g.blockRand.Shuffle(n, func(a, b int) { g.rootOrder[a], g.rootOrder[b] = g.rootOrder[b], g.rootOrder[a] })
	}
	return tree.roots[g.rootOrder[i%n]]
}

// vars are what a sentence template may name.
type vars struct {
	brand, noun, feature, adj, title, author, genre, theme string
	// plural is set when the noun is ("Sneakers"): it takes "these" and
	// "are", and no article.
	plural bool
}

// expand writes tmpl with each {name} replaced by its value; {a:name} and
// {A:name} put "a" or "an" (or "A", "An") before it unless the noun is
// plural; {this}, {This} and {is} agree with the noun.
func expand(b *strings.Builder, tmpl string, v *vars) {
	for {
		open := strings.IndexByte(tmpl, '{')
		if open < 0 {
			b.WriteString(tmpl)
			return
		}
		end := strings.IndexByte(tmpl[open:], '}') + open
		b.WriteString(tmpl[:open])
		name := tmpl[open+1 : end]
		art, name, hasArt := strings.Cut(name, ":")
		if !hasArt {
			name = art
		}
		var val string
		switch name {
		case "brand":
			val = v.brand
		case "noun":
			val = v.noun
		case "feature":
			val = v.feature
		case "adj":
			val = v.adj
		case "title":
			val = v.title
		case "author":
			val = v.author
		case "genre":
			val = v.genre
		case "theme":
			val = v.theme
		case "this", "This":
			val = "this"
			if v.plural {
				val = "these"
			}
			if name == "This" {
				val = strings.ToUpper(val[:1]) + val[1:]
			}
		case "is":
			val = "is"
			if v.plural {
				val = "are"
			}
		default:
			panic("seed: unknown placeholder in " + tmpl)
		}
		if hasArt && !v.plural {
			a := article(val)
			if art == "A" {
				a = strings.ToUpper(a[:1]) + a[1:]
			}
			b.WriteString(a)
			b.WriteByte(' ')
		}
		b.WriteString(val)
		tmpl = tmpl[end+1:]
	}
}

func (g *generator) product(i int) Product {
	r := g.r
	g.pcg.Seed(mix(g.seed), mix(uint64(i)^0x9bd0c7))
	root := g.root(i)
	leaf := root.leaves[r.IntN(len(root.leaves))]
	n := i + 1
	number := strconv.Itoa(n)
	if len(number) < 6 {
		number = "000000"[len(number):] + number
	}
	base := root.code + "-" + g.tag + "-" + number
	p := Product{
		CommandID: "demo-" + g.tag + "-" + number,
		Vendor:    g.vendor(n),
		Category:  leaf.key,
	}
	in := &p.Input
	in.Status = emporium.StatusActive
	in.Currency = "USD"
	in.Brand = pick(r, root.brands)
	in.Attributes = make(map[string]string, 5)
	if root.books {
		g.book(root, leaf, in)
	} else {
		g.goods(root, leaf, in)
	}
	g.images(base, in)
	g.variants(leaf, base, in)
	p.Stock = make([]Stock, len(in.Variants))
	for j, v := range in.Variants {
		var onHand int64
		if r.IntN(10) != 0 {
			onHand = 1 + r.Int64N(200)
		}
		p.Stock[j] = Stock{SKU: v.SKU, OnHand: onHand}
	}
	return p
}

// vendor picks the vendor of product n (from 1) among the vendors a demo of
// n products has, so that the choice does not depend on the count. Vendors
// that join later have fewer products, as new stores do; each has at least
// the product that made it join.
func (g *generator) vendor(n int) int {
	vendors := VendorCount(n)
	if vendors > MinVendors && n == vendors*ProductsPerVendor {
		return vendors - 1
	}
	return g.r.IntN(vendors)
}

// goods makes the title, description and attributes of anything but a book:
// "[Brand] [Adjective] [Feature] Noun [Model]".
func (g *generator) goods(root *rootInfo, leaf *leafInfo, in *emporium.ProductInput) {
	r, b := g.r, &g.b
	ni, fi := r.IntN(len(leaf.nouns)), r.IntN(len(leaf.features))
	noun, feature := leaf.nouns[ni], leaf.features[fi]
	adj := pick(r, root.adjectives)
	b.Reset()
	if r.IntN(10) < 3 {
		b.WriteString(in.Brand)
		b.WriteByte(' ')
	}
	if r.IntN(10) < 7 && adj != feature && !strings.Contains(noun, adj) {
		b.WriteString(adj)
		b.WriteByte(' ')
	}
	if r.IntN(20) < 17 && !strings.Contains(noun, feature) {
		b.WriteString(feature)
		b.WriteByte(' ')
	}
	b.WriteString(noun)
	if r.IntN(4) != 0 {
		b.WriteByte(' ')
		switch r.IntN(5) {
		case 0, 1:
			b.WriteString(in.Brand[:1])
			b.WriteString(strconv.Itoa(100 + 10*r.IntN(90)))
		case 2, 3:
			b.WriteString(pick(r, models))
		default:
			b.WriteString("Series ")
			b.WriteString(strconv.Itoa(2 + r.IntN(8)))
		}
	}
	in.Title = b.String()

	v := vars{brand: in.Brand, noun: leaf.lowerNouns[ni], feature: leaf.lowerFeat[fi], adj: lowerWords(adj),
		plural: strings.HasSuffix(noun, "s") && !strings.HasSuffix(noun, "ss")}
	g.description(pick(r, intros), root.body, pick(r, closers), &v)
	in.Description = g.b.String()
	g.attributes(leaf.attrs, in.Attributes)
}

// book makes the title, description and attributes of a book; its brand is
// the publisher.
func (g *generator) book(root *rootInfo, leaf *leafInfo, in *emporium.ProductInput) {
	r, b := g.r, &g.b
	adj := pick(r, root.adjectives)
	word := pick(r, bookTitleWords)
	b.Reset()
	switch r.IntN(4) {
	case 0:
		b.WriteString("The " + adj + " " + word)
	case 1:
		b.WriteString("A " + adj + " " + word)
	case 2:
		b.WriteString(word + " of the " + adj + " " + pick(r, bookTitleWords))
	default:
		b.WriteString("The " + word)
	}
	title := b.String()
	if r.IntN(2) == 0 {
		b.WriteString(": ")
		b.WriteString(pick(r, leaf.features))
	}
	in.Title = b.String()
	author := pick(r, firstNames) + " " + pick(r, lastNames)
	in.Attributes["Author"] = author

	v := vars{brand: in.Brand, title: title, author: author, adj: pick(r, bookAdjectives),
		genre: pick(r, leaf.nouns), theme: pick(r, bookThemes)}
	g.description(pick(r, bookIntros), root.body, pick(r, bookClosers), &v)
	in.Description = g.b.String()
	g.attributes(leaf.attrs, in.Attributes)
}

// description writes 2-4 sentences to g.b: the intro, up to two distinct
// sentences of the root's, and the closer.
func (g *generator) description(intro string, body []string, closer string, v *vars) {
	r, b := g.r, &g.b
	b.Reset()
	b.Grow(320)
	expand(b, intro, v)
	extra := r.IntN(3)
	first := r.IntN(len(body))
	for k := range extra {
		j := first
		if k == 1 {
			j = (first + 1 + r.IntN(len(body)-1)) % len(body)
		}
		b.WriteByte(' ')
		expand(b, body[j], v)
	}
	b.WriteByte(' ')
	expand(b, closer, v)
}

// attributes adds attributes drawn from kinds to attrs until it holds 2-5
// (a book's author is already there).
func (g *generator) attributes(kinds []*attrKind, attrs map[string]string) {
	r := g.r
	n := min(5, len(attrs)+len(kinds))
	k := max(2+r.IntN(n-1)-len(attrs), 0)
	for _, j := range g.sample(len(kinds), k, false) {
		attrs[kinds[j].key] = kinds[j].value(r)
	}
}

// sample picks k distinct indices below n, in increasing order; contiguous
// when run is set.
func (g *generator) sample(n, k int, run bool) []int {
	r, s := g.r, g.scratch[:n]
	if run {
		start := r.IntN(n - k + 1)
		for j := range k {
			s[j] = start + j
		}
		return s[:k]
	}
	for j := range s {
		s[j] = j
	}
	for j := range k {
		m := j + r.IntN(n-j)
		s[j], s[m] = s[m], s[j]
	}
	slices.Sort(s[:k])
	return s[:k]
}

func (g *generator) images(base string, in *emporium.ProductInput) {
	r := g.r
	n := 1 + r.IntN(3)
	start := r.IntN(len(views))
	in.Images = make([]emporium.Image, n)
	for j := range in.Images {
		alt := in.Title
		if j > 0 {
			alt += ", " + views[(start+j)%len(views)]
		}
		in.Images[j] = emporium.Image{
			URL: "https://picsum.photos/seed/" + base + "-" + strconv.Itoa(j+1) + "/800/800",
			Alt: alt,
		}
	}
}

// chosenOption is an option of one product: its kind and the indices of the
// values it offers.
type chosenOption struct {
	kind *optionKind
	idx  []int
}

// variants picks 0-2 options and makes one variant per combination of their
// values (1-12 in all), priced from a base drawn in the leaf's range.
func (g *generator) variants(leaf *leafInfo, base string, in *emporium.ProductInput) {
	r := g.r
	var opts []chosenOption
	if len(leaf.options) > 0 {
		switch x := r.IntN(10); {
		case x < 2:
		case x < 7 || len(leaf.options) == 1:
			opts = []chosenOption{{kind: leaf.options[r.IntN(len(leaf.options))]}}
		default:
			opts = []chosenOption{{kind: leaf.options[0]}, {kind: leaf.options[1]}}
		}
	}
	maxValues := []int{6}
	if len(opts) == 2 {
		maxValues = []int{4, 3}
	}
	combos := 1
	in.Options = make([]emporium.Option, len(opts))
	for j := range opts {
		k := opts[j].kind
		hi := min(maxValues[j], len(k.values))
		idx := slices.Clone(g.sample(len(k.values), 2+r.IntN(hi-1), k.ordered))
		opts[j].idx = idx
		values := make([]string, len(idx))
		for v, x := range idx {
			values[v] = k.values[x]
		}
		in.Options[j] = emporium.Option{Name: k.name, Values: values}
		combos *= len(idx)
	}

	price := math.Exp(leaf.logMin + r.Float64()*(leaf.logMax-leaf.logMin))
	discount := 0.0
	if r.IntN(5) == 0 {
		discount = 0.15 + 0.35*r.Float64()
	}
	in.Variants = make([]emporium.VariantInput, 0, combos)
	pos := make([]int, len(opts)) // the odometer over the chosen values
	for {
		v := emporium.VariantInput{SKU: base}
		amount := price
		if len(opts) > 0 {
			v.Options = make(map[string]string, len(opts))
		}
		for j, o := range opts {
			x := o.idx[pos[j]]
			v.Options[o.kind.name] = o.kind.values[x]
			v.SKU += "-" + o.kind.codes[x]
			amount *= 1 + o.kind.step*float64(pos[j])
		}
		v.Price = round99(amount)
		if discount > 0 {
			at := max(round99(float64(v.Price)*(1+discount)), v.Price+100)
			v.CompareAtPrice = &at
		}
		in.Variants = append(in.Variants, v)
		j := len(pos) - 1
		for ; j >= 0; j-- {
			if pos[j]++; pos[j] < len(opts[j].idx) {
				break
			}
			pos[j] = 0
		}
		if j < 0 {
			return
		}
	}
}

// round99 makes a price end in .99, at or above cents.
func round99(cents float64) int64 { return int64(cents)/100*100 + 99 }
