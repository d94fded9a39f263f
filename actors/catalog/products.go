package catalog

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/product"
	inventorypb "github.com/emporium-shop/emporium/protos/inventorypb"
	productpb "github.com/emporium-shop/emporium/protos/productpb"
)

// Vendors' products.

// CreateProduct lists a product of the calling vendor.
func (s *Service) CreateProduct(ctx context.Context, p emporium.Principal, in emporium.ProductInput, key string) (emporium.Product, error) {
	const op = "catalog.CreateProduct"
	if err := s.requireVendor(ctx, p); err != nil {
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
	req := &productpb.CreateRequest{
		VendorId: p.UserID, Title: in.Title, Description: in.Description, Brand: in.Brand,
		CategoryId: in.CategoryID, Images: imagesPB(in.Images), Attributes: in.Attributes,
		Options: optionsPB(in.Options), Variants: variantsPB(in.Variants), Currency: in.Currency,
	}
	// Every size and shape rule first: a body the grain would refuse costs
	// no claim, no write and no grain activation.
	if err := product.CheckCreate(req); err != nil {
		return emporium.Product{}, emporium.Wrap(op, err)
	}
	if err := s.checkCategory(ctx, op, in.CategoryID); err != nil {
		return emporium.Product{}, err
	}
	id, commandID, err := s.creation(ctx, p, key)
	if err != nil {
		return emporium.Product{}, emporium.Wrap(op, err)
	}
	req.CommandId = commandID
	grain := productpb.GetProductGrainGrainClient(s.cfg.Cluster, id)
	out, err := s.create(ctx, grain, id, req)
	if err != nil {
		return emporium.Product{}, emporium.GrainCall(op, err)
	}
	if publish {
		out, err = grain.Publish(&productpb.PublishRequest{CommandId: "publish:" + commandID, Caller: caller(p)}, actors.Within(ctx, s.cfg.Cluster))
		if err != nil {
			return emporium.Product{}, emporium.GrainCall(op, err)
		}
	}
	return productOf(out), nil
}

// staleSKUClaimAge is how old a SKU claim must be before a creation may
// take it from a product that does not use it: one whose creation never
// completed (the node stopped between claim and write, or a release was
// lost). It is far longer than a creation may take.
const staleSKUClaimAge = 10 * time.Minute

// create asks the grain to create the product. When the grain refuses a SKU
// that another product holds, and that claim is stale (see
// staleSKUClaimAge), the SKU is taken over for id and the grain is asked
// again; each retry has taken over one SKU, so there are at most as many
// as the product has variants.
func (s *Service) create(ctx context.Context, grain *productpb.ProductGrainGrainClient, id string, req *productpb.CreateRequest) (*productpb.Product, error) {
	for attempt := 0; ; attempt++ {
		out, err := grain.Create(req, actors.Within(ctx, s.cfg.Cluster))
		if err == nil || attempt >= len(req.Variants) {
			return out, err
		}
		sku := takenSKU(err, req)
		if sku == "" || !s.reclaimSKU(ctx, sku, id) {
			return out, err
		}
	}
}

// takenSKU answers the SKU of req that err refuses as another product's,
// or "".
func takenSKU(err error, req *productpb.CreateRequest) string {
	for _, f := range emporium.ErrorFields(emporium.GrainCall("", err)) {
		if f.Code != emporium.FieldTaken {
			continue
		}
		var i int
		if _, serr := fmt.Sscanf(f.Field, "variants[%d].sku", &i); serr == nil && i >= 0 && i < len(req.Variants) {
			return req.Variants[i].Sku
		}
	}
	return ""
}

// reclaimSKU takes sku over for the product id when the product holding it
// has held it for longer than staleSKUClaimAge and does not use it (it was
// never created, or no variant of it has the SKU). It reports whether it
// did; when the owner cannot be read, the SKU stays where it is.
func (s *Service) reclaimSKU(ctx context.Context, sku, id string) bool {
	owner, at, err := s.cfg.Claims.Owner(ctx, product.SKUsCollection, sku)
	if err != nil || owner == id || time.Since(at) < staleSKUClaimAge {
		return false
	}
	held, err := productpb.GetProductGrainGrainClient(s.cfg.Cluster, owner).Get(&productpb.GetRequest{}, actors.Within(ctx, s.cfg.Cluster))
	switch {
	case err == nil && hasSKU(held, sku):
		return false
	case err != nil && !emporium.IsCode(emporium.GrainCall("", err), emporium.ENOTFOUND):
		return false
	}
	if err := s.cfg.Claims.Takeover(ctx, product.SKUsCollection, sku, owner, id); err != nil {
		return false
	}
	s.cfg.Logger.Info("catalog: took over a stale SKU claim", slog.String("sku", sku), slog.String("from", owner), slog.String("to", id))
	return true
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
	if err := s.requireVendor(ctx, p); err != nil {
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
	if err := s.requireVendor(ctx, p); err != nil {
		return emporium.Product{}, err
	}
	out, err := productpb.GetProductGrainGrainClient(s.cfg.Cluster, id).GetForVendor(&productpb.GetForVendorRequest{Caller: caller(p)}, actors.Within(ctx, s.cfg.Cluster))
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
	if err := s.requireVendor(ctx, p); err != nil {
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
		if out, err = grain.Update(req, actors.Within(ctx, s.cfg.Cluster)); err != nil {
			return emporium.Product{}, emporium.GrainCall(op, err)
		}
	}
	if in.Status != nil {
		switch *in.Status {
		case emporium.StatusActive:
			out, err = grain.Publish(&productpb.PublishRequest{CommandId: "publish:" + commandID, Caller: caller(p)}, actors.Within(ctx, s.cfg.Cluster))
		case emporium.StatusArchived:
			out, err = grain.Archive(&productpb.ArchiveRequest{CommandId: "archive:" + commandID, Caller: caller(p)}, actors.Within(ctx, s.cfg.Cluster))
		case emporium.StatusDraft:
			out, err = grain.GetForVendor(&productpb.GetForVendorRequest{Caller: caller(p)}, actors.Within(ctx, s.cfg.Cluster))
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
	if err := s.requireVendor(ctx, p); err != nil {
		return emporium.Product{}, err
	}
	out, err := productpb.GetProductGrainGrainClient(s.cfg.Cluster, id).Archive(
		&productpb.ArchiveRequest{CommandId: s.cfg.NewID(), Caller: caller(p)}, actors.Within(ctx, s.cfg.Cluster))
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
	if err := s.requireVendor(ctx, p); err != nil {
		return emporium.Stock{}, err
	}
	prod, err := productpb.GetProductGrainGrainClient(s.cfg.Cluster, productID).GetForVendor(&productpb.GetForVendorRequest{Caller: caller(p)}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.Stock{}, emporium.GrainCall(op, err)
	}
	if !hasSKU(prod, sku) {
		return emporium.Stock{}, &emporium.Error{Code: emporium.ENOTFOUND, Op: op, Message: "The product has no variant with this SKU."}
	}
	if onHand < 0 || onHand > MaxOnHand {
		return emporium.Stock{}, emporium.Wrap(op, emporium.Invalid("on_hand", emporium.FieldOutOfRange, "on_hand must be between 0 and 1000000000."))
	}
	st, err := inventorypb.GetInventoryGrainGrainClient(s.cfg.Cluster, sku).SetStock(
		&inventorypb.SetStockRequest{CommandId: s.cfg.NewID(), OnHand: onHand}, actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return emporium.Stock{}, emporium.GrainCall(op, err)
	}
	return emporium.Stock{SKU: sku, OnHand: st.OnHand, Reserved: st.Reserved, Available: st.Available, Sold: st.Sold}, nil
}

// MaxOnHand bounds stock so that sums over many SKUs cannot overflow.
const MaxOnHand = 1_000_000_000

func hasSKU(p *productpb.Product, sku string) bool {
	for _, v := range p.Variants {
		if v.Sku == sku {
			return true
		}
	}
	return false
}
