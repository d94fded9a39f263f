package order

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

// ViewCollection is the read-model collection of orders. A document's id
// is its list key (ListKey): the order's creation time, then its id, so
// that the store's descending-id order is newest first.
const ViewCollection = "orders"

// VendorCollection is the read-model collection of orders by vendor: one
// document per order and vendor, holding only that vendor's lines, with
// the id: the vendor, "/", the order's list key (so that a vendor's
// orders sort newest first).
const VendorCollection = "vendor_orders"

// VendorView is the read-model document of one vendor's part of an order:
// what the vendor ships, and nothing of the buyer's payment (vendor.go).
type VendorView struct {
	VendorID          string    `bson:"vendor_id"`
	OrderID           string    `bson:"order_id"`
	Status            string    `bson:"status"`
	FulfillmentStatus string    `bson:"fulfillment_status"`
	VendorFulfillment string    `bson:"vendor_fulfillment"`
	VendorOrder       string    `bson:"vendor_order"`
	Seq               uint64    `bson:"order_seq"`
	CreatedAt         time.Time `bson:"created_at"`
	UpdatedAt         time.Time `bson:"updated_at"`
	// OrderKey is the order's view's id (View.Key).
	OrderKey        string                  `bson:"order_key"`
	Lines           []emporium.OrderLine    `bson:"lines"`
	Shipments       []emporium.Shipment     `bson:"shipments"`
	Subtotal        emporium.Money          `bson:"subtotal"`
	ShippingAddress emporium.OrderAddress   `bson:"shipping_address"`
	ShippingMethod  emporium.ShippingMethod `bson:"shipping_method"`
}

// AllField is a field of every order's view whose value is always
// AllValue: the index (all, -_id) lists every order newest first, as the
// store lists only by a field's value.
const (
	AllField = "all"
	AllValue = "order"
)

// View is the read-model document of one order.
type View struct {
	All string `bson:"all"`
	// Key is the document's id (ListKey), kept whole: the store keeps
	// times to the millisecond, and the key holds nanoseconds.
	Key       string    `bson:"key"`
	OrderID   string    `bson:"order_id"`
	BuyerID   string    `bson:"buyer_id"`
	Status    string    `bson:"status"`
	CreatedAt time.Time `bson:"created_at"`
	// RecoverAt is when the recovery loop should wake the order: a minute
	// after its last change while its saga is unsettled, its approval
	// deadline while it waits for its buyer, never once it is settled.
	RecoverAt *time.Time     `bson:"recover_at"`
	Order     emporium.Order `bson:"order"`
}

// sameView reports whether two views of an order show a reader the same:
// the order's seq and update time aside, and its recovery time only as set
// or not (a view kept with an earlier one makes the recovery loop look at a
// busy order once more, which is harmless).
func sameView(a, b View) bool {
	a.Order.Seq, b.Order.Seq = 0, 0
	a.Order.UpdatedAt, b.Order.UpdatedAt = time.Time{}, time.Time{}
	if (a.RecoverAt == nil) != (b.RecoverAt == nil) {
		return false
	}
	a.RecoverAt, b.RecoverAt = nil, nil
	return reflect.DeepEqual(a, b)
}

// ListKey is the read-model id of an order: its creation time, fixed
// width, then its id.
func ListKey(createdAt time.Time, orderID string) string {
	return createdAt.UTC().Format("20060102T150405.000000000") + "-" + orderID
}

// orderIDOf returns the order id in a list key.
func orderIDOf(key string) string {
	_, id, _ := strings.Cut(key, "-")
	return id
}

// recoverAfter is how long an unsettled saga goes unwoken.
const recoverAfter = time.Minute

func viewOf(s *pb.State, seq uint64, now time.Time) (string, View) {
	v := View{All: AllValue, OrderID: s.Id, BuyerID: s.BuyerId, Status: s.Status, CreatedAt: s.CreatedAt.AsTime(),
		Order: FromProto(&pb.Order{State: s, Seq: seq})}
	v.Key = ListKey(v.CreatedAt, s.Id)
	switch {
	case s.Status == emporium.OrderAwaitingPayment && s.Started == pb.Step_STEP_NONE && !s.Payment.GetConfirmRequested():
		at := s.Payment.GetApprovalDeadline().AsTime()
		v.RecoverAt = &at
	case !Settled(s, now):
		at := s.UpdatedAt.AsTime().Add(recoverAfter)
		v.RecoverAt = &at
	}
	return v.Key, v
}

// listKey is the view's id: its Key, or for a view stored before views
// kept it, its key made again from a creation time the store may have
// rounded (a cursor then lands a moment off: harmless).
func (v View) listKey() string {
	if v.Key != "" {
		return v.Key
	}
	return ListKey(v.CreatedAt, v.OrderID)
}

// orderKey is the id of the order's view (see View.listKey).
func (vv VendorView) orderKey() string {
	if vv.OrderKey != "" {
		return vv.OrderKey
	}
	return ListKey(vv.CreatedAt, vv.OrderID)
}

// FromProto presents a grain's order as the API shows it. Slices are never
// nil, so the JSON shows empty lists rather than nulls.
func FromProto(o *pb.Order) emporium.Order {
	s := o.GetState()
	p := s.GetPayment()
	out := emporium.Order{
		ID:            s.GetId(),
		Status:        s.GetStatus(),
		PaymentStatus: p.GetStatus(),
		Payment: emporium.OrderPayment{
			Provider: p.GetProvider(), Status: p.GetStatus(), ApprovalURL: p.GetApprovalUrl(),
			Captured: moneyOf(p.GetCaptured(), s.GetTotal()), Refunded: moneyOf(p.GetRefunded(), s.GetTotal()),
		},
		Lines:             make([]emporium.OrderLine, len(s.GetLines())),
		Shipments:         []emporium.Shipment{},
		Subtotal:          moneyOf(s.GetSubtotal(), s.GetTotal()),
		Shipping:          moneyOf(s.GetShipping(), s.GetTotal()),
		Tax:               moneyOf(s.GetTax(), s.GetTotal()),
		Total:             moneyOf(s.GetTotal(), s.GetTotal()),
		ShippingAddress:   addressOf(s.GetShippingAddress()),
		BillingAddress:    addressOf(s.GetBillingAddress()),
		EstimatedDelivery: s.GetEstimatedDelivery(),
		Seq:               o.GetSeq(),
		CreatedAt:         s.GetCreatedAt().AsTime().UTC(),
		UpdatedAt:         s.GetUpdatedAt().AsTime().UTC(),
	}
	if m := s.GetShippingMethod(); m != nil {
		out.ShippingMethod = emporium.ShippingMethod{ID: m.Id, Name: m.Name, Price: moneyOf(m.Price, s.GetTotal()),
			MinDays: int(m.MinDays), MaxDays: int(m.MaxDays)}
	}
	if s.GetOutcome() != "" {
		out.FailureReason, out.FailureDetail = s.GetFailureReason(), s.GetFailureDetail()
		out.OutOfStockSKUs = s.GetOutOfStockSkus()
	}
	for i, l := range s.GetLines() {
		out.Lines[i] = lineOf(l, s.GetTotal())
	}
	for _, sh := range s.GetShipments() {
		out.Shipments = append(out.Shipments, shipmentOf(sh))
	}
	return out
}

// shipmentOf presents a shipment.
func shipmentOf(sh *pb.Shipment) emporium.Shipment {
	out := emporium.Shipment{ID: sh.Id, VendorID: sh.VendorId, Carrier: sh.Carrier, TrackingNumber: sh.TrackingNumber,
		Lines: slices.Clone(sh.Lines), ShippedAt: sh.ShippedAt.AsTime().UTC()}
	if out.Lines == nil {
		out.Lines = []string{}
	}
	if sh.DeliveredAt != nil {
		at := sh.DeliveredAt.AsTime().UTC()
		out.DeliveredAt = &at
	}
	return out
}

// lineOf presents an order line, its amounts in the order's currency when
// they carry none; its options are never nil.
func lineOf(l *pb.Line, order *pb.Money) emporium.OrderLine {
	out := emporium.OrderLine{
		LineID: l.LineId, ProductID: l.ProductId, VendorID: l.VendorId, SKU: l.Sku, Title: l.Title,
		Options: maps.Clone(l.Options), Quantity: l.Quantity,
		UnitPrice: moneyOf(l.UnitPrice, order), LineTotal: moneyOf(l.LineTotal, order),
		FulfillmentStatus: l.FulfillmentStatus,
	}
	if out.Options == nil {
		out.Options = map[string]string{}
	}
	return out
}

// moneyOf presents m, in the order's currency when m carries none (an
// amount not yet set, such as nothing refunded).
func moneyOf(m, order *pb.Money) emporium.Money {
	cur := m.GetCurrency()
	if cur == "" {
		cur = order.GetCurrency()
	}
	return emporium.Money{Amount: m.GetAmount(), Currency: cur}
}

func addressOf(a *pb.Address) emporium.OrderAddress {
	return emporium.OrderAddress{
		FullName: a.GetFullName(), Line1: a.GetLine1(), Line2: a.GetLine2(), City: a.GetCity(),
		Region: a.GetRegion(), PostalCode: a.GetPostalCode(), Country: a.GetCountry(), Phone: a.GetPhone(),
	}
}
