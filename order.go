package emporium

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// Orders is the order service (DESIGN §4 Checkout saga): shipping methods
// and totals, placing an order from the caller's cart, and the buyer's view
// of their orders. actors/order implements it over the OrderGrain; the
// gateway serves it. Every method acts on the caller's own orders only:
// another user's order is ENOTFOUND.
type Orders interface {
	// ShippingMethods lists the shipping methods offered to country (ISO
	// 3166-1 alpha-2; empty for the default list).
	ShippingMethods(ctx context.Context, country string) ([]ShippingMethod, error)
	// Preview prices the caller's cart for an address and a shipping
	// method, exactly as PlaceOrder would.
	Preview(ctx context.Context, p Principal, in CheckoutInput) (CheckoutPreview, error)
	// PlaceOrder turns the caller's cart into an order and starts its
	// checkout saga. key is the Idempotency-Key: the order's identity is
	// derived from the caller and the key, so a retry answers the same
	// order (as it is now); the same key with another body is EIDEMPOTENCY.
	// wait bounds how long to wait for the saga's outcome; the answer is
	// the order as it is when the wait ends (pending when it has not
	// finished).
	PlaceOrder(ctx context.Context, p Principal, in PlaceOrderInput, key string, wait time.Duration) (Order, error)
	// Order answers one of the caller's orders.
	Order(ctx context.Context, p Principal, id string) (Order, error)
	// ListOrders lists the caller's orders, newest first.
	ListOrders(ctx context.Context, p Principal, cursor string, limit int) (OrderPage, error)
	// CancelOrder cancels one of the caller's orders that has not shipped:
	// its stock goes back and its payment is voided or refunded.
	CancelOrder(ctx context.Context, p Principal, id string, key string) (Order, error)
	// ConfirmPayment tells an order waiting for the buyer's approval of its
	// payment (awaiting_payment) that the buyer came back from approving.
	ConfirmPayment(ctx context.Context, p Principal, id string) (Order, error)
	// VendorOrders lists the calling vendor's part of the orders holding
	// their lines, newest first; fulfillment, when not empty, keeps only
	// those whose FulfillmentStatus it is. A caller who is no vendor is
	// EFORBIDDEN.
	VendorOrders(ctx context.Context, p Principal, fulfillment, cursor string, limit int) (VendorOrderPage, error)
	// VendorOrder answers the calling vendor's part of one order: an order
	// without lines of theirs is ENOTFOUND, as one that does not exist.
	VendorOrder(ctx context.Context, p Principal, id string) (VendorOrder, error)
	// Ship records the calling vendor's shipment of their unshipped lines
	// of order id (those in.Lines names, or all of them) and answers their
	// part of the order. key, the Idempotency-Key, may be empty: the same
	// shipment sent again is answered as it is. A line not theirs is
	// ENOTFOUND; one shipped by another shipment is ECONFLICT.
	Ship(ctx context.Context, p Principal, id string, in ShipInput, key string) (VendorOrder, error)
	// Deliver records that the calling vendor's shipped lines of order id
	// (those in.Lines names, or all of them) were delivered.
	Deliver(ctx context.Context, p Principal, id string, in DeliverInput, key string) (VendorOrder, error)

	// AdminOrders lists every order matching f, newest first. A caller who
	// is no admin is EFORBIDDEN, as for every Admin... method.
	AdminOrders(ctx context.Context, p Principal, f OrderFilter, cursor string, limit int) (OrderPage, error)
	// AdminOrder answers any order.
	AdminOrder(ctx context.Context, p Principal, id string) (Order, error)
	// AdminCancelOrder cancels what has not shipped of order id: an order
	// with nothing shipped as the buyer would, else its unshipped lines,
	// their units returned and their share of the money refunded. key, the
	// Idempotency-Key, is required.
	AdminCancelOrder(ctx context.Context, p Principal, id string, in CancelInput, key string) (Order, error)
	// RefundOrder refunds money of a confirmed order through its payment
	// provider: in.Amount, or the share of in.Lines, or all that is left.
	// key, the Idempotency-Key, is required.
	RefundOrder(ctx context.Context, p Principal, id string, in RefundInput, key string) (Order, error)
}

// Limits of fulfilment requests; text is counted in characters.
const (
	// MaxCarrierLength bounds ShipInput.Carrier.
	MaxCarrierLength = 64
	// MaxTrackingNumberLength bounds ShipInput.TrackingNumber.
	MaxTrackingNumberLength = 64
	// MaxReasonLength bounds the reason of a cancellation or a refund.
	MaxReasonLength = 500
	// MaxRequestLines bounds the line ids one request names: an order
	// holds at most as many lines as a cart.
	MaxRequestLines = 100
	// MaxLineIDLength bounds a line id a request names.
	MaxLineIDLength = 64
)

// ValidTrackingNumber reports whether v has the form of a carrier's
// tracking number: letters and digits, some grouped by spaces, dashes, dots
// or slashes, starting with a letter or a digit.
func ValidTrackingNumber(v string) bool {
	for i, r := range v {
		alnum := r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune(" -./", r)) {
			return false
		}
	}
	return v != ""
}

// ShipInput is the body of POST /v1/vendor/orders/{id}/ship.
type ShipInput struct {
	Carrier        string `json:"carrier"`
	TrackingNumber string `json:"tracking_number"`
	// Lines are the line ids shipped; empty for all the vendor's unshipped
	// lines.
	Lines []string `json:"lines,omitempty"`
}

// DeliverInput is the body of POST /v1/vendor/orders/{id}/deliver, which
// may be absent.
type DeliverInput struct {
	// Lines are the line ids delivered; empty for all the vendor's shipped
	// lines.
	Lines []string `json:"lines,omitempty"`
}

// CancelInput is the body of POST /v1/admin/orders/{id}/cancel, which may
// be absent.
type CancelInput struct {
	// Reason says why; the buyer reads it.
	Reason string `json:"reason,omitempty"`
}

// RefundInput is the body of POST /v1/admin/orders/{id}/refund.
type RefundInput struct {
	// Amount, when set, is what to refund, in the order's currency.
	Amount *Money `json:"amount,omitempty"`
	// Lines, when set, are refunded (they count out of the order's
	// fulfilment); without Amount their share of the order is refunded.
	Lines []string `json:"lines,omitempty"`
	// Reason says why; required.
	Reason string `json:"reason"`
}

// OrderFilter narrows an admin's list of orders; empty members do not
// filter.
type OrderFilter struct {
	Status   string
	BuyerID  string
	VendorID string
}

// OrderStatuses are the values of Order.Status.
var OrderStatuses = []string{OrderPending, OrderAwaitingPayment, OrderConfirmed, OrderProcessing, OrderShipped,
	OrderDelivered, OrderCancelled, OrderFailed, OrderRefunded}

// Order statuses (DESIGN §4). Terminal: failed, cancelled, refunded,
// delivered.
const (
	OrderPending         = "pending"
	OrderAwaitingPayment = "awaiting_payment"
	OrderConfirmed       = "confirmed"
	OrderProcessing      = "processing"
	OrderShipped         = "shipped"
	OrderDelivered       = "delivered"
	OrderCancelled       = "cancelled"
	OrderFailed          = "failed"
	OrderRefunded        = "refunded"
)

// Payment statuses of an order.
const (
	PaymentPending           = "pending"
	PaymentRequiresApproval  = "requires_approval"
	PaymentAuthorized        = "authorized"
	PaymentCaptured          = "captured"
	PaymentVoided            = "voided"
	PaymentRefunded          = "refunded"
	PaymentPartiallyRefunded = "partially_refunded"
	PaymentDeclined          = "declined"
	PaymentNone              = "none"
)

// Reasons an order failed (Order.FailureReason); also problem codes.
const (
	ReasonOutOfStock         = "out_of_stock"
	ReasonPaymentDeclined    = "payment_declined"
	ReasonInsufficientFunds  = "insufficient_funds"
	ReasonReservationExpired = "reservation_expired"
	ReasonPaymentExpired     = "payment_expired"
	ReasonPaymentError       = "payment_error"
	ReasonNotPurchasable     = "not_purchasable"
	ReasonCancelled          = "cancelled"
)

// ShippingMethod is one way to ship an order.
type ShippingMethod struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Price Money  `json:"price"`
	// MinDays and MaxDays are the estimated business days in transit.
	MinDays int `json:"min_days"`
	MaxDays int `json:"max_days"`
}

// CheckoutInput names where and how the cart ships.
type CheckoutInput struct {
	ShippingAddressID string `json:"shipping_address_id"`
	ShippingMethod    string `json:"shipping_method"`
}

// CheckoutPreview is what an order of the cart would cost.
type CheckoutPreview struct {
	Lines             []OrderLine    `json:"lines"`
	Subtotal          Money          `json:"subtotal"`
	Shipping          Money          `json:"shipping"`
	Tax               Money          `json:"tax"`
	Total             Money          `json:"total"`
	ShippingMethod    ShippingMethod `json:"shipping_method"`
	EstimatedDelivery string         `json:"estimated_delivery"`
}

// PaymentInput chooses a provider and the buyer's payment method there: a
// token or payment-method id, never card data.
type PaymentInput struct {
	Provider string `json:"provider"`
	Token    string `json:"token,omitempty"`
	// ReturnURL is where a provider that needs the buyer's approval sends
	// them back.
	ReturnURL string `json:"return_url,omitempty"`
}

// PlaceOrderInput is the body of POST /v1/orders.
type PlaceOrderInput struct {
	ShippingAddressID string       `json:"shipping_address_id"`
	BillingAddressID  string       `json:"billing_address_id,omitempty"`
	ShippingMethod    string       `json:"shipping_method"`
	Payment           PaymentInput `json:"payment"`
	// ExpectedTotal, when set (from a preview), refuses the order with
	// EPRICECHANGED if the total differs.
	ExpectedTotal *Money `json:"expected_total,omitempty"`
}

// OrderLine is one SKU of an order, priced when the order was placed.
type OrderLine struct {
	LineID    string            `json:"line_id"`
	ProductID string            `json:"product_id"`
	VendorID  string            `json:"vendor_id"`
	SKU       string            `json:"sku"`
	Title     string            `json:"title"`
	Options   map[string]string `json:"options"`
	Quantity  int64             `json:"quantity"`
	UnitPrice Money             `json:"unit_price"`
	LineTotal Money             `json:"line_total"`
	// FulfillmentStatus is unfulfilled, shipped, delivered or cancelled.
	FulfillmentStatus string `json:"fulfillment_status"`
}

// OrderAddress is an address as the order holds it: a copy taken when the
// order was placed.
type OrderAddress struct {
	FullName   string `json:"full_name"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2"`
	City       string `json:"city"`
	Region     string `json:"region"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
	Phone      string `json:"phone"`
}

// Shipment is one vendor's shipment of order lines.
type Shipment struct {
	// ID names the shipment within its order ("shp_1", "shp_2", ...).
	ID             string `json:"id"`
	VendorID       string `json:"vendor_id"`
	Carrier        string `json:"carrier"`
	TrackingNumber string `json:"tracking_number"`
	// Lines are the ids of the order lines shipped.
	Lines     []string  `json:"lines"`
	ShippedAt time.Time `json:"shipped_at"`
	// DeliveredAt is set once every line of the shipment was delivered.
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

// OrderPayment is the payment of an order as its buyer sees it: never card
// data.
type OrderPayment struct {
	Provider string `json:"provider"`
	Status   string `json:"status"`
	// ApprovalURL is where the buyer approves the payment while the order
	// is awaiting_payment.
	ApprovalURL string `json:"approval_url,omitempty"`
	Captured    Money  `json:"captured"`
	Refunded    Money  `json:"refunded"`
}

// Order is an order as the API shows it.
type Order struct {
	ID                string         `json:"id"`
	Status            string         `json:"status"`
	PaymentStatus     string         `json:"payment_status"`
	Payment           OrderPayment   `json:"payment"`
	Lines             []OrderLine    `json:"lines"`
	Shipments         []Shipment     `json:"shipments"`
	Subtotal          Money          `json:"subtotal"`
	Shipping          Money          `json:"shipping"`
	Tax               Money          `json:"tax"`
	Total             Money          `json:"total"`
	ShippingMethod    ShippingMethod `json:"shipping_method"`
	ShippingAddress   OrderAddress   `json:"shipping_address"`
	BillingAddress    OrderAddress   `json:"billing_address"`
	EstimatedDelivery string         `json:"estimated_delivery,omitempty"`
	// FailureReason is one of the Reason... codes when the order failed or
	// was cancelled; FailureDetail says it in words (e.g. the SKUs out of
	// stock in OutOfStockSKUs).
	FailureReason  string    `json:"failure_reason,omitempty"`
	FailureDetail  string    `json:"failure_detail,omitempty"`
	OutOfStockSKUs []string  `json:"out_of_stock_skus,omitempty"`
	Seq            uint64    `json:"seq"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// OrderPage is one page of a buyer's orders.
type OrderPage struct {
	Items      []Order `json:"items"`
	NextCursor string  `json:"next_cursor"`
}

// Fulfilment statuses of an order line (OrderLine.FulfillmentStatus).
// Cancelled and refunded lines are counted out of their vendor's
// fulfilment.
const (
	LineUnfulfilled = "unfulfilled"
	LineShipped     = "shipped"
	LineDelivered   = "delivered"
	LineCancelled   = "cancelled"
	LineRefunded    = "refunded"
)

// Fulfilment statuses of a vendor's part of an order
// (VendorOrder.FulfillmentStatus), computed from its lines by
// order.VendorFulfillment.
const (
	// FulfillmentUnfulfilled: none of the vendor's live lines has shipped.
	FulfillmentUnfulfilled = "unfulfilled"
	// FulfillmentPartiallyShipped: some live lines shipped (or were
	// delivered), others not yet.
	FulfillmentPartiallyShipped = "partially_shipped"
	// FulfillmentShipped: every live line shipped, not all delivered.
	FulfillmentShipped = "shipped"
	// FulfillmentDelivered: every live line delivered.
	FulfillmentDelivered = "delivered"
	// FulfillmentCancelled: no live line is left (all cancelled or
	// refunded).
	FulfillmentCancelled = "cancelled"
)

// FulfillmentStatuses are the values of VendorOrder.FulfillmentStatus.
var FulfillmentStatuses = []string{FulfillmentUnfulfilled, FulfillmentPartiallyShipped, FulfillmentShipped,
	FulfillmentDelivered, FulfillmentCancelled}

// VendorOrder is a vendor's part of an order as the vendor sees it: only
// their lines, where they ship, and nothing of the buyer's payment.
type VendorOrder struct {
	// ID is the order's id.
	ID string `json:"id"`
	// Status is the order's status.
	Status string `json:"status"`
	// FulfillmentStatus sums up the fulfilment of the vendor's lines.
	FulfillmentStatus string      `json:"fulfillment_status"`
	Lines             []OrderLine `json:"lines"`
	// Shipments are the vendor's shipments of the order.
	Shipments []Shipment `json:"shipments"`
	// Subtotal is the sum of the vendor's lines.
	Subtotal        Money          `json:"subtotal"`
	ShippingMethod  ShippingMethod `json:"shipping_method"`
	ShippingAddress OrderAddress   `json:"shipping_address"`
	// Seq is the order's seq when this part was last written.
	Seq       uint64    `json:"seq"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// VendorOrderPage is one page of a vendor's orders.
type VendorOrderPage struct {
	Items      []VendorOrder `json:"items"`
	NextCursor string        `json:"next_cursor"`
}

// VendorOrderEventType is the type of the live event a vendor is told of a
// new order of theirs by.
const VendorOrderEventType = "vendor.order.created"

// OrderEventType is the type of the live event an order change is pushed
// as.
const OrderEventType = "order.updated"

// PaymentWebhooks receives payment providers' notifications (POST
// /v1/webhooks/{provider}). The body is verified raw (a signature over the
// exact bytes), then parsed leniently: providers add fields. A delivery
// that is unsigned, forged, altered or stale is EUNAUTHENTICATED and changes
// nothing; one delivered again or out of order is applied once and never
// moves an order backwards.
type PaymentWebhooks interface {
	Deliver(ctx context.Context, provider string, header http.Header, body []byte) error
}

// OrderTotals are the amounts an order adds up to.
type OrderTotals struct {
	Subtotal Money `json:"subtotal"`
	Shipping Money `json:"shipping"`
	Tax      Money `json:"tax"`
	Total    Money `json:"total"`
}

// TotalsExtension names the extension (Error.Extensions) of an
// EPRICECHANGED error that carries the order's totals now, an OrderTotals;
// the gateway answers it as the problem's `totals` member.
const TotalsExtension = "totals"

// PriceChanged returns the EPRICECHANGED error of an order whose total is
// not the expected_total the client sent: it carries the totals now, for the
// client to show and to send back as the new expected_total.
func PriceChanged(now OrderTotals) *Error {
	return &Error{
		Code:       EPRICECHANGED,
		Message:    "The order's total differs from expected_total: a price or the shipping changed since the preview. See totals for the amounts now.",
		Extensions: map[string]any{TotalsExtension: now},
	}
}
