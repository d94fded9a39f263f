package order

import (
	"context"
	"slices"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors/user"
)

// VendorOrders lists the calling vendor's part of their orders, newest
// first, from the read model by vendor: by the vendor (index vendor_id),
// or by the vendor and a fulfilment status (index vendor_fulfillment).
func (s *Service) VendorOrders(ctx context.Context, p emporium.Principal, fulfillment, cursor string, limit int) (emporium.VendorOrderPage, error) {
	const op = "order.VendorOrders"
	if err := s.requireVendor(ctx, p); err != nil {
		return emporium.VendorOrderPage{}, emporium.Wrap(op, err)
	}
	if fulfillment != "" && !slices.Contains(emporium.FulfillmentStatuses, fulfillment) {
		return emporium.VendorOrderPage{}, emporium.Invalidf("fulfillment_status", emporium.FieldInvalid,
			"fulfillment_status must be one of unfulfilled, partially_shipped, shipped, delivered, cancelled.")
	}
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	field, value := "vendor_id", p.UserID
	if fulfillment != "" {
		field, value = VendorFulfillmentField, vendorFulfillmentKey(p.UserID, fulfillment)
	}
	// One more than a page tells whether there is a next one.
	var views []VendorView
	if err := s.cfg.Reads.List(ctx, VendorCollection, field, value, cursor, limit+1, &views); err != nil {
		return emporium.VendorOrderPage{}, emporium.Wrap(op, err)
	}
	page := emporium.VendorOrderPage{}
	if len(views) > limit {
		views = views[:limit]
		last := views[limit-1]
		page.NextCursor = last.VendorID + "/" + last.orderKey()
	}
	page.Items = make([]emporium.VendorOrder, len(views))
	for i, v := range views {
		page.Items[i] = v.API()
	}
	return page, nil
}

// VendorOrder answers the calling vendor's part of one order, from the read
// model by vendor (index vendor_order): an order without lines of theirs is
// not found, as one that does not exist, so that order ids do not leak.
func (s *Service) VendorOrder(ctx context.Context, p emporium.Principal, id string) (emporium.VendorOrder, error) {
	const op = "order.VendorOrder"
	if err := s.requireVendor(ctx, p); err != nil {
		return emporium.VendorOrder{}, emporium.Wrap(op, err)
	}
	if !validID(id) {
		return emporium.VendorOrder{}, emporium.Errorf(emporium.ENOTFOUND, "There is no order %s.", id)
	}
	var views []VendorView
	if err := s.cfg.Reads.List(ctx, VendorCollection, VendorOrderField, vendorOrderKey(p.UserID, id), "", 1, &views); err != nil {
		return emporium.VendorOrder{}, emporium.Wrap(op, err)
	}
	if len(views) == 0 {
		return emporium.VendorOrder{}, emporium.Errorf(emporium.ENOTFOUND, "There is no order %s.", id)
	}
	return views[0].API(), nil
}

// requireVendor refuses an anonymous caller and one who is no vendor
// (user.IsVendor).
func (s *Service) requireVendor(ctx context.Context, p emporium.Principal) error {
	if p.UserID == "" {
		return &emporium.Error{Code: emporium.EUNAUTHENTICATED, Message: "Sign in to see your orders."}
	}
	ok, err := user.IsVendor(ctx, s.cfg.Cluster, p)
	switch {
	case err != nil:
		return emporium.Wrap("order.requireVendor", err)
	case !ok:
		return &emporium.Error{Code: emporium.EFORBIDDEN,
			Message: "Only vendors see orders to fulfil; open a store with POST /v1/vendors first."}
	}
	return nil
}
