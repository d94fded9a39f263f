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
func (n *Node) Seed(ctx context.Context, products int, random uint64, progress func(done, total int)) error {
	d := seed.Generate(random, products)
	return seed.Load(ctx, seedTarget{Service: n.Catalog, n: n}, d, seed.LoadOptions{Progress: progress})
}

// seedOnStart seeds SEED_PRODUCTS demo products when the catalogue has no
// product at all, logging progress every few seconds.
func (n *Node) seedOnStart(ctx context.Context) error {
	if n.Config.SeedProducts == 0 {
		return nil
	}
	count, err := n.Store.Projections().Count(ctx, product.ViewCollection)
	if err != nil {
		return fmt.Errorf("seed: counting the products: %w", err)
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
	if err := n.Seed(ctx, n.Config.SeedProducts, uint64(n.Config.SeedRandom), report); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	n.Logger.Info("demo catalogue loaded", slog.Int("products", n.Config.SeedProducts),
		slog.Duration("took", time.Since(start).Round(time.Millisecond)))
	return nil
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
