package catalog

import (
	"context"
	"time"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/inventory"
	inventorypb "github.com/emporium-shop/emporium/protos/inventorypb"
)

// Back-in-stock alerts: the subscriptions live in each SKU's
// InventoryGrain (see package inventory); the service checks that the SKU
// is a variant of an active product, the caller's limit, and lists the
// caller's alerts from the grains' read model.

var _ emporium.Alerts = (*Service)(nil)

// SubscribeAlert subscribes the caller to the return of the product's
// variant sku.
func (s *Service) SubscribeAlert(ctx context.Context, p emporium.Principal, productID, sku string) (emporium.Alert, bool, error) {
	const op = "catalog.SubscribeAlert"
	if err := s.variantOf(ctx, op, productID, sku); err != nil {
		return emporium.Alert{}, false, err
	}
	// The limit is checked on the read model, so two subscriptions made at
	// the same moment may both pass it: it bounds what a user can pile up,
	// not a race.
	var mine []alertDoc
	if err := s.cfg.Reads.List(ctx, inventory.AlertCollection, "active_user", p.UserID, "", emporium.MaxAlertsPerUser+1, &mine); err != nil {
		return emporium.Alert{}, false, emporium.Wrap(op, err)
	}
	if len(mine) >= emporium.MaxAlertsPerUser && !hasAlert(mine, sku) {
		return emporium.Alert{}, false, &emporium.Error{Code: emporium.ECONFLICT, Op: op,
			Message: "You have the most back-in-stock alerts one account may hold; remove one first."}
	}
	out, err := inventorypb.GetInventoryGrainGrainClient(s.cfg.Cluster, sku).SubscribeAlert(
		&inventorypb.SubscribeAlertRequest{CommandId: s.cfg.NewID(), UserId: p.UserID, ProductId: productID},
		actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		// In stock, or the SKU's own limit: the grain's message says which.
		return emporium.Alert{}, false, emporium.GrainCall(op, err)
	}
	a := emporium.Alert{ProductID: productID, SKU: sku, Status: "active"}
	if out.Alert != nil {
		a.CreatedAt = out.Alert.CreatedAt.AsTime()
		a.ProductID = out.Alert.ProductId
	}
	return a, out.Created, nil
}

// UnsubscribeAlert ends the caller's subscription to sku, if any.
func (s *Service) UnsubscribeAlert(ctx context.Context, p emporium.Principal, productID, sku string) error {
	const op = "catalog.UnsubscribeAlert"
	if err := s.variantOf(ctx, op, productID, sku); err != nil {
		return err
	}
	_, err := inventorypb.GetInventoryGrainGrainClient(s.cfg.Cluster, sku).UnsubscribeAlert(
		&inventorypb.UnsubscribeAlertRequest{CommandId: s.cfg.NewID(), UserId: p.UserID},
		actors.Within(ctx, s.cfg.Cluster))
	return emporium.GrainCall(op, err)
}

// MyAlerts lists the caller's active alerts.
func (s *Service) MyAlerts(ctx context.Context, p emporium.Principal, page emporium.Page) (emporium.AlertList, error) {
	const op = "catalog.MyAlerts"
	limit, err := pageLimit(op, page.Limit)
	if err != nil {
		return emporium.AlertList{}, err
	}
	var docs []alertDoc
	// One more than the page tells whether there is a next one. The
	// cursor is the document id, which begins with the caller's own id, so
	// no cursor reaches another user's alerts: the query is by the caller.
	if err := s.cfg.Reads.List(ctx, inventory.AlertCollection, "active_user", p.UserID, page.Cursor, limit+1, &docs); err != nil {
		return emporium.AlertList{}, emporium.Wrap(op, err)
	}
	out := emporium.AlertList{Items: make([]emporium.Alert, 0, min(len(docs), limit))}
	for i, d := range docs {
		if i == limit {
			out.NextCursor = docs[i-1].ID
			break
		}
		out.Items = append(out.Items, emporium.Alert{ProductID: d.ProductID, SKU: d.SKU, Status: d.Status, CreatedAt: d.CreatedAt.UTC()})
	}
	return out, nil
}

// variantOf answers ENOTFOUND unless sku is a variant of the active
// product productID.
func (s *Service) variantOf(ctx context.Context, op, productID, sku string) error {
	prod, err := s.Product(ctx, productID)
	if err != nil {
		return err
	}
	for _, v := range prod.Variants {
		if v.SKU == sku {
			return nil
		}
	}
	return &emporium.Error{Code: emporium.ENOTFOUND, Op: op, Message: "The product has no variant with this SKU."}
}

// alertDoc is an alert read-model document (inventory.AlertView) with its
// id.
type alertDoc struct {
	ID        string    `bson:"_id"`
	SKU       string    `bson:"sku"`
	ProductID string    `bson:"product_id"`
	Status    string    `bson:"status"`
	CreatedAt time.Time `bson:"created_at"`
}

func hasAlert(docs []alertDoc, sku string) bool {
	for _, d := range docs {
		if d.SKU == sku {
			return true
		}
	}
	return false
}
