package catalog

import (
	"context"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/user"
	userpb "github.com/emporium-shop/emporium/protos/userpb"
	"github.com/emporium-shop/emporium/search"
)

// Vendors.

// BecomeVendor opens the caller's store and makes them a vendor.
func (s *Service) BecomeVendor(ctx context.Context, p emporium.Principal, in emporium.VendorInput) (emporium.Vendor, error) {
	const op = "catalog.BecomeVendor"
	acc, err := userpb.GetUserGrainGrainClient(s.cfg.Cluster, p.UserID).BecomeVendor(&userpb.BecomeVendorRequest{
		CommandId: s.cfg.NewID(), StoreName: in.StoreName, Description: in.Description,
	}, actors.Within(ctx, s.cfg.Cluster))
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

// requireVendor checks that the caller is a vendor (user.IsVendor).
func (s *Service) requireVendor(ctx context.Context, p emporium.Principal) error {
	ok, err := user.IsVendor(ctx, s.cfg.Cluster, p)
	switch {
	case err != nil:
		return emporium.Wrap("catalog.requireVendor", err)
	case !ok:
		return &emporium.Error{Code: emporium.EFORBIDDEN, Op: "catalog.requireVendor",
			Message: "Only vendors may do this; open a store with POST /v1/vendors first."}
	}
	return nil
}
