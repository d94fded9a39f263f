package emporium

import (
	"context"
	"time"
)

// Alerts are back-in-stock alerts: a signed-in buyer asks to be told when a
// sold-out variant comes back. When its available units go from 0 to above
// 0, every subscriber gets one email and one StockEventType push, and the
// subscription ends.
type Alerts interface {
	// SubscribeAlert subscribes the caller to the return of the product's
	// variant sku. It answers the subscription and whether this call made
	// it (false: the caller was subscribed already). An unknown or inactive
	// product, or a sku not of that product, is ENOTFOUND; a variant with
	// units available is ECONFLICT; a caller with MaxAlertsPerUser active
	// alerts is ECONFLICT.
	SubscribeAlert(ctx context.Context, p Principal, productID, sku string) (alert Alert, created bool, err error)
	// UnsubscribeAlert ends the caller's subscription to sku, if any: ending
	// one that does not exist changes nothing. An unknown product or a sku
	// not of that product is ENOTFOUND.
	UnsubscribeAlert(ctx context.Context, p Principal, productID, sku string) error
	// MyAlerts lists the caller's active alerts, by SKU, one page at a
	// time. It is a read model: a subscription made a moment ago may take a
	// moment to show.
	MyAlerts(ctx context.Context, p Principal, page Page) (AlertList, error)
}

// MaxAlertsPerUser is how many active back-in-stock alerts one user may
// hold at once.
const MaxAlertsPerUser = 50

// StockEventType is the live event pushed to a subscriber when the variant
// they waited for is back in stock: its ID is the SKU and its Data a
// StockAlertEvent.
const StockEventType = "stock.changed"

// Alert is one back-in-stock subscription.
type Alert struct {
	ProductID string `json:"product_id"`
	SKU       string `json:"sku"`
	// Status is "active" while the subscription waits.
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

// AlertList is one page of alerts.
type AlertList struct {
	Items      []Alert `json:"items"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

// StockAlertEvent is the data of a StockEventType push.
type StockAlertEvent struct {
	ProductID string `json:"product_id"`
	SKU       string `json:"sku"`
	Available int64  `json:"available"`
	InStock   bool   `json:"in_stock"`
}
