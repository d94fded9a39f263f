package order

import (
	"context"
	"slices"
	"time"

	"github.com/emporium-shop/emporium"
)

// PurchaseCollection is the read-model collection of delivered purchases:
// one document per order line delivered, so that a buyer's right to
// review a product (a delivered line of it) is one indexed lookup. Its
// document id is the order id, "/", the line id; a line once delivered
// stays a purchase (a later refund does not unmake it).
const PurchaseCollection = "purchases"

// PurchaseField is the indexed field of a purchase: the buyer and the
// product (purchaseKey).
const PurchaseField = "buyer_product"

// Purchase is the read-model document of one delivered order line.
type Purchase struct {
	BuyerProduct string    `bson:"buyer_product"`
	BuyerID      string    `bson:"buyer_id"`
	ProductID    string    `bson:"product_id"`
	OrderID      string    `bson:"order_id"`
	LineID       string    `bson:"line_id"`
	DeliveredAt  time.Time `bson:"delivered_at"`
}

// purchaseKey is the value of PurchaseField for a buyer and a product.
func purchaseKey(buyerID, productID string) string { return buyerID + "|" + productID }

// Delivered reports whether the buyer has a delivered order line of the
// product: what a verified review needs.
func (s *Service) Delivered(ctx context.Context, buyerID, productID string) (bool, error) {
	if buyerID == "" || productID == "" {
		return false, nil
	}
	var found []Purchase
	if err := s.cfg.Reads.List(ctx, PurchaseCollection, PurchaseField, purchaseKey(buyerID, productID), "", 1, &found); err != nil {
		return false, emporium.Wrap("order.Delivered", err)
	}
	return len(found) > 0, nil
}

// newPurchases returns the purchase documents, by id, of the lines
// delivered in view that were not delivered in shown (all delivered lines
// when shown is nil: a new activation writes them again, which changes
// nothing).
func newPurchases(shown *View, view View) map[string]Purchase {
	var out map[string]Purchase
	for i, l := range view.Order.Lines {
		if l.FulfillmentStatus != emporium.LineDelivered {
			continue
		}
		if shown != nil && i < len(shown.Order.Lines) && shown.Order.Lines[i].FulfillmentStatus == emporium.LineDelivered {
			continue
		}
		if out == nil {
			out = map[string]Purchase{}
		}
		at := view.Order.UpdatedAt
		for _, sh := range view.Order.Shipments {
			if sh.DeliveredAt != nil && slices.Contains(sh.Lines, l.LineID) {
				at = *sh.DeliveredAt
			}
		}
		out[view.OrderID+"/"+l.LineID] = Purchase{BuyerProduct: purchaseKey(view.BuyerID, l.ProductID),
			BuyerID: view.BuyerID, ProductID: l.ProductID, OrderID: view.OrderID, LineID: l.LineID, DeliveredAt: at}
	}
	return out
}
