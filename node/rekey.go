package node

import (
	"context"
	"fmt"
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

// once runs pass, named marker, unless an earlier start recorded it done,
// and records it done when it succeeds. pass answers how many names it
// changed, for the log. A pass that fails, or a store that cannot say
// whether the pass ran, leaves it for the next start.
func (n *Node) once(ctx context.Context, marker string, pass func() (int, error)) {
	docs := n.Store.Documents(migrationsCollection)
	if _, err := docs.Get(ctx, marker, nil); err == nil || !emporium.IsCode(err, emporium.ENOTFOUND) {
		return
	}
	start := time.Now()
	changed, err := pass()
	if err != nil {
		n.Logger.Warn("a re-keying pass did not finish; the next start tries again", slog.String("pass", marker), slog.Any("error", err))
		return
	}
	_, err = docs.Put(ctx, marker, 0, map[string]any{"changed": changed, "done_at": time.Now().UTC()})
	if err != nil && !emporium.IsCode(err, emporium.ECONFLICT) {
		n.Logger.Warn("a re-keying pass could not be recorded", slog.String("pass", marker), slog.Any("error", err))
		return
	}
	if changed > 0 {
		n.Logger.Info("names re-keyed", slog.String("pass", marker), slog.Int("changed", changed),
			slog.Duration("took", time.Since(start).Round(time.Millisecond)))
	}
}

// rekeyUsernames claims the new key of every username claimed under its
// legacy key.
func (n *Node) rekeyUsernames(ctx context.Context) {
	n.once(ctx, usernameMarker, func() (int, error) {
		return n.Accounts.RekeyUsernames(ctx, n.Store.Projections())
	})
}

// rekeyStoreNames activates each vendor's grain once, which re-keys its
// store. A vendor whose activation fails is logged, and the pass is tried
// again at the next start (and the vendor re-keyed at its next activation
// meanwhile).
func (n *Node) rekeyStoreNames(ctx context.Context) {
	n.once(ctx, rekeyMarker, func() (int, error) {
		count, failed := 0, 0
		err := n.Store.Projections().EachID(ctx, user.VendorsCollection, rekeyBatch, func(ids []string) error {
			for _, id := range ids {
				if err := ctx.Err(); err != nil {
					return err
				}
				count++
				if _, err := userpb.GetUserGrainGrainClient(n.Cluster, id).Get(&userpb.GetRequest{}); err != nil {
					failed++
					n.Logger.Warn("re-keying store names: a vendor did not activate", slog.String("user", id), slog.Any("error", err))
				}
			}
			return nil
		})
		if err == nil && failed > 0 {
			err = fmt.Errorf("%d of %d vendors did not activate", failed, count)
		}
		return count, err
	})
}
