package seed

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/emporium-shop/emporium"
)

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
