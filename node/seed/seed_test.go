package seed

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors/product"
	"github.com/emporium-shop/emporium/actors/user"
)

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := Generate(7, 3000), Generate(7, 3000)
	require.Equal(t, a, b, "the same seed and count make the same demo")
	assert.NotEqual(t, a.Products, Generate(8, 3000).Products, "another seed makes other products")

	// Product i does not depend on the count: a larger run extends a
	// smaller one, with the same command ids and SKUs.
	small := Generate(7, 1000)
	assert.Equal(t, small.Products, a.Products[:1000])
	assert.Equal(t, small.Categories, a.Categories)
	assert.Equal(t, small.Vendors, a.Vendors[:len(small.Vendors)])
	// Vendors and categories are the same for every seed.
	other := Generate(99, 3000)
	assert.Equal(t, a.Vendors, other.Vendors)
	assert.Equal(t, a.Categories, other.Categories)
}

func TestGenerateTree(t *testing.T) {
	d := Generate(1, 0)
	assert.Empty(t, d.Products)
	keyPattern := regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	depth := map[string]int{}
	children := map[string]int{}
	names := map[string]bool{}
	roots := 0
	for _, c := range d.Categories {
		require.NotContains(t, depth, c.Key, "keys are unique")
		assert.Regexp(t, keyPattern, c.Key)
		assert.LessOrEqual(t, len(c.Key), product.MaxCategoryID)
		assert.False(t, names[c.Name], "name %q is unique", c.Name)
		names[c.Name] = true
		if c.ParentKey == "" {
			depth[c.Key] = 1
			roots++
			continue
		}
		pd, ok := depth[c.ParentKey]
		require.True(t, ok, "%s comes after its parent %s", c.Key, c.ParentKey)
		depth[c.Key] = pd + 1
		children[c.ParentKey]++
	}
	leaves := 0
	for key, dep := range depth {
		assert.LessOrEqual(t, dep, 3, key)
		if children[key] == 0 {
			leaves++
			assert.GreaterOrEqual(t, dep, 2, "leaf %s is 2-3 levels deep", key)
		}
	}
	assert.Equal(t, 8, roots)
	assert.GreaterOrEqual(t, leaves, 55)
	assert.LessOrEqual(t, leaves, 75)
	assert.Equal(t, Category{Key: "headphones", ParentKey: "audio", Name: "Headphones"}, find(d.Categories, "headphones"))
	assert.Equal(t, "cookware", find(d.Categories, "skillets").ParentKey)
	assert.Equal(t, "home-kitchen", find(d.Categories, "cookware").ParentKey)
}

func find(cats []Category, key string) Category {
	for _, c := range cats {
		if c.Key == key {
			return c
		}
	}
	return Category{}
}

func TestGenerateVendors(t *testing.T) {
	for _, tc := range []struct{ products, vendors int }{
		{0, 3}, {10, 3}, {1499, 3}, {2000, 4}, {10_000, 20}, {25_000, 50}, {100_000, 50},
	} {
		assert.Equal(t, tc.vendors, VendorCount(tc.products), "%d products", tc.products)
		if tc.products <= 2000 {
			assert.Len(t, Generate(1, tc.products).Vendors, tc.vendors, "%d products", tc.products)
		}
	}
	vendors := allVendors
	require.Len(t, vendors, MaxVendors)
	usernames, stores := map[string]bool{}, map[string]bool{}
	for _, v := range vendors {
		assert.NoError(t, user.CheckUsername(v.Username))
		assert.NoError(t, user.CheckEmail("email", v.Email))
		assert.True(t, strings.HasSuffix(v.Email, "@example.com"), v.Email)
		assert.False(t, usernames[v.Username], "username %s is unique", v.Username)
		assert.False(t, stores[v.Store.StoreName], "store %s is unique", v.Store.StoreName)
		usernames[v.Username], stores[v.Store.StoreName] = true, true
		assert.NotEmpty(t, v.Store.Description)
		assert.Contains(t, v.Store.Description, v.Store.StoreName)
	}
}

// TestGenerateValidProducts checks every generated product against the
// product rules of actors/product (validate.go).
func TestGenerateValidProducts(t *testing.T) {
	d := Generate(42, 2500)
	require.Len(t, d.Products, 2500)
	leaves := leafKeys(d.Categories)
	skus := map[string]string{}
	commands := map[string]bool{}
	var variants, zero, onSale int
	for _, p := range d.Products {
		name := p.CommandID
		in := p.Input
		require.NotEmpty(t, p.CommandID)
		assert.LessOrEqual(t, len(p.CommandID), 128)
		assert.False(t, commands[p.CommandID], "command id %s is unique", p.CommandID)
		commands[p.CommandID] = true
		assert.True(t, leaves[p.Category], "%s: category %s is a leaf", name, p.Category)
		assert.True(t, p.Vendor >= 0 && p.Vendor < len(d.Vendors), name)
		assert.Empty(t, in.CategoryID, "Load sets the category id")
		assert.Equal(t, emporium.StatusActive, in.Status)
		assert.Equal(t, "USD", in.Currency)
		assert.Contains(t, product.Currencies, in.Currency)
		checkLine(t, name+" title", in.Title, product.MaxTitle, true)
		checkLine(t, name+" brand", in.Brand, product.MaxBrand, true)
		assert.LessOrEqual(t, utf8.RuneCountInString(in.Description), product.MaxDescription)
		assert.GreaterOrEqual(t, strings.Count(in.Description, ". ")+strings.Count(in.Description, "? ")+1, 2,
			"%s: the description has sentences: %s", name, in.Description)
		assert.NotContains(t, in.Description, "{", name)
		assert.True(t, strings.HasSuffix(in.Description, "."), name)

		assert.True(t, len(in.Images) >= 1 && len(in.Images) <= 3, name)
		for _, img := range in.Images {
			u, err := url.Parse(img.URL)
			require.NoError(t, err)
			assert.Equal(t, "https", u.Scheme, img.URL)
			assert.NotEmpty(t, u.Host, img.URL)
			assert.LessOrEqual(t, len(img.URL), product.MaxImageURL)
			checkLine(t, name+" alt", img.Alt, product.MaxImageAlt, true)
		}
		assert.True(t, len(in.Attributes) >= 2 && len(in.Attributes) <= 5, "%s: %d attributes", name, len(in.Attributes))
		for k, v := range in.Attributes {
			checkLine(t, name+" attribute key", k, product.MaxAttributeKey, true)
			checkLine(t, name+" attribute "+k, v, product.MaxAttributeValue, true)
		}

		// The combination rule: unique option names and values, one
		// variant per combination of values, unique SKUs.
		assert.LessOrEqual(t, len(in.Options), 2, name)
		combos := 1
		optNames := map[string]bool{}
		for _, o := range in.Options {
			checkLine(t, name+" option", o.Name, product.MaxOptionName, true)
			assert.False(t, optNames[o.Name], "%s: option %s is unique", name, o.Name)
			optNames[o.Name] = true
			assert.True(t, len(o.Values) >= 2 && len(o.Values) <= product.MaxOptionValues, name)
			seen := map[string]bool{}
			for _, v := range o.Values {
				checkLine(t, name+" option value", v, product.MaxOptionValue, true)
				assert.False(t, seen[v], "%s: value %s of %s is unique", name, v, o.Name)
				seen[v] = true
			}
			combos *= len(o.Values)
		}
		require.Len(t, in.Variants, combos, "%s: one variant per combination", name)
		assert.True(t, combos >= 1 && combos <= 12, "%s: %d variants", name, combos)
		seenCombos := map[string]bool{}
		for _, v := range in.Variants {
			assert.True(t, product.CheckSKU(v.SKU), "%s: SKU %q", name, v.SKU)
			if other, dup := skus[v.SKU]; dup {
				t.Errorf("SKU %s of %s is also one of %s", v.SKU, name, other)
			}
			skus[v.SKU] = name
			assert.Len(t, v.Options, len(in.Options), name)
			key := make([]string, len(in.Options))
			for i, o := range in.Options {
				val, ok := v.Options[o.Name]
				assert.True(t, ok, "%s: variant %s names option %s", name, v.SKU, o.Name)
				assert.Contains(t, o.Values, val, name)
				key[i] = val
			}
			ck := strings.Join(key, "\x00")
			assert.False(t, seenCombos[ck], "%s: combination %q is given once", name, key)
			seenCombos[ck] = true
			assert.True(t, v.Price > 0 && v.Price <= product.MaxPrice, "%s: price %d", name, v.Price)
			assert.Equal(t, int64(99), v.Price%100, "%s: prices end in .99", name)
			if v.CompareAtPrice != nil {
				assert.Greater(t, *v.CompareAtPrice, v.Price, name)
				assert.LessOrEqual(t, *v.CompareAtPrice, int64(product.MaxPrice), name)
				onSale++
			}
			variants++
		}

		require.Len(t, p.Stock, len(in.Variants), name)
		for i, s := range p.Stock {
			assert.Equal(t, in.Variants[i].SKU, s.SKU, name)
			assert.True(t, s.OnHand >= 0 && s.OnHand <= 200, "%s: %d on hand", name, s.OnHand)
			if s.OnHand == 0 {
				zero++
			}
		}
	}
	assert.InDelta(t, 0.10, float64(zero)/float64(variants), 0.04, "about 10%% of SKUs are out of stock")
	assert.InDelta(t, 0.20, float64(onSale)/float64(variants), 0.07, "about 20%% of SKUs are on sale")
}

// checkLine applies the one-line text rule: valid UTF-8, no surrounding
// spaces or control characters, at most maxLen characters.
func checkLine(t *testing.T, what, v string, maxLen int, required bool) {
	t.Helper()
	assert.True(t, utf8.ValidString(v), what)
	assert.Equal(t, strings.TrimSpace(v), v, "%s %q has surrounding spaces", what, v)
	assert.LessOrEqual(t, utf8.RuneCountInString(v), maxLen, "%s %q", what, v)
	assert.False(t, strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }), what)
	if required {
		assert.NotEmpty(t, v, what)
	}
}

func leafKeys(cats []Category) map[string]bool {
	leaves := map[string]bool{}
	for _, c := range cats {
		leaves[c.Key] = true
	}
	for _, c := range cats {
		delete(leaves, c.ParentKey)
	}
	return leaves
}

func TestGenerateSpread(t *testing.T) {
	const n = 4000
	d := Generate(5, n)
	rootOf := map[string]string{}
	for _, c := range d.Categories {
		rootOf[c.Key] = c.Key
		if c.ParentKey != "" {
			rootOf[c.Key] = rootOf[c.ParentKey]
		}
	}
	perRoot := map[string]int{}
	brands := map[string]map[string]bool{}
	leaves := map[string]bool{}
	vendors := map[int]int{}
	titles := map[string]bool{}
	options := map[int]int{}
	prices := map[string][]int64{}
	for _, p := range d.Products {
		r := rootOf[p.Category]
		perRoot[r]++
		if brands[r] == nil {
			brands[r] = map[string]bool{}
		}
		brands[r][p.Input.Brand] = true
		leaves[p.Category] = true
		vendors[p.Vendor]++
		titles[p.Input.Title] = true
		options[len(p.Input.Options)]++
		prices[r] = append(prices[r], p.Input.Variants[0].Price)
	}
	require.Len(t, perRoot, 8, "every root has products")
	for r, count := range perRoot {
		assert.GreaterOrEqual(t, count, n/8, "root %s has its share", r)
		assert.GreaterOrEqual(t, len(brands[r]), 5, "root %s has several brands", r)
	}
	assert.GreaterOrEqual(t, len(leaves), len(leafKeys(d.Categories))*9/10, "almost every leaf has products")
	assert.Len(t, vendors, len(d.Vendors), "every vendor has products")
	assert.GreaterOrEqual(t, len(titles), n*8/10, "titles are varied")
	for k := range 3 {
		assert.Greater(t, options[k], n/20, "products with %d options", k)
	}
	// Prices follow the category: laptops cost more than books.
	median := func(r string) int64 {
		ps := slices.Clone(prices[r])
		slices.Sort(ps)
		return ps[len(ps)/2]
	}
	assert.Greater(t, median("electronics"), 5*median("books"))
}

func TestGenerateSmall(t *testing.T) {
	for _, n := range []int{-1, 0, 1, 8, 9} {
		d := Generate(3, n)
		assert.Len(t, d.Products, max(n, 0))
		assert.Len(t, d.Vendors, MinVendors)
	}
	// Each block of 8 products has one of every root.
	d := Generate(3, 8)
	codes := map[string]bool{}
	for _, p := range d.Products {
		codes[strings.SplitN(p.Input.Variants[0].SKU, "-", 2)[0]] = true
	}
	assert.Len(t, codes, 8)
}

func TestLowerWords(t *testing.T) {
	for in, want := range map[string]string{
		"Over-Ear Headphones": "over-ear headphones",
		"T-Shirt":             "T-shirt",
		"USB-C":               "USB-C",
		"4K":                  "4K",
		"MagSafe-Compatible":  "MagSafe-compatible",
		"Wi-Fi":               "wi-fi",
	} {
		assert.Equal(t, want, lowerWords(in), in)
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Home & Kitchen":  "home-kitchen",
		"Men's T-Shirts":  "mens-t-shirts",
		"Maple & Main Co": "maple-main-co",
		"  Odd  spacing ": "odd-spacing",
	} {
		assert.Equal(t, want, slug(in), in)
	}
}

func ExampleGenerate() {
	d := Generate(1, 2)
	p := d.Products[0]
	fmt.Println(len(d.Categories) > 60, len(d.Vendors), p.CommandID, p.Category, p.Input.Variants[0].SKU)
	// Output: true 3 demo-1-000001 bike-helmets SPO-1-000001
}

// TestGenerateRangeIsASliceOfGenerate: loading a demo range by range loads
// the same products as loading it whole.
func TestGenerateRangeIsASliceOfGenerate(t *testing.T) {
	whole := Generate(7, 2500)
	var parts []Product
	for from := 0; from < 2500; from += 1000 {
		d := GenerateRange(7, 2500, from, from+1000)
		assert.Equal(t, whole.Vendors, d.Vendors)
		assert.Equal(t, whole.Categories, d.Categories)
		parts = append(parts, d.Products...)
	}
	assert.Equal(t, whole.Products, parts)
	assert.Empty(t, GenerateRange(7, 2500, 2400, 100).Products, "an empty range")
	assert.Len(t, GenerateRange(7, 2500, 2400, 9000).Products, 100, "clamped to the demo")
}
