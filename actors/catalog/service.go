// Package catalog is the catalogue service: it implements emporium.Catalog
// over the CategoryGrain, UserGrain (vendor stores), ProductGrain and
// InventoryGrain, their read models and the search index. Commands go to
// grains; the public read side is served by read models and search (DESIGN
// §4). It also feeds the search indexer (searchsource.go).
package catalog

import (
	"context"
	"log/slog"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/google/uuid"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/category"
	"github.com/emporium-shop/emporium/actors/product"
	"github.com/emporium-shop/emporium/actors/user"
	categorypb "github.com/emporium-shop/emporium/protos/categorypb"
	inventorypb "github.com/emporium-shop/emporium/protos/inventorypb"
	productpb "github.com/emporium-shop/emporium/protos/productpb"
	userpb "github.com/emporium-shop/emporium/protos/userpb"
	"github.com/emporium-shop/emporium/search"
)

// ReadModels reads the documents grains project (persistence.Projections).
type ReadModels interface {
	// Get decodes the document id of collection into into; ENOTFOUND when
	// there is none.
	Get(ctx context.Context, collection, id string, into any) (seq uint64, err error)
	// GetMany decodes the documents of ids that exist into into (a pointer
	// to a slice), in the order of ids.
	GetMany(ctx context.Context, collection string, ids []string, into any) error
	// List decodes into into (a pointer to a slice) up to limit documents
	// of collection whose field equals value, in descending _id order,
	// starting below beforeID when it is set.
	List(ctx context.Context, collection, field string, value any, beforeID string, limit int, into any) error
}

// Config is what the service needs.
type Config struct {
	Cluster *cluster.Cluster
	Reads   ReadModels
	Index   search.Index
	// Categories reads the category tree (cached briefly).
	Categories *category.Reader
	// Claims keeps the idempotency keys of product creation.
	Claims actors.Claims
	Logger *slog.Logger
	// NewID returns a new id for products, categories and commands; the
	// default is a UUIDv7, so that product ids sort by creation time (the
	// vendor's product list relies on it).
	NewID func() string
}

// Service implements emporium.Catalog.
type Service struct {
	cfg Config
}

var _ emporium.Catalog = (*Service)(nil)

// idempotencyCollection holds one claim per (vendor, Idempotency-Key) of a
// product creation, naming the product it created.
const idempotencyCollection = "product_keys"

// NewService checks cfg and returns the service. It panics without a
// Cluster, Reads, Index, Categories or Claims: a wiring mistake.
func NewService(cfg Config) (*Service, error) {
	if cfg.Cluster == nil || cfg.Reads == nil || cfg.Index == nil || cfg.Categories == nil || cfg.Claims == nil {
		panic("catalog.NewService: Cluster, Reads, Index, Categories and Claims are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NewID == nil {
		cfg.NewID = func() string { return uuid.Must(uuid.NewV7()).String() }
	}
	return &Service{cfg: cfg}, nil
}

// Categories.

// Categories answers the category tree.
func (s *Service) Categories(ctx context.Context) ([]emporium.Category, error) {
	tree, err := s.cfg.Categories.Tree(ctx)
	if err != nil {
		return nil, emporium.Wrap("catalog.Categories", err)
	}
	return tree.Roots(), nil
}

// CreateCategory adds a category (admins only).
func (s *Service) CreateCategory(ctx context.Context, p emporium.Principal, in emporium.CategoryInput) (emporium.Category, error) {
	const op = "catalog.CreateCategory"
	if err := requireAdmin(p); err != nil {
		return emporium.Category{}, emporium.Wrap(op, err)
	}
	ch, err := category.Client(s.cfg.Cluster).Create(&categorypb.CreateRequest{
		CommandId: s.cfg.NewID(), Id: s.cfg.NewID(), Name: in.Name, Slug: in.Slug, ParentId: in.ParentID,
	})
	if err != nil {
		return emporium.Category{}, emporium.GrainCall(op, err)
	}
	return s.categoryAfter(ctx, ch), nil
}

// UpdateCategory renames or moves a category (admins only).
func (s *Service) UpdateCategory(ctx context.Context, p emporium.Principal, id string, in emporium.CategoryUpdate) (emporium.Category, error) {
	const op = "catalog.UpdateCategory"
	if err := requireAdmin(p); err != nil {
		return emporium.Category{}, emporium.Wrap(op, err)
	}
	req := &categorypb.UpdateRequest{CommandId: s.cfg.NewID(), Id: id,
		Name: stringValue(in.Name), Slug: stringValue(in.Slug), ParentId: stringValue(in.ParentID)}
	ch, err := category.Client(s.cfg.Cluster).Update(req)
	if err != nil {
		return emporium.Category{}, emporium.GrainCall(op, err)
	}
	return s.categoryAfter(ctx, ch), nil
}

// categoryAfter answers a category as a write left it, with its children
// as the tree shows them, and tells the tree reader the version to expect.
func (s *Service) categoryAfter(ctx context.Context, ch *categorypb.Change) emporium.Category {
	s.cfg.Categories.Wrote(ch.Version)
	c := category.FromProto(ch.Category)
	c.Children = []emporium.Category{}
	if tree, err := s.cfg.Categories.Tree(ctx); err == nil {
		if found, ok := tree.Find(c.ID); ok {
			c.Children = found.Children
		}
	}
	return c
}

// DeleteCategory removes a leaf category no product uses (admins only).
func (s *Service) DeleteCategory(ctx context.Context, p emporium.Principal, id string) error {
	const op = "catalog.DeleteCategory"
	if err := requireAdmin(p); err != nil {
		return emporium.Wrap(op, err)
	}
	res, err := s.cfg.Index.Search(ctx, search.Query{Categories: []string{id}, Statuses: allStatuses, Limit: 1})
	if err != nil {
		return emporium.Wrap(op, err)
	}
	if res.Total > 0 {
		return &emporium.Error{Code: emporium.ECONFLICT, Op: op,
			Message: "The category still has products; move them to another category first."}
	}
	ch, err := category.Client(s.cfg.Cluster).Delete(&categorypb.DeleteRequest{CommandId: s.cfg.NewID(), Id: id})
	if err != nil {
		return emporium.GrainCall(op, err)
	}
	s.cfg.Categories.Wrote(ch.Version)
	return nil
}

var allStatuses = []string{emporium.StatusDraft, emporium.StatusActive, emporium.StatusArchived}

// Vendors.

// BecomeVendor opens the caller's store and makes them a vendor.
func (s *Service) BecomeVendor(ctx context.Context, p emporium.Principal, in emporium.VendorInput) (emporium.Vendor, error) {
	const op = "catalog.BecomeVendor"
	acc, err := userpb.GetUserGrainGrainClient(s.cfg.Cluster, p.UserID).BecomeVendor(&userpb.BecomeVendorRequest{
		CommandId: s.cfg.NewID(), StoreName: in.StoreName, Description: in.Description,
	})
	if err != nil {
		return emporium.Vendor{}, emporium.GrainCall(op, err)
	}
	v := emporium.Vendor{ID: acc.Id, StoreName: acc.Store.GetStoreName(), Description: acc.Store.GetDescription(),
		JoinedAt: acc.Store.GetJoinedAt().AsTime().UTC()}
	v.ProductCount, err = s.activeProducts(ctx, v.ID)
	return v, emporium.Wrap(op, err)
}

// Vendor answers a vendor's public store page.
func (s *Service) Vendor(ctx context.Context, id string) (emporium.Vendor, error) {
	const op = "catalog.Vendor"
	var view user.VendorView
	if _, err := s.cfg.Reads.Get(ctx, user.VendorsCollection, id, &view); err != nil {
		if emporium.IsCode(err, emporium.ENOTFOUND) {
			return emporium.Vendor{}, &emporium.Error{Code: emporium.ENOTFOUND, Op: op, Message: "vendor not found"}
		}
		return emporium.Vendor{}, emporium.Wrap(op, err)
	}
	v := emporium.Vendor{ID: id, StoreName: view.StoreName, Description: view.Description, JoinedAt: view.JoinedAt.UTC()}
	var err error
	v.ProductCount, err = s.activeProducts(ctx, id)
	return v, emporium.Wrap(op, err)
}

// activeProducts counts a vendor's active products, as search sees them.
func (s *Service) activeProducts(ctx context.Context, vendorID string) (int, error) {
	res, err := s.cfg.Index.Search(ctx, search.Query{Vendor: vendorID, Limit: 1})
	return res.Total, err
}

// requireVendor checks that the caller is a vendor. An access token issued
// before the caller opened their store lacks the role, so the account is
// asked before the caller is refused.
func (s *Service) requireVendor(p emporium.Principal) error {
	if p.HasRole(emporium.RoleVendor) {
		return nil
	}
	acc, err := userpb.GetUserGrainGrainClient(s.cfg.Cluster, p.UserID).Get(&userpb.GetRequest{})
	if err == nil && acc.Store != nil {
		return nil
	}
	if err != nil && !emporium.IsCode(emporium.GrainCall("", err), emporium.ENOTFOUND) {
		return emporium.GrainCall("catalog.requireVendor", err)
	}
	return &emporium.Error{Code: emporium.EFORBIDDEN, Op: "catalog.requireVendor",
		Message: "Only vendors may do this; open a store with POST /v1/vendors first."}
}

func requireAdmin(p emporium.Principal) error {
	if p.HasRole(emporium.RoleAdmin) {
		return nil
	}
	return emporium.Errorf(emporium.EFORBIDDEN, "Only administrators may do this.")
}

// Vendors' products.

// CreateProduct lists a product of the calling vendor.
func (s *Service) CreateProduct(ctx context.Context, p emporium.Principal, in emporium.ProductInput, key string) (emporium.Product, error) {
	const op = "catalog.CreateProduct"
	if err := s.requireVendor(p); err != nil {
		return emporium.Product{}, err
	}
	publish := false
	switch in.Status {
	case "", emporium.StatusDraft:
	case emporium.StatusActive:
		publish = true
	default:
		return emporium.Product{}, emporium.Wrap(op, emporium.Invalid("status", emporium.FieldInvalid, "A new product's status is draft or active."))
	}
	if err := s.checkCategory(ctx, op, in.CategoryID); err != nil {
		return emporium.Product{}, err
	}
	id, commandID, err := s.creation(ctx, p, key)
	if err != nil {
		return emporium.Product{}, emporium.Wrap(op, err)
	}
	req := &productpb.CreateRequest{
		CommandId: commandID, VendorId: p.UserID, Title: in.Title, Description: in.Description, Brand: in.Brand,
		CategoryId: in.CategoryID, Images: imagesPB(in.Images), Attributes: in.Attributes,
		Options: optionsPB(in.Options), Variants: variantsPB(in.Variants), Currency: in.Currency,
	}
	grain := productpb.GetProductGrainGrainClient(s.cfg.Cluster, id)
	out, err := grain.Create(req)
	if err != nil {
		return emporium.Product{}, emporium.GrainCall(op, err)
	}
	if publish {
		out, err = grain.Publish(&productpb.PublishRequest{CommandId: "publish:" + commandID, Caller: caller(p)})
		if err != nil {
			return emporium.Product{}, emporium.GrainCall(op, err)
		}
	}
	return productOf(out), nil
}

// creation names the product a creation makes and its command id. With an
// Idempotency-Key the key is claimed for a new product id, so that a retry
// (even one sent to another node) finds the product the first request
// created and the grain answers it from state.
func (s *Service) creation(ctx context.Context, p emporium.Principal, key string) (id, commandID string, err error) {
	id = s.cfg.NewID()
	if key == "" {
		return id, s.cfg.NewID(), nil
	}
	claim := p.UserID + "/" + key
	commandID = "create:" + claim
	err = s.cfg.Claims.Claim(ctx, idempotencyCollection, claim, id)
	if emporium.IsCode(err, emporium.ECONFLICT) {
		id, _, err = s.cfg.Claims.Owner(ctx, idempotencyCollection, claim)
	}
	return id, commandID, err
}

// checkCategory refuses a category id the tree does not hold.
func (s *Service) checkCategory(ctx context.Context, op, id string) error {
	if id == "" {
		return nil
	}
	tree, err := s.cfg.Categories.Tree(ctx)
	if err != nil {
		return emporium.Wrap(op, err)
	}
	if c, ok := tree.Find(id); !ok || c.ID != id {
		return emporium.Wrap(op, emporium.Invalid("category_id", emporium.FieldNotFound, "There is no category with this id."))
	}
	return nil
}

// VendorProducts lists the caller's products, newest first.
func (s *Service) VendorProducts(ctx context.Context, p emporium.Principal, page emporium.Page) (emporium.ProductList, error) {
	const op = "catalog.VendorProducts"
	if err := s.requireVendor(p); err != nil {
		return emporium.ProductList{}, err
	}
	limit, err := pageLimit(op, page.Limit)
	if err != nil {
		return emporium.ProductList{}, err
	}
	var docs []productDoc
	// One more than the page tells whether there is a next one.
	if err := s.cfg.Reads.List(ctx, product.ViewCollection, "vendor_id", p.UserID, page.Cursor, limit+1, &docs); err != nil {
		return emporium.ProductList{}, emporium.Wrap(op, err)
	}
	out := emporium.ProductList{Items: make([]emporium.Product, 0, min(len(docs), limit))}
	for i, d := range docs {
		if i == limit {
			out.NextCursor = docs[i-1].ID
			break
		}
		prod, err := d.product()
		if err != nil {
			return emporium.ProductList{}, emporium.Wrap(op, err)
		}
		out.Items = append(out.Items, prod)
	}
	return out, nil
}

// VendorProduct answers one of the caller's products.
func (s *Service) VendorProduct(ctx context.Context, p emporium.Principal, id string) (emporium.Product, error) {
	const op = "catalog.VendorProduct"
	if err := s.requireVendor(p); err != nil {
		return emporium.Product{}, err
	}
	out, err := productpb.GetProductGrainGrainClient(s.cfg.Cluster, id).GetForVendor(&productpb.GetForVendorRequest{Caller: caller(p)})
	if err != nil {
		return emporium.Product{}, emporium.GrainCall(op, err)
	}
	prod := productOf(out)
	s.withAvailability(ctx, &prod)
	return prod, nil
}

// UpdateProduct changes a product, then publishes or archives it when the
// update asks for a status.
func (s *Service) UpdateProduct(ctx context.Context, p emporium.Principal, id string, in emporium.ProductUpdate) (emporium.Product, error) {
	const op = "catalog.UpdateProduct"
	if err := s.requireVendor(p); err != nil {
		return emporium.Product{}, err
	}
	if in.CategoryID != nil {
		if err := s.checkCategory(ctx, op, *in.CategoryID); err != nil {
			return emporium.Product{}, err
		}
	}
	if (in.Options == nil) != (in.Variants == nil) {
		return emporium.Product{}, emporium.Wrap(op, emporium.Invalid("variants", emporium.FieldRequired, "Options and variants are replaced together: send both."))
	}
	commandID := in.CommandID
	if commandID == "" {
		commandID = s.cfg.NewID()
	} else {
		commandID = "update:" + p.UserID + "/" + commandID
	}
	grain := productpb.GetProductGrainGrainClient(s.cfg.Cluster, id)
	req := &productpb.UpdateRequest{
		CommandId: commandID, Caller: caller(p), ExpectedVersion: in.ExpectedVersion,
		Title: stringValue(in.Title), Description: stringValue(in.Description), Brand: stringValue(in.Brand),
		CategoryId: stringValue(in.CategoryID),
	}
	if in.Images != nil {
		req.Images = &productpb.Images{Items: imagesPB(*in.Images)}
	}
	if in.Attributes != nil {
		req.Attributes = &productpb.Attributes{Items: *in.Attributes}
	}
	if in.Variants != nil {
		req.VariantSet = &productpb.VariantSet{Options: optionsPB(*in.Options), Variants: variantsPB(*in.Variants)}
	}
	var out *productpb.Product
	var err error
	if changes(req) || in.Status == nil {
		if out, err = grain.Update(req); err != nil {
			return emporium.Product{}, emporium.GrainCall(op, err)
		}
	}
	if in.Status != nil {
		switch *in.Status {
		case emporium.StatusActive:
			out, err = grain.Publish(&productpb.PublishRequest{CommandId: "publish:" + commandID, Caller: caller(p)})
		case emporium.StatusArchived:
			out, err = grain.Archive(&productpb.ArchiveRequest{CommandId: "archive:" + commandID, Caller: caller(p)})
		case emporium.StatusDraft:
			out, err = grain.GetForVendor(&productpb.GetForVendorRequest{Caller: caller(p)})
			if err == nil && out.Status != emporium.StatusDraft {
				return emporium.Product{}, &emporium.Error{Code: emporium.ECONFLICT, Op: op,
					Message: "A published product cannot go back to draft; archive it instead."}
			}
		default:
			return emporium.Product{}, emporium.Wrap(op, emporium.Invalid("status", emporium.FieldInvalid, "The status is draft, active or archived."))
		}
		if err != nil {
			return emporium.Product{}, emporium.GrainCall(op, err)
		}
	}
	return productOf(out), nil
}

// changes reports whether an update carries any field.
func changes(r *productpb.UpdateRequest) bool {
	return r.Title != nil || r.Description != nil || r.Brand != nil || r.CategoryId != nil ||
		r.Images != nil || r.Attributes != nil || r.VariantSet != nil
}

// ArchiveProduct takes a product off sale for good.
func (s *Service) ArchiveProduct(ctx context.Context, p emporium.Principal, id string) (emporium.Product, error) {
	const op = "catalog.ArchiveProduct"
	if err := s.requireVendor(p); err != nil {
		return emporium.Product{}, err
	}
	out, err := productpb.GetProductGrainGrainClient(s.cfg.Cluster, id).Archive(
		&productpb.ArchiveRequest{CommandId: s.cfg.NewID(), Caller: caller(p)})
	if err != nil {
		return emporium.Product{}, emporium.GrainCall(op, err)
	}
	return productOf(out), nil
}

// SetStock sets the units on hand of one SKU of the caller's product. The
// product grain answers only its owner, and the SKU must be one of its
// variants, so nobody sets another vendor's stock.
func (s *Service) SetStock(ctx context.Context, p emporium.Principal, productID, sku string, onHand int64) (emporium.Stock, error) {
	const op = "catalog.SetStock"
	if err := s.requireVendor(p); err != nil {
		return emporium.Stock{}, err
	}
	prod, err := productpb.GetProductGrainGrainClient(s.cfg.Cluster, productID).GetForVendor(&productpb.GetForVendorRequest{Caller: caller(p)})
	if err != nil {
		return emporium.Stock{}, emporium.GrainCall(op, err)
	}
	if !hasSKU(prod, sku) {
		return emporium.Stock{}, &emporium.Error{Code: emporium.ENOTFOUND, Op: op, Message: "The product has no variant with this SKU."}
	}
	if onHand < 0 || onHand > maxOnHand {
		return emporium.Stock{}, emporium.Wrap(op, emporium.Invalid("on_hand", emporium.FieldOutOfRange, "on_hand must be between 0 and 1000000000."))
	}
	st, err := inventorypb.GetInventoryGrainGrainClient(s.cfg.Cluster, sku).SetStock(
		&inventorypb.SetStockRequest{CommandId: s.cfg.NewID(), OnHand: onHand})
	if err != nil {
		return emporium.Stock{}, emporium.GrainCall(op, err)
	}
	return emporium.Stock{SKU: sku, OnHand: st.OnHand, Reserved: st.Reserved, Available: st.Available, Sold: st.Sold}, nil
}

// maxOnHand bounds stock so that sums over many SKUs cannot overflow.
const maxOnHand = 1_000_000_000

func hasSKU(p *productpb.Product, sku string) bool {
	for _, v := range p.Variants {
		if v.Sku == sku {
			return true
		}
	}
	return false
}

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
		InStock: in.InStock, Sort: search.Sort(in.Sort), Limit: in.Limit, Cursor: in.Cursor, Facets: true,
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

// pageLimit applies the list conventions of DESIGN §8.
func pageLimit(op string, limit int) (int, error) {
	switch {
	case limit == 0:
		return search.DefaultLimit, nil
	case limit < 0 || limit > search.MaxLimit:
		return 0, emporium.Wrap(op, emporium.Invalid("limit", emporium.FieldOutOfRange, "The limit must be between 1 and 100."))
	}
	return limit, nil
}

func caller(p emporium.Principal) *productpb.Caller {
	return &productpb.Caller{VendorId: p.UserID, AsAdmin: p.HasRole(emporium.RoleAdmin)}
}
