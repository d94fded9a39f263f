package node

import (
	"context"
	"log/slog"
	"time"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors/user"
	userpb "github.com/emporium-shop/emporium/protos/userpb"
)

// Store names and usernames moved to new uniqueness keys (user.StoreNameKey
// and user.UsernameKey: the Unicode confusables skeleton). A UserGrain
// re-keys its store when it activates; rekeyNames activates every vendor
// once after the upgrade, so that lookalikes of stores nobody has touched
// since are refused too, and claims each legacy username's new key. A marker
// document records that a pass finished, so later starts skip it.
const (
	migrationsCollection = "migrations"
	rekeyMarker          = "store-name-keys-tr39"
	usernameMarker       = "username-keys-tr39"
	rekeyBatch           = 200
)

// rekeyNames runs both passes, usernames first (cheap, and signups check
// legacy keys meanwhile).
func (n *Node) rekeyNames(ctx context.Context) {
	n.rekeyUsernames(ctx)
	n.rekeyStoreNames(ctx)
}

// rekeyUsernames claims the new key of every username claimed under its
// legacy key, unless an earlier start finished the pass.
func (n *Node) rekeyUsernames(ctx context.Context) {
	docs := n.Store.Documents(migrationsCollection)
	if _, err := docs.Get(ctx, usernameMarker, nil); err == nil || !emporium.IsCode(err, emporium.ENOTFOUND) {
		return
	}
	claimed, err := n.Accounts.RekeyUsernames(ctx, n.Store.Projections())
	if err != nil {
		n.Logger.Warn("re-keying usernames did not finish; the next start tries again", slog.Any("error", err))
		return
	}
	if _, err := docs.Put(ctx, usernameMarker, 0, map[string]any{"claimed": claimed, "done_at": time.Now().UTC()}); err != nil &&
		!emporium.IsCode(err, emporium.ECONFLICT) {
		n.Logger.Warn("re-keying usernames: recording the pass failed", slog.Any("error", err))
		return
	}
	if claimed > 0 {
		n.Logger.Info("usernames re-keyed", slog.Int("claimed", claimed))
	}
}

// rekeyStoreNames activates each vendor's grain once, unless an earlier
// start finished the pass. It runs in the background and stops with ctx; a
// vendor whose activation fails is logged and re-keyed at its next
// activation.
func (n *Node) rekeyStoreNames(ctx context.Context) {
	docs := n.Store.Documents(migrationsCollection)
	if _, err := docs.Get(ctx, rekeyMarker, nil); err == nil || !emporium.IsCode(err, emporium.ENOTFOUND) {
		return // done, or the store cannot tell: the next start tries again
	}
	start, count, failed := time.Now(), 0, 0
	err := n.Store.Projections().EachID(ctx, user.VendorsCollection, rekeyBatch, func(ids []string) error {
		for _, id := range ids {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			count++
			if _, err := userpb.GetUserGrainGrainClient(n.Cluster, id).Get(&userpb.GetRequest{}); err != nil {
				failed++
				n.Logger.Warn("re-keying store names: a vendor did not activate", slog.String("user", id), slog.Any("error", err))
			}
		}
		return nil
	})
	if err != nil || failed > 0 {
		n.Logger.Warn("re-keying store names did not finish; the next start tries again",
			slog.Int("vendors", count), slog.Int("failed", failed), slog.Any("error", err))
		return
	}
	if _, err := docs.Put(ctx, rekeyMarker, 0, map[string]any{"vendors": count, "done_at": time.Now().UTC()}); err != nil &&
		!emporium.IsCode(err, emporium.ECONFLICT) {
		n.Logger.Warn("re-keying store names: recording the pass failed", slog.Any("error", err))
		return
	}
	if count > 0 {
		n.Logger.Info("store names re-keyed", slog.Int("vendors", count), slog.Duration("took", time.Since(start).Round(time.Millisecond)))
	}
}
