package searchtest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/emporium-shop/emporium/search"
)

// The catalogue the suite indexes, and the reference: what each query must
// answer over it, worked out in plain Go, so that no backend is checked
// against itself.

// reference returns, for a query without text, the ids the catalogue should
// answer, in the query's order (newest by default).
func reference(q search.Query) []string {
	var ps []search.Product
	for _, p := range Catalogue() {
		if matches(q, p) {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(a, b search.Product) int {
		if c := compare(q.Sort, a, b); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func compare(s search.Sort, a, b search.Product) int {
	cmp := func(x, y float64) int {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	switch s {
	case search.SortPriceAsc:
		return cmp(float64(a.PriceMin), float64(b.PriceMin))
	case search.SortPriceDesc:
		return -cmp(float64(a.PriceMin), float64(b.PriceMin))
	case search.SortRating:
		if c := -cmp(a.Rating, b.Rating); c != 0 {
			return c
		}
		return -cmp(float64(a.RatingCount), float64(b.RatingCount))
	default:
		return -cmp(float64(a.CreatedAt.UnixMilli()), float64(b.CreatedAt.UnixMilli()))
	}
}

func matches(q search.Query, p search.Product) bool {
	statuses := q.Statuses
	if len(statuses) == 0 {
		statuses = []string{search.StatusActive}
	}
	switch {
	case !slices.Contains(statuses, p.Status),
		len(q.Categories) > 0 && !slices.Contains(q.Categories, p.CategoryID),
		len(q.Brands) > 0 && !slices.Contains(q.Brands, p.Brand),
		q.Vendor != "" && p.VendorID != q.Vendor,
		q.MinPrice != nil && p.PriceMin < *q.MinPrice,
		q.MaxPrice != nil && p.PriceMin > *q.MaxPrice,
		q.InStock != nil && p.InStock != *q.InStock,
		q.MinRating != nil && p.Rating < *q.MinRating:
		return false
	}
	return true
}

func referenceFacets(q search.Query) search.Facets {
	brands, cats := map[string]int{}, map[string]int{}
	f := search.Facets{Price: search.PriceBuckets()}
	for _, p := range Catalogue() {
		if !matches(q, p) {
			continue
		}
		brands[p.Brand]++
		cats[p.CategoryID]++
		for i := range f.Price {
			b := &f.Price[i]
			if p.PriceMin >= b.Min && (b.Max == nil || p.PriceMin < *b.Max) {
				b.Count++
			}
		}
	}
	toValues := func(m map[string]int) []search.FacetValue {
		out := []search.FacetValue{}
		for v, c := range m {
			out = append(out, search.FacetValue{Value: v, Count: c})
		}
		search.SortFacetValues(out)
		return out
	}
	f.Brand, f.Category = toValues(brands), toValues(cats)
	return f
}

func byID() map[string]search.Product {
	m := map[string]search.Product{}
	for _, p := range Catalogue() {
		m[p.ID] = p
	}
	return m
}

// categories maps each leaf category to its path from the root. Products
// belong to leaves; a query on an inner category names its leaves, as the
// caller expands it.
var categories = map[string][]string{
	"headphones":  {"electronics", "audio", "headphones"},
	"speakers":    {"electronics", "audio", "speakers"},
	"laptops":     {"electronics", "computers", "laptops"},
	"accessories": {"electronics", "computers", "accessories"},
	"cookware":    {"home", "kitchen", "cookware"},
	"appliances":  {"home", "kitchen", "appliances"},
	"lighting":    {"home", "furniture", "lighting"},
	"outdoor":     {"home", "garden", "outdoor"},
}

// expand returns the category and its sub-categories, sorted, as the caller
// of search.Index does before it queries.
func expand(category string) []string {
	out := []string{category}
	for leaf, path := range categories {
		if leaf != category && slices.Contains(path, category) {
			out = append(out, leaf)
		}
	}
	slices.Sort(out)
	return out
}

// allStatuses names every status, for the queries of a back office.
func allStatuses() []string {
	return []string{search.StatusDraft, search.StatusActive, search.StatusArchived}
}

// Catalogue returns the fixed test catalogue: four hand-written products for
// the text tests, 55 generated ones, and three products that are not active
// (a draft and two archived ones) which only queries naming their status
// find; the generated ones are spread over brands, categories,
// prices, stock, ratings and creation times, with deliberate ties so that the
// id tie-breaker is exercised.
func Catalogue() []search.Product {
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	mk := func(id, title, desc, brand, leaf, vendor string, price int64, inStock bool, rating float64, count int, created time.Time) search.Product {
		return search.Product{
			ID: id, VendorID: vendor, Title: title, Description: desc, Brand: brand,
			CategoryID: leaf, Status: search.StatusActive, PriceMin: price, PriceMax: price + price/2,
			Currency: "EUR", InStock: inStock, Rating: rating, RatingCount: count, CreatedAt: created, Version: 1,
		}
	}
	out := []search.Product{
		withImage(mk("p01", "Wireless Headphones", "Over-ear with noise cancelling and a thirty hour battery.", "Sonix", "headphones", "v1", 12999, true, 4.6, 210, base.Add(90*time.Hour+123*time.Millisecond))),
		mk("p02", "Studio Headphones", "Closed-back for mixing and tracking.", "Acme", "headphones", "v2", 8999, false, 4.1, 35, base.Add(2*time.Hour)),
		mk("p03", "Braided Audio Cable", "Connects your headphones to an amplifier or a mixing desk; gold plated plugs, two metres long, tangle free.", "Northwind", "accessories", "v3", 999, true, 3.9, 12, base.Add(3*time.Hour)),
		mk("p04", "Desk Lamp", "Warm light with a dimmer.", "Orbit", "lighting", "v1", 2999, true, 4.0, 40, base.Add(4*time.Hour)),
		mk("p05", "Camp Stove", "Folding gas burner for trips.", "Orbit", "outdoor", "v2", 4999, true, 3.5, 8, base.Add(5*time.Hour)),
	}
	adjectives := []string{"Classic", "Compact", "Premium", "Smart", "Portable", "Rugged", "Slim"}
	nouns := map[string][]string{
		"headphones":  {"Earbuds", "Earphones"},
		"speakers":    {"Speaker", "Soundbar"},
		"laptops":     {"Notebook", "Ultrabook"},
		"accessories": {"Mouse", "Keyboard"},
		"cookware":    {"Skillet", "Saucepan"},
		"appliances":  {"Blender", "Toaster"},
		"lighting":    {"Floor Light", "Pendant"},
		"outdoor":     {"Hammock", "Parasol"},
	}
	leaves := []string{"headphones", "speakers", "laptops", "accessories", "cookware", "appliances", "lighting", "outdoor"}
	brands := []string{"Sonix", "Acme", "Northwind", "Zenith", "Orbit"}
	prices := []int64{499, 999, 1000, 1999, 2499, 2500, 4999, 5000, 7500, 9999, 10000, 18000, 24999, 25000, 49900, 2500}
	for i := 0; i < 55; i++ {
		leaf := leaves[i%len(leaves)]
		title := adjectives[i%len(adjectives)] + " " + nouns[leaf][(i/len(leaves))%2]
		desc := fmt.Sprintf("A %s for everyday use, model %d.", strings.ToLower(title), 100+i)
		// Every fifth product shares its creation time with the previous one.
		created := base.Add(time.Duration(i/5*5+i%5*(1-btoi(i%5 == 4))) * 7 * time.Hour)
		out = append(out, mk(
			fmt.Sprintf("g%02d", i), title, desc, brands[(i*3)%len(brands)], leaf, fmt.Sprintf("v%d", 1+i%3),
			prices[i%len(prices)], i%4 != 0, float64((i*7)%50)/10, (i*13)%40, created,
		))
	}
	draft := mk("d01", "Prototype Wireless Headphones", "Not yet for sale.", "Sonix", "headphones", "v1", 15999, true, 0, 0, base.Add(100*time.Hour))
	draft.Status = search.StatusDraft
	studio := mk("a01", "Vintage Studio Headphones", "No longer made.", "Acme", "headphones", "v2", 5999, false, 4.8, 90, base.Add(-10*time.Hour))
	studio.Status = search.StatusArchived
	lamp := mk("a02", "Retired Desk Lamp", "Replaced by a newer model.", "Orbit", "lighting", "v1", 1999, true, 3.0, 4, base.Add(-20*time.Hour))
	lamp.Status = search.StatusArchived
	return append(out, draft, studio, lamp)
}

// withImage gives p a listing image, which the index stores and returns but
// does not search.
func withImage(p search.Product) search.Product {
	p.ImageURL = "https://cdn.example.com/" + p.ID + "/front.jpg"
	p.ImageAlt = "Front view with the headband folded"
	return p
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
