package node

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors/catalog"
	"github.com/emporium-shop/emporium/actors/product"
	"github.com/emporium-shop/emporium/actors/user"
	"github.com/emporium-shop/emporium/node/seed"
)

// DemoPasswordFile is the file under DATA_DIR that holds the password of the
// demo vendors' accounts that `emporium seed` and `serve --seed` create
// (<username>@example.com), so that a newcomer can sign in as one. The
// password is random, made once per data directory and readable only by the
// node's user (mode 0600); DEMO_PASSWORD gives one instead, for demos. It is
// never a constant, since the demo vendors' emails derive from their public
// store names, and never logged. Demo data is for trying Emporium out; do
// not seed a shop that takes real orders.
const DemoPasswordFile = "demo-vendor-password"

// DemoVendorPassword returns the password the demo vendors get, and the file
// that holds it ("" when DEMO_PASSWORD gives it). The first call for a data
// directory makes a random password and writes it to
// DATA_DIR/demo-vendor-password with mode 0600; later calls, of this node or
// of later runs on the same DATA_DIR, read it back. With a shared MONGODB_URI
// the accounts keep the password of the seed that created them, so the file
// that counts is that node's.
func (n *Node) DemoVendorPassword() (password, file string, err error) {
	n.demoMu.Lock()
	defer n.demoMu.Unlock()
	if n.demoPassword != "" {
		return n.demoPassword, n.demoFile, nil
	}
	if n.Config.DemoPassword != "" {
		n.demoPassword = n.Config.DemoPassword
		return n.demoPassword, "", nil
	}
	password, file, err = demoPasswordIn(n.Config.DataDir)
	if err != nil {
		return "", "", err
	}
	n.demoPassword, n.demoFile = password, file
	return password, file, nil
}

// demoPasswordIn reads the demo password of dataDir, making it first when
// the file does not exist.
func demoPasswordIn(dataDir string) (string, string, error) {
	file, err := filepath.Abs(filepath.Join(dataDir, DemoPasswordFile))
	if err != nil {
		return "", "", fmt.Errorf("demo password: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", "", fmt.Errorf("demo password: DATA_DIR=%s: %w", dataDir, err)
	}
	raw := make([]byte, 18)
	if _, err := rand.Read(raw); err != nil {
		return "", "", fmt.Errorf("demo password: %w", err)
	}
	password := base64.RawURLEncoding.EncodeToString(raw) // 24 characters, 144 bits
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		_, werr := f.WriteString(password + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			_ = os.Remove(file)
			return "", "", fmt.Errorf("demo password: writing %s: %w", file, werr)
		}
		return password, file, nil
	case errors.Is(err, fs.ErrExist):
		b, err := os.ReadFile(file)
		if err != nil {
			return "", "", fmt.Errorf("demo password: %w", err)
		}
		password = strings.TrimSpace(string(b))
		if len(password) < 8 {
			return "", "", fmt.Errorf("demo password: %s holds no password of at least 8 characters; delete it to make a new one", file)
		}
		// Whoever made the file, it holds a password: only the node's user
		// reads it.
		if err := os.Chmod(file, 0o600); err != nil {
			return "", "", fmt.Errorf("demo password: %w", err)
		}
		return password, file, nil
	default:
		return "", "", fmt.Errorf("demo password: %w", err)
	}
}

// Seed loads the demo catalogue of products products made from the random
// seed random, reporting progress. It is idempotent: run again, it adds
// only what is missing.
//
// The demo is generated and loaded seedRange products at a time, so that a
// demo of 100,000 products never sits in memory whole. A range that fails
// because the store or a grain is unavailable (EUNAVAILABLE) is loaded
// again, with backoff, at most seedAttempts times: seeding is idempotent,
// and a busy machine should slow it down, not stop it.
func (n *Node) Seed(ctx context.Context, products int, random uint64, progress func(done, total int)) error {
	_, file, err := n.DemoVendorPassword()
	if err != nil {
		return err
	}
	if file != "" {
		n.Logger.Info("demo vendors sign in as <username>@example.com with the password in "+file, slog.String("file", file))
	} else {
		n.Logger.Info("demo vendors sign in as <username>@example.com with the password DEMO_PASSWORD gives")
	}
	for from := 0; from == 0 || from < products; from += seedRange {
		d := seed.GenerateRange(random, products, from, from+seedRange)
		opts := seed.LoadOptions{}
		if progress != nil {
			opts.Progress = func(done, _ int) { progress(from+done, products) }
		}
		if err := n.seedRetrying(ctx, d, opts); err != nil {
			return err
		}
	}
	return nil
}

// Seeding tries a range again while the store or a grain is unavailable,
// waiting longer each time, at most seedAttempts times in all.
const (
	seedRange        = 5000
	seedAttempts     = 5
	seedFirstBackoff = time.Second
	seedMaxBackoff   = 15 * time.Second
)

// seedRetrying loads d, again while it fails with EUNAVAILABLE.
func (n *Node) seedRetrying(ctx context.Context, d seed.Demo, opts seed.LoadOptions) error {
	return retryUnavailable(ctx, n.Logger, seedAttempts, seedFirstBackoff, seedMaxBackoff, func() error {
		return seed.Load(ctx, seedTarget{Service: n.Catalog, n: n}, d, opts)
	})
}

// retryUnavailable calls fn until it succeeds, fails other than with
// EUNAVAILABLE, has been called attempts times, or ctx ends; it waits
// first, then twice as long each time up to most, between calls, and logs
// each retry at Warn. fn must be idempotent.
func retryUnavailable(ctx context.Context, log *slog.Logger, attempts int, first, most time.Duration, fn func() error) error {
	backoff := first
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || ctx.Err() != nil || !emporium.IsCode(err, emporium.EUNAVAILABLE) || attempt >= attempts {
			return err
		}
		log.Warn("seed: unavailable; trying again", slog.Int("attempt", attempt),
			slog.Duration("retry_in", backoff), slog.Any("error", err))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(2*backoff, most)
	}
}

// seedOnStart seeds SEED_PRODUCTS demo products when the catalogue has no
// product at all, logging progress every few seconds. If seeding cannot
// finish (Seed retries what is unavailable), the node logs why and goes on
// to serve what it has: a demo catalogue is never worth a node that does
// not start. Only a cancelled ctx (the operator stopping the node) is an
// error.
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
	if err := n.Seed(ctx, n.Config.SeedProducts, uint64(n.Config.SeedRandom), report); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("seed: %w", ctx.Err())
		}
		n.Logger.Error("seed: the demo catalogue could not be loaded; serving what the store has "+
			"(run `emporium seed` later to complete it)", slog.Any("error", err))
		return nil
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
	password, _, err := t.n.DemoVendorPassword()
	if err != nil {
		return "", err
	}
	acc, err := t.n.Accounts.CreateUser(ctx, username, email, password, []string{emporium.RoleVendor})
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
