package node

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors/inventory"
	"github.com/emporium-shop/emporium/mail"
)

// Back-in-stock notices: the InventoryGrain owes each subscriber of a
// restock round one notice (inventory.Notice) and calls notifyAlert until
// the notice is recorded. The grain sends a notice again only when it
// cannot know that it was sent (a node died between the mail and the
// record), so notifyAlert claims the notice's key in Redis, shared by
// every node, before it sends: a second call for a key sent already sends
// nothing, and one for a key being sent elsewhere is told to retry.

// Lifetimes of a notice's claim: sendingTTL outlives one attempt (the
// grain's notice timeout) so that two sends cannot overlap, and sentTTL
// outlives any retry of the grain.
const (
	alertSendingTTL = time.Minute
	alertSentTTL    = 30 * 24 * time.Hour
)

// notifyAlert sends the notice's user one back-in-stock mail and one
// stock.changed push, once per notice.Key().
func (n *Node) notifyAlert(ctx context.Context, notice inventory.Notice) error {
	if !n.servicesReady.Load() {
		return emporium.Errorf(emporium.EUNAVAILABLE, "the node is starting")
	}
	var sent bool
	err := once(ctx, n.Redis, "emporium:"+notice.Key(), n.Logger, func() (err error) {
		sent, err = n.sendAlert(ctx, notice)
		return err
	})
	if err != nil {
		return err
	}
	if sent {
		n.livePub.Publish(notice.UserID, emporium.LiveEvent{Type: emporium.StockEventType, ID: notice.SKU, Seq: notice.Seq,
			Data: emporium.StockAlertEvent{ProductID: notice.ProductID, SKU: notice.SKU, Available: notice.Available,
				InStock: notice.Available > 0}})
	}
	return nil
}

// once runs send unless it ran to success for key before, on any node: it
// claims key in Redis ("sending") for the attempt, and marks it "sent"
// after a success. A key being sent elsewhere is EUNAVAILABLE, for the
// caller to retry; a failed send releases the claim. Only a crash between
// the send and the mark can let a later retry send again, after the claim
// expires.
func once(ctx context.Context, rdb *redis.Client, key string, logger *slog.Logger, send func() error) error {
	claimed, err := rdb.SetNX(ctx, key, "sending", alertSendingTTL).Result()
	if err != nil {
		return emporium.Errorf(emporium.EUNAVAILABLE, "claiming %s: %v", key, err)
	}
	if !claimed {
		state, err := rdb.Get(ctx, key).Result()
		if err == nil && state == "sent" {
			return nil
		}
		return emporium.Errorf(emporium.EUNAVAILABLE, "%s is being sent elsewhere", key)
	}
	if err := send(); err != nil {
		// Let the next try claim it again.
		if derr := rdb.Del(context.WithoutCancel(ctx), key).Err(); derr != nil {
			logger.Warn("releasing a claim", slog.String("key", key), slog.Any("error", derr))
		}
		return err
	}
	if err := rdb.Set(context.WithoutCancel(ctx), key, "sent", alertSentTTL).Err(); err != nil {
		// The send happened; the claim expires and a rare duplicate may
		// follow a crash, which is all a lost mark can cost.
		logger.Warn("marking a claim done", slog.String("key", key), slog.Any("error", err))
	}
	return nil
}

// sendAlert mails the notice. A product that is no longer on sale, or a
// user who is gone, gets no mail and no push (sent false): there is
// nothing left to tell.
func (n *Node) sendAlert(ctx context.Context, notice inventory.Notice) (sent bool, err error) {
	prod, err := n.Catalog.Product(ctx, notice.ProductID)
	if emporium.IsCode(err, emporium.ENOTFOUND) {
		n.Logger.Info("alerts: the product is off sale; no notice", slog.String("product", notice.ProductID))
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("the product of a notice: %w", err)
	}
	acct, err := n.Accounts.Account(ctx, emporium.Principal{UserID: notice.UserID})
	if emporium.IsCode(err, emporium.ENOTFOUND) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("the subscriber's address: %w", err)
	}
	d := mail.BackInStockData{Name: acct.Name, Title: prod.Title,
		Link: strings.TrimRight(n.Config.PublicURL, "/") + "/v1/products/" + prod.ID}
	for _, v := range prod.Variants {
		if v.SKU == notice.SKU {
			d.Options = optionWords(v.Options)
		}
	}
	if err := n.mail.Send(ctx, mail.BackInStock(acct.Email, d)); err != nil {
		return false, err
	}
	return true, nil
}
