package gateway

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	emporium "github.com/emporium-shop/emporium"
)

// This file serves the fulfilment of orders (emporium.Orders): vendors
// ship and deliver their lines; admins list any order, cancel what has not
// shipped and refund. Statuses, shipments and amounts are the order
// service's; a client names lines by their ids.

// mountFulfilment registers the vendors' and admins' order routes.
func (s *Server) mountFulfilment() {
	s.Handle("POST /v1/vendor/orders/{id}/ship", s.Authenticated(s.shipOrder))
	s.Handle("POST /v1/vendor/orders/{id}/deliver", s.Authenticated(s.deliverOrder))
	s.Handle("GET /v1/admin/orders", s.Authenticated(s.listAdminOrders))
	s.Handle("GET /v1/admin/orders/{id}", s.Authenticated(s.getAdminOrder))
	s.Handle("POST /v1/admin/orders/{id}/cancel", s.Authenticated(s.adminCancelOrder))
	s.Handle("POST /v1/admin/orders/{id}/refund", s.Authenticated(s.refundOrder))
}

// fulfilmentOwned are members of a shipment or an adjustment that only the
// server writes.
type fulfilmentOwned struct {
	ID          readOnly `json:"id"`
	VendorID    readOnly `json:"vendor_id"`
	Status      readOnly `json:"status"`
	ShippedAt   readOnly `json:"shipped_at"`
	DeliveredAt readOnly `json:"delivered_at"`
	CreatedAt   readOnly `json:"created_at"`
}

// shipRequest is the body of POST /v1/vendor/orders/{id}/ship.
type shipRequest struct {
	emporium.ShipInput
	fulfilmentOwned
}

func (b shipRequest) Validate() error {
	var v validation
	if v.text("carrier", b.Carrier, true, emporium.MaxCarrierLength) {
		v.oneLine("carrier", b.Carrier)
	}
	if v.text("tracking_number", b.TrackingNumber, true, emporium.MaxTrackingNumberLength) && !emporium.ValidTrackingNumber(b.TrackingNumber) {
		v.add("tracking_number", emporium.FieldInvalid, "must be letters, digits, spaces and - . / only")
	}
	v.lineIDs(b.Lines)
	return v.err()
}

// deliverRequest is the body of POST /v1/vendor/orders/{id}/deliver.
type deliverRequest struct {
	emporium.DeliverInput
	fulfilmentOwned
}

func (b deliverRequest) Validate() error {
	var v validation
	v.lineIDs(b.Lines)
	return v.err()
}

// cancelRequest is the body of POST /v1/admin/orders/{id}/cancel.
type cancelRequest struct {
	emporium.CancelInput
	fulfilmentOwned
}

func (b cancelRequest) Validate() error {
	var v validation
	if v.text("reason", b.Reason, false, emporium.MaxReasonLength) {
		v.oneLine("reason", b.Reason)
	}
	return v.err()
}

// refundRequest is the body of POST /v1/admin/orders/{id}/refund.
type refundRequest struct {
	emporium.RefundInput
	// Amount shadows the embedded member, so that a missing amount is
	// told from a zero one.
	Amount *moneyRequest `json:"amount"`
	fulfilmentOwned
}

func (b refundRequest) Validate() error {
	var v validation
	if v.text("reason", b.Reason, true, emporium.MaxReasonLength) {
		v.oneLine("reason", b.Reason)
	}
	v.lineIDs(b.Lines)
	if a := b.Amount; a != nil {
		if a.Amount == nil {
			v.add("amount.amount", emporium.FieldRequired, "is required")
		} else {
			v.integer("amount.amount", *a.Amount, 1, MaxJSONInteger)
		}
		if !currencyCode.MatchString(a.Currency) {
			v.add("amount.currency", emporium.FieldInvalid, "must be an ISO 4217 currency code (three capital letters)")
		}
	}
	return v.err()
}

// input is the refund the request asks for.
func (b refundRequest) input() emporium.RefundInput {
	in := b.RefundInput
	if a := b.Amount; a != nil && a.Amount != nil {
		in.Amount = &emporium.Money{Amount: *a.Amount, Currency: a.Currency}
	}
	return in
}

// lineIDs checks the line ids a body names.
func (v *validation) lineIDs(ids []string) {
	if len(ids) > emporium.MaxRequestLines {
		v.add("lines", emporium.FieldTooMany, fmt.Sprintf("must name at most %d lines", emporium.MaxRequestLines))
		return
	}
	for i, id := range ids {
		v.text(fmt.Sprintf("lines[%d]", i), id, true, emporium.MaxLineIDLength)
	}
}

// oneLine refuses a text member with a line break or a tab (other control
// characters are refused in every body, text.go): reasons and carriers are
// shown as one line in mails and pages.
func (v *validation) oneLine(name, value string) {
	if strings.ContainsAny(value, "\t\n\r") {
		v.add(name, emporium.FieldInvalid, "must be one line of text")
	}
}

// decodeOptional decodes a body that may be absent (no Content-Length, or
// 0): an absent one is the zero request, still validated.
func decodeOptional(r *http.Request, v any) error {
	if r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		if val, ok := v.(interface{ Validate() error }); ok {
			return val.Validate()
		}
		return nil
	}
	return Decode(r, v)
}

// shipOrder records the calling vendor's shipment and answers their part
// of the order.
func (s *Server) shipOrder(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var in shipRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	var o emporium.VendorOrder
	err = s.idempotent(r, p, key, in.ShipInput, func() (err error) {
		o, err = s.orders.Ship(r.Context(), p, r.PathValue("id"), in.ShipInput, key)
		return err
	})
	return respondVendorOrder(w, o, err)
}

// deliverOrder records the calling vendor's shipped lines delivered.
func (s *Server) deliverOrder(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var in deliverRequest
	if err := decodeOptional(r, &in); err != nil {
		return err
	}
	var o emporium.VendorOrder
	err = s.idempotent(r, p, key, in.DeliverInput, func() (err error) {
		o, err = s.orders.Deliver(r.Context(), p, r.PathValue("id"), in.DeliverInput, key)
		return err
	})
	return respondVendorOrder(w, o, err)
}

// respondVendorOrder answers a vendor's part of an order, or the error of
// the call that made it.
func respondVendorOrder(w http.ResponseWriter, o emporium.VendorOrder, err error) error {
	if err != nil {
		return err
	}
	o.Lines = linesOf(o.Lines)
	o.Shipments = shipmentsOf(o.Shipments)
	return Respond(w, http.StatusOK, o)
}

// listAdminOrders lists every order, newest first; ?status=, ?buyer_id=
// and ?vendor_id= narrow the list.
func (s *Server) listAdminOrders(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	q := r.URL.Query()
	page, err := pageOf(q)
	if err != nil {
		return err
	}
	f := emporium.OrderFilter{Status: q.Get("status"), BuyerID: q.Get("buyer_id"), VendorID: q.Get("vendor_id")}
	var bad []emporium.FieldError
	if f.Status != "" && !slices.Contains(emporium.OrderStatuses, f.Status) {
		bad = append(bad, emporium.FieldError{Field: "status", Code: emporium.FieldInvalid,
			Message: "must be one of " + strings.Join(emporium.OrderStatuses, ", ")})
	}
	for name, id := range map[string]string{"buyer_id": f.BuyerID, "vendor_id": f.VendorID} {
		if len(id) > MaxOrderIDLength {
			bad = append(bad, emporium.FieldError{Field: name, Code: emporium.FieldTooLong,
				Message: fmt.Sprintf("must be at most %d characters", MaxOrderIDLength)})
		}
	}
	if len(bad) > 0 {
		slices.SortFunc(bad, func(a, b emporium.FieldError) int { return strings.Compare(a.Field, b.Field) })
		return badQuery(bad)
	}
	res, err := s.orders.AdminOrders(r.Context(), p, f, page.Cursor, page.Limit)
	if err != nil {
		return err
	}
	out := orderPageBody{Items: make([]emporium.Order, 0, len(res.Items)), NextCursor: res.NextCursor}
	for _, o := range res.Items {
		out.Items = append(out.Items, orderOf(o))
	}
	return Respond(w, http.StatusOK, out)
}

func (s *Server) getAdminOrder(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	return respondOrder(w)(s.orders.AdminOrder(r.Context(), p, r.PathValue("id")))
}

var errAdjustKeyRequired = emporium.KeyRequired("Cancelling or refunding an order", "refund twice")

// adminCancelOrder cancels what has not shipped of an order.
func (s *Server) adminCancelOrder(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	if key == "" {
		return errAdjustKeyRequired
	}
	var in cancelRequest
	if err := decodeOptional(r, &in); err != nil {
		return err
	}
	var o emporium.Order
	err = s.idempotent(r, p, key, in.CancelInput, func() (err error) {
		o, err = s.orders.AdminCancelOrder(r.Context(), p, r.PathValue("id"), in.CancelInput, key)
		return err
	})
	return respondOrder(w)(o, err)
}

// refundOrder refunds money of a confirmed order.
func (s *Server) refundOrder(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	if key == "" {
		return errAdjustKeyRequired
	}
	var in refundRequest
	if err := Decode(r, &in); err != nil {
		return err
	}
	var o emporium.Order
	err = s.idempotent(r, p, key, in.input(), func() (err error) {
		o, err = s.orders.RefundOrder(r.Context(), p, r.PathValue("id"), in.input(), key)
		return err
	})
	return respondOrder(w)(o, err)
}

// shipmentsOf shows empty shipment lists as [].
func shipmentsOf(in []emporium.Shipment) []emporium.Shipment {
	out := make([]emporium.Shipment, 0, len(in))
	for _, sh := range in {
		if sh.Lines == nil {
			sh.Lines = []string{}
		}
		out = append(out, sh)
	}
	return out
}
