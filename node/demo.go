package node

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors/catalog"
	"github.com/emporium-shop/emporium/actors/product"
	"github.com/emporium-shop/emporium/actors/user"
	"github.com/emporium-shop/emporium/node/seed"
)

// DemoVendorPassword is the password of the demo vendors' accounts that
// `emporium seed` and `serve --seed` create (<username>@example.com), so that
// a newcomer can sign in as one. Demo data is for trying Emporium out; do
// not seed a shop that takes real orders.
const DemoVendorPassword = "emporium demo vendor"

// Seed loads the demo catalogue of products products made from the random
// seed random, reporting progress. It is idempotent: run again, it adds
// only what is missing.
//
// The demo is generated and loaded seedRange products at a time, so that a
// demo of 100,000 products never sits in memory whole.
func (n *Node) Seed(ctx context.Context, products int, random uint64, progress func(done, total int)) error {
	for from := 0; from < products || from == 0; from += seedRange {
		d := seed.GenerateRange(random, products, from, from+seedRange)
		opts := seed.LoadOptions{}
		if progress != nil {
			opts.Progress = func(done, _ int) { progress(from+done, products) }
		}
		if err := seed.Load(ctx, seedTarget{Service: n.Catalog, n: n}, d, opts); err != nil {
			return err
		}
		if products == 0 {
			break
		}
	}
	return nil
}

// seedRange is how many demo products Seed generates and loads at a time.
const seedRange = 5000

// Seeding on start tries again while the store is unavailable, waiting
// longer each time, at most seedAttempts times in all.
const (
	seedAttempts     = 5
	seedFirstBackoff = time.Second
	seedMaxBackoff   = 15 * time.Second
)

// seedOnStart seeds SEED_PRODUCTS demo products when the catalogue has no
// product at all, logging progress every few seconds. Seeding is
// idempotent, so while the store answers "unavailable" it is run again,
// with backoff. If it still cannot finish, the node logs why and goes on to
// serve what it has: a demo catalogue is never worth a node that does not
// start. Only a cancelled ctx (the operator stopping the node) is an error.
func (n *Node) seedOnStart(ctx context.Context) error {
	if n.Config.SeedProducts == 0 {
		return nil
	}
	count, err := n.Store.Projections().Count(ctx, product.ViewCollection)
	if err != nil {
		n.Logger.Error("seed: cannot count the products, so not seeding; serving what the store has", slog.Any("error", err))
		return ctx.Err()
	}
	if count > 0 {
		n.Logger.Info("catalogue not empty: not seeding", slog.Int("products", count))
		return nil
	}
	start := time.Now()
	last := start
	report := n.SeedProgress
	if report == nil {
		report = func(done, total int) {
			if done == total || time.Since(last) > 3*time.Second {
				last = time.Now()
				n.Logger.Info("seeding the demo catalogue", slog.Int("done", done), slog.Int("total", total))
			}
		}
	}
	backoff := seedFirstBackoff
	for attempt := 1; ; attempt++ {
		err = n.Seed(ctx, n.Config.SeedProducts, uint64(n.Config.SeedRandom), report)
		if err == nil {
			n.Logger.Info("demo catalogue loaded", slog.Int("products", n.Config.SeedProducts),
				slog.Duration("took", time.Since(start).Round(time.Millisecond)))
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("seed: %w", ctx.Err())
		}
		if !emporium.IsCode(err, emporium.EUNAVAILABLE) || attempt == seedAttempts {
			n.Logger.Error("seed: the demo catalogue could not be loaded; serving what the store has "+
				"(run `emporium seed` later to complete it)", slog.Int("attempts", attempt), slog.Any("error", err))
			return nil
		}
		n.Logger.Warn("seed: the store is unavailable; trying again", slog.Int("attempt", attempt),
			slog.Duration("retry_in", backoff), slog.Any("error", err))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return fmt.Errorf("seed: %w", ctx.Err())
		}
		backoff = min(2*backoff, seedMaxBackoff)
	}
}

// seedTarget is what seed.Load creates the demo through: the catalogue
// service, and verified vendor accounts made as an operator makes them.
type seedTarget struct {
	*catalog.Service
	n *Node
}

// CreateVendorAccount makes a verified account, or answers the one an
// earlier run made with that username.
func (t seedTarget) CreateVendorAccount(ctx context.Context, username, email string) (string, error) {
	acc, err := t.n.Accounts.CreateUser(ctx, username, email, DemoVendorPassword, []string{emporium.RoleVendor})
	if err == nil {
		return acc.ID, nil
	}
	if !takenUsername(err) {
		return "", err
	}
	id, _, ownerErr := t.n.claims().Owner(ctx, user.UsernamesCollection, user.UsernameKey(username))
	if ownerErr != nil {
		return "", fmt.Errorf("finding the account of %s: %w", username, ownerErr)
	}
	return id, nil
}

func takenUsername(err error) bool {
	for _, f := range emporium.ErrorFields(err) {
		if f.Field == "username" && f.Code == emporium.FieldTaken {
			return true
		}
	}
	return false
}
