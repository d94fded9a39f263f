package catalog

import (
	"context"
	"log/slog"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors/category"
	"github.com/emporium-shop/emporium/actors/product"
	"github.com/emporium-shop/emporium/search"
)

// The public read side.

// Product answers an active product with its variants' availability.
func (s *Service) Product(ctx context.Context, id string) (emporium.Product, error) {
	const op = "catalog.Product"
	var doc productDoc
	if _, err := s.cfg.Reads.Get(ctx, product.ViewCollection, id, &doc); err != nil {
		if emporium.IsCode(err, emporium.ENOTFOUND) {
			return emporium.Product{}, &emporium.Error{Code: emporium.ENOTFOUND, Op: op, Message: "product not found"}
		}
		return emporium.Product{}, emporium.Wrap(op, err)
	}
	prod, err := doc.product()
	if err != nil {
		return emporium.Product{}, emporium.Wrap(op, err)
	}
	if prod.Status != emporium.StatusActive {
		return emporium.Product{}, &emporium.Error{Code: emporium.ENOTFOUND, Op: op, Message: "product not found"}
	}
	s.withAvailability(ctx, &prod)
	return prod, nil
}

// withAvailability fills each variant's available units from the inventory
// read model, in one read. A SKU never stocked has none; when the read
// fails, the variants are left without the field (logged) rather than
// failing the page.
func (s *Service) withAvailability(ctx context.Context, p *emporium.Product) {
	skus := make([]string, len(p.Variants))
	for i, v := range p.Variants {
		skus[i] = v.SKU
	}
	stock, err := stockOf(ctx, s.cfg.Reads, skus)
	if err != nil {
		s.cfg.Logger.Warn("catalog: reading availability failed", slog.String("product", p.ID), slog.Any("error", err))
		return
	}
	for i := range p.Variants {
		n := stock[p.Variants[i].SKU].Available
		p.Variants[i].Available = &n
	}
}

// SearchProducts browses and searches the active products.
func (s *Service) SearchProducts(ctx context.Context, in emporium.ProductQuery) (emporium.ProductResults, error) {
	const op = "catalog.SearchProducts"
	q := search.Query{
		Text: in.Text, Brands: in.Brands, Vendor: in.Vendor, MinPrice: in.MinPrice, MaxPrice: in.MaxPrice,
		InStock: in.InStock, MinRating: in.MinRating, Sort: search.Sort(in.Sort), Limit: in.Limit, Cursor: in.Cursor, Facets: true,
	}
	tree, err := s.cfg.Categories.Tree(ctx)
	if err != nil {
		return emporium.ProductResults{}, emporium.Wrap(op, err)
	}
	if in.Category != "" {
		c, ok := tree.Find(in.Category)
		if !ok {
			// An unknown category matches nothing, as an unknown brand does;
			// a stale link should show an empty page, not an error.
			return emptyResults(), nil
		}
		q.Categories = tree.Descendants(c.ID)
	}
	res, err := s.cfg.Index.Search(ctx, q)
	if err != nil {
		return emporium.ProductResults{}, emporium.Wrap(op, err)
	}
	out := emporium.ProductResults{
		Items:      make([]emporium.ProductSummary, len(res.Hits)),
		NextCursor: res.NextCursor,
		Total:      res.Total,
		Facets:     facetsOf(res.Facets, tree),
	}
	for i, h := range res.Hits {
		out.Items[i] = summaryOf(h.Product)
	}
	return out, nil
}

func emptyResults() emporium.ProductResults {
	return emporium.ProductResults{Items: []emporium.ProductSummary{}, Facets: facetsOf(search.Facets{Price: search.PriceBuckets()}, nil)}
}

// facetsOf presents search facets; category counts are rolled up the tree,
// so that a parent counts the products of its sub-categories.
func facetsOf(f search.Facets, tree *category.Tree) emporium.ProductFacets {
	out := emporium.ProductFacets{
		Brand:    make([]emporium.FacetCount, len(f.Brand)),
		Category: []emporium.FacetCount{},
		Price:    make([]emporium.PriceFacet, len(f.Price)),
	}
	for i, b := range f.Brand {
		out.Brand[i] = emporium.FacetCount(b)
	}
	for i, b := range f.Price {
		out.Price[i] = emporium.PriceFacet(b)
	}
	if len(f.Category) > 0 && tree != nil {
		leaf := make(map[string]int, len(f.Category))
		for _, c := range f.Category {
			leaf[c.Value] = c.Count
		}
		values := make([]search.FacetValue, 0, len(leaf))
		for id, n := range tree.RollUp(leaf) {
			values = append(values, search.FacetValue{Value: id, Count: n})
		}
		search.SortFacetValues(values)
		for _, v := range values {
			out.Category = append(out.Category, emporium.FacetCount(v))
		}
	}
	return out
}

func summaryOf(p search.Product) emporium.ProductSummary {
	out := emporium.ProductSummary{
		ID: p.ID, VendorID: p.VendorID, Title: p.Title, Brand: p.Brand, CategoryID: p.CategoryID,
		Price:     emporium.Money{Amount: p.PriceMin, Currency: p.Currency},
		PriceMax:  emporium.Money{Amount: p.PriceMax, Currency: p.Currency},
		InStock:   p.InStock,
		Rating:    emporium.Rating{Average: p.Rating, Count: int64(p.RatingCount)},
		CreatedAt: p.CreatedAt.UTC(),
	}
	if p.ImageURL != "" {
		out.Image = &emporium.Image{URL: p.ImageURL, Alt: p.ImageAlt}
	}
	return out
}
