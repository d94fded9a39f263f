package gateway_test

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	emporium "github.com/emporium-shop/emporium"
)

// fakeOrders is the order service behind the gateway in these tests: it
// records every call and answers a fixed order, or the error set for the
// method in fail. Another user's order (any id but those of the caller's,
// which start with the user id) is ENOTFOUND, as the real service answers.
type fakeOrders struct {
	mu    sync.Mutex
	calls []call
	fail  map[string]error
	// sparse makes the answers carry nil lists, as a pending order or an
	// empty page may.
	sparse bool
}

func newFakeOrders() *fakeOrders { return &fakeOrders{fail: map[string]error{}} }

func (f *fakeOrders) record(method string, p emporium.Principal, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{method, p, args})
	return f.fail[method]
}

func (f *fakeOrders) setFail(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[method] = err
}

// called returns the calls of method, or every call when method is "".
func (f *fakeOrders) called(method string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.method == method || method == "" {
			out = append(out, c)
		}
	}
	return out
}

// last returns the one call of method, failing the test if there is not
// exactly one.
func (f *fakeOrders) last(t *testing.T, method string) call {
	t.Helper()
	calls := f.called(method)
	require.Len(t, calls, 1, "calls of %s", method)
	return calls[0]
}

func usd(amount int64) emporium.Money { return emporium.Money{Amount: amount, Currency: "USD"} }

var (
	orderTime = time.Date(2026, 6, 1, 9, 30, 0, 0, time.UTC)
	standard  = emporium.ShippingMethod{ID: "standard", Name: "Standard", Price: usd(500), MinDays: 3, MaxDays: 5}
	express   = emporium.ShippingMethod{ID: "express", Name: "Express", Price: usd(1500), MinDays: 1, MaxDays: 2}
	home      = emporium.OrderAddress{FullName: "Alice Liddell", Line1: "1 Rabbit Hole", City: "Oxford", PostalCode: "OX1 1AA", Country: "GB", Phone: "+441865000000"}
)

func sampleLines() []emporium.OrderLine {
	return []emporium.OrderLine{
		{LineID: "l1", ProductID: "p1", VendorID: "v1", SKU: "TEE-RED-M", Title: "Tee", Options: map[string]string{"color": "red", "size": "M"},
			Quantity: 2, UnitPrice: usd(1000), LineTotal: usd(2000), FulfillmentStatus: "shipped"},
		{LineID: "l2", ProductID: "p2", VendorID: "v2", SKU: "MUG", Title: "Mug", Quantity: 1, UnitPrice: usd(800), LineTotal: usd(800),
			FulfillmentStatus: "unfulfilled"},
	}
}

// order is one of the caller's orders, with id and status.
func (f *fakeOrders) order(p emporium.Principal, id, status string) emporium.Order {
	if f.sparse {
		return emporium.Order{
			ID: id, Status: emporium.OrderPending, PaymentStatus: emporium.PaymentPending,
			Payment:  emporium.OrderPayment{Provider: "sandbox", Status: emporium.PaymentPending, Captured: usd(0), Refunded: usd(0)},
			Subtotal: usd(2800), Shipping: usd(500), Tax: usd(330), Total: usd(3630), ShippingMethod: standard,
			ShippingAddress: home, BillingAddress: home, Seq: 1, CreatedAt: orderTime, UpdatedAt: orderTime,
		}
	}
	delivered := orderTime.Add(72 * time.Hour)
	return emporium.Order{
		ID: id, Status: status, PaymentStatus: emporium.PaymentCaptured,
		Payment: emporium.OrderPayment{Provider: "sandbox", Status: emporium.PaymentCaptured, Captured: usd(3630), Refunded: usd(0)},
		Lines:   sampleLines(),
		Shipments: []emporium.Shipment{{VendorID: "v1", Carrier: "UPS", TrackingNumber: "1Z999", Lines: []string{"l1"},
			ShippedAt: orderTime.Add(24 * time.Hour), DeliveredAt: &delivered}},
		Subtotal: usd(2800), Shipping: usd(500), Tax: usd(330), Total: usd(3630), ShippingMethod: standard,
		ShippingAddress: home, BillingAddress: home, EstimatedDelivery: "2026-06-05",
		Seq: 7, CreatedAt: orderTime, UpdatedAt: orderTime.Add(time.Hour),
	}
}

// owns is how the fake tells the caller's orders from others'.
func owns(p emporium.Principal, id string) bool {
	return len(id) > len(p.UserID) && id[:len(p.UserID)] == p.UserID
}

func (f *fakeOrders) ShippingMethods(ctx context.Context, country string) ([]emporium.ShippingMethod, error) {
	if err := f.record("ShippingMethods", none, country); err != nil {
		return nil, err
	}
	if f.sparse {
		return nil, nil
	}
	return []emporium.ShippingMethod{standard, express}, nil
}

func (f *fakeOrders) Preview(ctx context.Context, p emporium.Principal, in emporium.CheckoutInput) (emporium.CheckoutPreview, error) {
	if err := f.record("Preview", p, in); err != nil {
		return emporium.CheckoutPreview{}, err
	}
	preview := emporium.CheckoutPreview{Subtotal: usd(2800), Shipping: usd(500), Tax: usd(330), Total: usd(3630),
		ShippingMethod: standard, EstimatedDelivery: "2026-06-05"}
	if !f.sparse {
		preview.Lines = sampleLines()
		for i := range preview.Lines {
			preview.Lines[i].LineID, preview.Lines[i].FulfillmentStatus = "", ""
		}
	}
	return preview, nil
}

func (f *fakeOrders) PlaceOrder(ctx context.Context, p emporium.Principal, in emporium.PlaceOrderInput, key string, wait time.Duration) (emporium.Order, error) {
	if err := f.record("PlaceOrder", p, in, key, wait); err != nil {
		return emporium.Order{}, err
	}
	return f.order(p, p.UserID+"-"+key, emporium.OrderConfirmed), nil
}

func (f *fakeOrders) Order(ctx context.Context, p emporium.Principal, id string) (emporium.Order, error) {
	if err := f.record("Order", p, id); err != nil {
		return emporium.Order{}, err
	}
	if !owns(p, id) {
		return emporium.Order{}, emporium.Errorf(emporium.ENOTFOUND, "No such order.")
	}
	return f.order(p, id, emporium.OrderDelivered), nil
}

func (f *fakeOrders) ListOrders(ctx context.Context, p emporium.Principal, cursor string, limit int) (emporium.OrderPage, error) {
	if err := f.record("ListOrders", p, cursor, limit); err != nil {
		return emporium.OrderPage{}, err
	}
	if f.sparse {
		return emporium.OrderPage{}, nil
	}
	return emporium.OrderPage{Items: []emporium.Order{f.order(p, p.UserID+"-2", emporium.OrderShipped), f.order(p, p.UserID+"-1", emporium.OrderDelivered)},
		NextCursor: "c2"}, nil
}

func (f *fakeOrders) CancelOrder(ctx context.Context, p emporium.Principal, id string, key string) (emporium.Order, error) {
	if err := f.record("CancelOrder", p, id, key); err != nil {
		return emporium.Order{}, err
	}
	if !owns(p, id) {
		return emporium.Order{}, emporium.Errorf(emporium.ENOTFOUND, "No such order.")
	}
	o := f.order(p, id, emporium.OrderCancelled)
	o.PaymentStatus, o.Payment.Status, o.Payment.Refunded = emporium.PaymentRefunded, emporium.PaymentRefunded, usd(3630)
	o.FailureReason = emporium.ReasonCancelled
	o.Shipments = nil
	return o, nil
}

func (f *fakeOrders) ConfirmPayment(ctx context.Context, p emporium.Principal, id string) (emporium.Order, error) {
	if err := f.record("ConfirmPayment", p, id); err != nil {
		return emporium.Order{}, err
	}
	if !owns(p, id) {
		return emporium.Order{}, emporium.Errorf(emporium.ENOTFOUND, "No such order.")
	}
	return f.order(p, id, emporium.OrderConfirmed), nil
}

// vendorOrder is the vendor's part of order id: one line of theirs.
func (f *fakeOrders) vendorOrder(p emporium.Principal, id, status string) emporium.VendorOrder {
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	o := f.order(p, id, emporium.OrderConfirmed)
	lines := o.Lines[:1]
	lines[0].VendorID = p.UserID
	lines[0].FulfillmentStatus = emporium.LineUnfulfilled
	return emporium.VendorOrder{ID: id, Status: emporium.OrderConfirmed, FulfillmentStatus: status, Lines: lines,
		Subtotal: lines[0].LineTotal, ShippingMethod: o.ShippingMethod, ShippingAddress: o.ShippingAddress,
		Seq: 9, CreatedAt: at, UpdatedAt: at}
}

func (f *fakeOrders) VendorOrders(ctx context.Context, p emporium.Principal, fulfillment, cursor string, limit int) (emporium.VendorOrderPage, error) {
	if err := f.record("VendorOrders", p, fulfillment, cursor, limit); err != nil {
		return emporium.VendorOrderPage{}, err
	}
	if !p.HasRole(emporium.RoleVendor) {
		return emporium.VendorOrderPage{}, emporium.Errorf(emporium.EFORBIDDEN, "Only vendors.")
	}
	status := fulfillment
	if status == "" {
		status = emporium.FulfillmentUnfulfilled
	}
	return emporium.VendorOrderPage{Items: []emporium.VendorOrder{f.vendorOrder(p, "o-2", status)}, NextCursor: "c2"}, nil
}

func (f *fakeOrders) VendorOrder(ctx context.Context, p emporium.Principal, id string) (emporium.VendorOrder, error) {
	if err := f.record("VendorOrder", p, id); err != nil {
		return emporium.VendorOrder{}, err
	}
	if !p.HasRole(emporium.RoleVendor) {
		return emporium.VendorOrder{}, emporium.Errorf(emporium.EFORBIDDEN, "Only vendors.")
	}
	if id != "o-mine" {
		return emporium.VendorOrder{}, emporium.Errorf(emporium.ENOTFOUND, "No such order.")
	}
	return f.vendorOrder(p, id, emporium.FulfillmentUnfulfilled), nil
}

func (f *fakeOrders) Ship(ctx context.Context, p emporium.Principal, id string, in emporium.ShipInput, key string) (emporium.VendorOrder, error) {
	if err := f.record("Ship", p, id, in, key); err != nil {
		return emporium.VendorOrder{}, err
	}
	o := f.vendorOrder(p, id, emporium.FulfillmentShipped)
	o.Lines[0].FulfillmentStatus = emporium.LineShipped
	o.Shipments = []emporium.Shipment{{ID: "shp_1", VendorID: p.UserID, Carrier: in.Carrier, TrackingNumber: in.TrackingNumber,
		Lines: []string{o.Lines[0].LineID}, ShippedAt: o.UpdatedAt}}
	return o, nil
}

func (f *fakeOrders) Deliver(ctx context.Context, p emporium.Principal, id string, in emporium.DeliverInput, key string) (emporium.VendorOrder, error) {
	if err := f.record("Deliver", p, id, in, key); err != nil {
		return emporium.VendorOrder{}, err
	}
	return f.vendorOrder(p, id, emporium.FulfillmentDelivered), nil
}

func (f *fakeOrders) AdminOrders(ctx context.Context, p emporium.Principal, filter emporium.OrderFilter, cursor string, limit int) (emporium.OrderPage, error) {
	if err := f.record("AdminOrders", p, filter, cursor, limit); err != nil {
		return emporium.OrderPage{}, err
	}
	return emporium.OrderPage{Items: []emporium.Order{f.order(p, "o-1", emporium.OrderShipped)}}, nil
}

func (f *fakeOrders) AdminOrder(ctx context.Context, p emporium.Principal, id string) (emporium.Order, error) {
	if err := f.record("AdminOrder", p, id); err != nil {
		return emporium.Order{}, err
	}
	return f.order(p, id, emporium.OrderShipped), nil
}

func (f *fakeOrders) AdminCancelOrder(ctx context.Context, p emporium.Principal, id string, in emporium.CancelInput, key string) (emporium.Order, error) {
	if err := f.record("AdminCancelOrder", p, id, in, key); err != nil {
		return emporium.Order{}, err
	}
	return f.order(p, id, emporium.OrderCancelled), nil
}

func (f *fakeOrders) RefundOrder(ctx context.Context, p emporium.Principal, id string, in emporium.RefundInput, key string) (emporium.Order, error) {
	if err := f.record("RefundOrder", p, id, in, key); err != nil {
		return emporium.Order{}, err
	}
	return f.order(p, id, emporium.OrderRefunded), nil
}

var _ emporium.Orders = (*fakeOrders)(nil)

// fakeWebhooks records the deliveries it receives and answers err.
type fakeWebhooks struct {
	mu         sync.Mutex
	deliveries []delivery
	err        error
}

type delivery struct {
	provider string
	header   http.Header
	body     []byte
}

func (f *fakeWebhooks) Deliver(ctx context.Context, provider string, header http.Header, body []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deliveries = append(f.deliveries, delivery{provider, header.Clone(), bytes.Clone(body)})
	return f.err
}

func (f *fakeWebhooks) received() []delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]delivery(nil), f.deliveries...)
}

var _ emporium.PaymentWebhooks = (*fakeWebhooks)(nil)
