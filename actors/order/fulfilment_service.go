package order

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/cluster"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

// The order service's fulfilment and admin operations (emporium.Orders):
// vendors ship and deliver their lines; admins list any order, cancel what
// has not shipped and refund.

// adjustWait is how long an admin's cancellation or refund, and a buyer's
// cancellation, wait for the money and the units to go back before they
// answer (the order as it is then).
const adjustWait = 2 * time.Second

// Ship records the calling vendor's shipment and answers their part of the
// order.
func (s *Service) Ship(ctx context.Context, p emporium.Principal, id string, in emporium.ShipInput, key string) (emporium.VendorOrder, error) {
	const op = "order.Ship"
	if err := s.vendorCall(ctx, p, id); err != nil {
		return emporium.VendorOrder{}, emporium.Wrap(op, err)
	}
	if err := checkShipment(in); err != nil {
		return emporium.VendorOrder{}, emporium.Wrap(op, err)
	}
	req := &pb.ShipRequest{
		CommandId: contentID(p, key, "ship", id, in.Carrier, in.TrackingNumber, strings.Join(in.Lines, ",")),
		VendorId:  p.UserID, Carrier: in.Carrier, TrackingNumber: in.TrackingNumber, Lines: in.Lines,
	}
	o, err := s.call(ctx, id, func(g *pb.OrderGrainGrainClient, opt cluster.GrainCallOption) (*pb.Order, error) {
		return g.Ship(req, opt)
	})
	return s.vendorAnswer(op, p, id, o, err)
}

// Deliver records the calling vendor's shipped lines delivered and answers
// their part of the order.
func (s *Service) Deliver(ctx context.Context, p emporium.Principal, id string, in emporium.DeliverInput, key string) (emporium.VendorOrder, error) {
	const op = "order.Deliver"
	if err := s.vendorCall(ctx, p, id); err != nil {
		return emporium.VendorOrder{}, emporium.Wrap(op, err)
	}
	if err := checkLineIDs(in.Lines); err != nil {
		return emporium.VendorOrder{}, emporium.Wrap(op, err)
	}
	req := &pb.DeliverRequest{
		CommandId: contentID(p, key, "deliver", id, strings.Join(in.Lines, ",")),
		VendorId:  p.UserID, Lines: in.Lines,
	}
	o, err := s.call(ctx, id, func(g *pb.OrderGrainGrainClient, opt cluster.GrainCallOption) (*pb.Order, error) {
		return g.Deliver(req, opt)
	})
	return s.vendorAnswer(op, p, id, o, err)
}

// vendorCall refuses a caller who is no vendor, and an id that cannot be
// an order's.
func (s *Service) vendorCall(ctx context.Context, p emporium.Principal, id string) error {
	if err := s.requireVendor(ctx, p); err != nil {
		return err
	}
	if !validID(id) {
		return noOrder(id)
	}
	return nil
}

// vendorAnswer presents the vendor's part of the order a call answered.
func (s *Service) vendorAnswer(op string, p emporium.Principal, id string, o *pb.Order, err error) (emporium.VendorOrder, error) {
	if err != nil {
		return emporium.VendorOrder{}, emporium.Wrap(op, err)
	}
	vo, ok := VendorOrderOf(o.State, o.Seq, p.UserID)
	if !ok {
		return emporium.VendorOrder{}, emporium.Wrap(op, noOrder(id))
	}
	return vo, nil
}

// checkShipment checks a shipment's members: what the gateway checks too,
// for callers that are not the gateway.
func checkShipment(in emporium.ShipInput) error {
	var fields []emporium.FieldError
	add := func(field, code, msg string) {
		fields = append(fields, emporium.FieldError{Field: field, Code: code, Message: msg})
	}
	if msg, code := plainText(in.Carrier, emporium.MaxCarrierLength); msg != "" {
		add("carrier", code, msg)
	}
	if msg, code := plainText(in.TrackingNumber, emporium.MaxTrackingNumberLength); msg != "" {
		add("tracking_number", code, msg)
	} else if !emporium.ValidTrackingNumber(in.TrackingNumber) {
		add("tracking_number", emporium.FieldInvalid, "must be letters, digits, spaces and - . / only")
	}
	if err := checkLineIDs(in.Lines); err != nil {
		return err
	}
	if len(fields) > 0 {
		return emporium.InvalidFields(fields...)
	}
	return nil
}

// checkLineIDs checks the line ids a request names.
func checkLineIDs(ids []string) error {
	if len(ids) > emporium.MaxRequestLines {
		return emporium.Invalidf("lines", emporium.FieldTooMany, "A request names at most %d lines.", emporium.MaxRequestLines)
	}
	for i, id := range ids {
		if id == "" || utf8.RuneCountInString(id) > emporium.MaxLineIDLength {
			return emporium.Invalidf(fmt.Sprintf("lines[%d]", i), emporium.FieldInvalid, "must be a line id of the order")
		}
	}
	return nil
}

// plainText checks a required one-line text of at most maxLen characters
// without control characters; it answers a message and a field code, or
// "" when the text is fine.
func plainText(v string, maxLen int) (string, string) {
	switch {
	case strings.TrimSpace(v) == "":
		return "is required", emporium.FieldRequired
	case utf8.RuneCountInString(v) > maxLen:
		return fmt.Sprintf("must be at most %d characters", maxLen), emporium.FieldTooLong
	case !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl):
		return "must be one line of text", emporium.FieldInvalid
	}
	return "", ""
}

// contentID is the command id of a request: from its Idempotency-Key when
// it has one, else from what it asks, so that the same request sent again
// is the same command (answered from the order's state).
func contentID(p emporium.Principal, key string, parts ...string) string {
	if key != "" {
		return commandID(p, strings.Join(parts[:2], ":"), key)
	}
	sum := sha256.Sum256([]byte(p.UserID + "\x00" + strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:])
}

// Admin operations.

// errKeyRequired refuses an admin's cancellation or refund without an
// Idempotency-Key: both move money, which must not happen twice.
var errKeyRequired = emporium.KeyRequired("Cancelling or refunding an order", "refund twice")

// requireAdmin refuses an anonymous caller and one who is no admin.
func requireAdmin(p emporium.Principal) error {
	switch {
	case p.UserID == "":
		return &emporium.Error{Code: emporium.EUNAUTHENTICATED, Message: "Sign in as an admin to manage orders."}
	case !p.HasRole(emporium.RoleAdmin):
		return &emporium.Error{Code: emporium.EFORBIDDEN, Message: "Only admins manage every order."}
	}
	return nil
}

// adminCall refuses a caller who is no admin, and an id that cannot be an
// order's.
func adminCall(p emporium.Principal, id string) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	if !validID(id) {
		return noOrder(id)
	}
	return nil
}

// AdminOrders lists the orders matching f, newest first, from the read
// models: by vendor (the read model by vendor), by buyer, by status, or
// all. Filters past the first of those apply to the page read, so a page
// may hold fewer orders than limit while next_cursor says there are more.
func (s *Service) AdminOrders(ctx context.Context, p emporium.Principal, f emporium.OrderFilter, cursor string, limit int) (emporium.OrderPage, error) {
	const op = "order.AdminOrders"
	if err := requireAdmin(p); err != nil {
		return emporium.OrderPage{}, emporium.Wrap(op, err)
	}
	if f.Status != "" && !slices.Contains(emporium.OrderStatuses, f.Status) {
		return emporium.OrderPage{}, emporium.Invalidf("status", emporium.FieldInvalid,
			"status must be one of %s.", strings.Join(emporium.OrderStatuses, ", "))
	}
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	views, next, err := s.adminViews(ctx, f, cursor, limit)
	if err != nil {
		return emporium.OrderPage{}, emporium.Wrap(op, err)
	}
	page := emporium.OrderPage{Items: []emporium.Order{}, NextCursor: next}
	for _, v := range views {
		if (f.Status == "" || v.Status == f.Status) && (f.BuyerID == "" || v.BuyerID == f.BuyerID) {
			page.Items = append(page.Items, v.Order)
		}
	}
	return page, nil
}

// adminViews reads up to limit order views by the most selective filter,
// from cursor (a list key), and the cursor of the next page.
func (s *Service) adminViews(ctx context.Context, f emporium.OrderFilter, cursor string, limit int) ([]View, string, error) {
	if f.VendorID != "" {
		before := ""
		if cursor != "" {
			before = f.VendorID + "/" + cursor
		}
		var parts []VendorView
		if err := s.cfg.Reads.List(ctx, VendorCollection, "vendor_id", f.VendorID, before, limit+1, &parts); err != nil {
			return nil, "", err
		}
		next := ""
		if len(parts) > limit {
			parts = parts[:limit]
			next = parts[limit-1].orderKey()
		}
		ids := make([]string, len(parts))
		for i, vv := range parts {
			ids[i] = vv.orderKey()
		}
		var views []View
		if err := s.cfg.Reads.GetMany(ctx, ViewCollection, ids, &views); err != nil {
			return nil, "", err
		}
		return views, next, nil
	}
	field, value := AllField, AllValue
	switch {
	case f.BuyerID != "":
		field, value = "buyer_id", f.BuyerID
	case f.Status != "":
		field, value = "status", f.Status
	}
	var views []View
	if err := s.cfg.Reads.List(ctx, ViewCollection, field, value, cursor, limit+1, &views); err != nil {
		return nil, "", err
	}
	next := ""
	if len(views) > limit {
		views = views[:limit]
		next = views[limit-1].listKey()
	}
	return views, next, nil
}

// AdminOrder answers any order.
func (s *Service) AdminOrder(ctx context.Context, p emporium.Principal, id string) (emporium.Order, error) {
	const op = "order.AdminOrder"
	if err := adminCall(p, id); err != nil {
		return emporium.Order{}, emporium.Wrap(op, err)
	}
	o, err := s.peek(ctx, id)
	if err != nil {
		return emporium.Order{}, emporium.Wrap(op, err)
	}
	if !placed(o.State) {
		return emporium.Order{}, emporium.Wrap(op, noOrder(id))
	}
	return FromProto(o), nil
}

// AdminCancelOrder cancels what has not shipped of any order.
func (s *Service) AdminCancelOrder(ctx context.Context, p emporium.Principal, id string, in emporium.CancelInput, key string) (emporium.Order, error) {
	const op = "order.AdminCancelOrder"
	if err := adminCall(p, id); err != nil {
		return emporium.Order{}, emporium.Wrap(op, err)
	}
	if key == "" {
		return emporium.Order{}, emporium.Wrap(op, errKeyRequired)
	}
	if in.Reason != "" {
		if msg, code := plainText(in.Reason, emporium.MaxReasonLength); msg != "" {
			return emporium.Order{}, emporium.Wrap(op, emporium.Invalidf("reason", code, "reason %s", msg))
		}
	}
	req := &pb.CancelRequest{CommandId: commandID(p, "admin-cancel:"+id, key), BuyerId: p.UserID, Admin: true, Reason: in.Reason}
	o, err := s.call(ctx, id, func(g *pb.OrderGrainGrainClient, opt cluster.GrainCallOption) (*pb.Order, error) {
		return g.Cancel(req, opt)
	})
	if err != nil {
		return emporium.Order{}, emporium.Wrap(op, err)
	}
	return s.wait(ctx, o, adjustWait, untilEnded)
}

// RefundOrder refunds money of a confirmed order.
func (s *Service) RefundOrder(ctx context.Context, p emporium.Principal, id string, in emporium.RefundInput, key string) (emporium.Order, error) {
	const op = "order.RefundOrder"
	if err := adminCall(p, id); err != nil {
		return emporium.Order{}, emporium.Wrap(op, err)
	}
	if key == "" {
		return emporium.Order{}, emporium.Wrap(op, errKeyRequired)
	}
	if msg, code := plainText(in.Reason, emporium.MaxReasonLength); msg != "" {
		return emporium.Order{}, emporium.Wrap(op, emporium.Invalidf("reason", code, "reason %s", msg))
	}
	if err := checkLineIDs(in.Lines); err != nil {
		return emporium.Order{}, emporium.Wrap(op, err)
	}
	req := &pb.RefundRequest{CommandId: commandID(p, "refund:"+id, key), Lines: in.Lines, Reason: in.Reason}
	if in.Amount != nil {
		if in.Amount.Amount <= 0 {
			return emporium.Order{}, emporium.Wrap(op, emporium.Invalidf("amount.amount", emporium.FieldOutOfRange, "amount must be positive"))
		}
		req.Amount, req.Currency = in.Amount.Amount, in.Amount.Currency
	}
	o, err := s.call(ctx, id, func(g *pb.OrderGrainGrainClient, opt cluster.GrainCallOption) (*pb.Order, error) {
		return g.Refund(req, opt)
	})
	if err != nil {
		return emporium.Order{}, emporium.Wrap(op, err)
	}
	return s.wait(ctx, o, adjustWait, untilEnded)
}
