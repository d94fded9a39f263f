package seed

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/emporium-shop/emporium"
)

// Target is what Load creates a demo through: the catalogue service, and a
// way to make the vendors' accounts. emporium.Catalog has every method but
// CreateVendorAccount.
//
// Load may call every method from several goroutines at once.
type Target interface {
	// CreateVendorAccount answers the user id of a verified account with
	// this username and email, making it when there is none. An account
	// an earlier run made must be answered, not refused, so that a re-run
	// goes through.
	CreateVendorAccount(ctx context.Context, username, email string) (userID string, err error)
	// Categories answers the category tree, so that a re-run finds the
	// categories an earlier run made (by slug) instead of making them again.
	Categories(ctx context.Context) ([]emporium.Category, error)
	// CreateCategory adds a category; p is the admin of LoadOptions.
	CreateCategory(ctx context.Context, p emporium.Principal, in emporium.CategoryInput) (emporium.Category, error)
	// BecomeVendor opens the store of the vendor p; opening it again with
	// the same values answers it as it is.
	BecomeVendor(ctx context.Context, p emporium.Principal, in emporium.VendorInput) (emporium.Vendor, error)
	// CreateProduct lists a product of the vendor p; the same commandID
	// answers the product it created.
	CreateProduct(ctx context.Context, p emporium.Principal, in emporium.ProductInput, commandID string) (emporium.Product, error)
	// SetStock sets the units on hand of one SKU of the vendor's product.
	SetStock(ctx context.Context, p emporium.Principal, productID, sku string, onHand int64) (emporium.Stock, error)
}

// LoadOptions tune Load.
type LoadOptions struct {
	// Admin is who creates the categories; by default a principal with the
	// admin role and the user id "seed".
	Admin emporium.Principal
	// Workers is how many vendors and products are created at once;
	// DefaultWorkers when zero or less.
	Workers int
	// Progress, when set, is told how many products are loaded out of how
	// many: once with done = 0 before the first, then after each product
	// and its stock. Calls never overlap and done only grows, so it may
	// drive a progress bar without locking; it must not block for long.
	Progress func(done, total int)
}

// DefaultWorkers is the number of products created at once unless
// LoadOptions say otherwise.
const DefaultWorkers = 64

// Load creates d through t: the vendors' accounts and stores, the
// categories parents first, then the products with their stock, several at
// a time. It is idempotent: categories are found by slug, accounts and
// stores by their owner, products by their command id, and stock is set,
// not added; so a run cut short can be run again and completes the demo.
//
// Load stops at the first error and returns it, naming the item that
// failed; when ctx ends it stops promptly and returns an error carrying
// ctx.Err().
func Load(ctx context.Context, t Target, d Demo, opts LoadOptions) error {
	const op = "seed.Load"
	if err := check(d); err != nil {
		return err
	}
	if opts.Admin.UserID == "" {
		opts.Admin = emporium.Principal{UserID: "seed", Roles: []string{emporium.RoleAdmin}}
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}

	categories, err := loadCategories(ctx, t, d.Categories, opts.Admin)
	if err != nil {
		return err
	}

	vendors := make([]emporium.Principal, len(d.Vendors))
	err = each(ctx, len(d.Vendors), opts.Workers, func(ctx context.Context, i int) error {
		v := d.Vendors[i]
		id, err := t.CreateVendorAccount(ctx, v.Username, v.Email)
		if err != nil {
			return emporium.Wrap(fmt.Sprintf("%s: account of vendor %s", op, v.Username), err)
		}
		p := emporium.Principal{UserID: id, Roles: []string{emporium.RoleCustomer, emporium.RoleVendor}}
		if _, err := t.BecomeVendor(ctx, p, v.Store); err != nil {
			return emporium.Wrap(fmt.Sprintf("%s: store of vendor %s", op, v.Username), err)
		}
		vendors[i] = p
		return nil
	})
	if err != nil {
		return err
	}

	var (
		mu   sync.Mutex // serialises Progress
		done int
	)
	total := len(d.Products)
	if opts.Progress != nil {
		opts.Progress(0, total)
	}
	return each(ctx, total, opts.Workers, func(ctx context.Context, i int) error {
		p := d.Products[i]
		in := p.Input
		in.CategoryID = categories[p.Category]
		vendor := vendors[p.Vendor]
		created, err := t.CreateProduct(ctx, vendor, in, p.CommandID)
		if err != nil {
			return emporium.Wrap(fmt.Sprintf("%s: product %s (%q)", op, p.CommandID, in.Title), err)
		}
		for _, s := range p.Stock {
			if _, err := t.SetStock(ctx, vendor, created.ID, s.SKU, s.OnHand); err != nil {
				return emporium.Wrap(fmt.Sprintf("%s: stock of SKU %s of product %s", op, s.SKU, p.CommandID), err)
			}
		}
		if opts.Progress != nil {
			mu.Lock()
			done++
			opts.Progress(done, total)
			mu.Unlock()
		}
		return nil
	})
}

// check refuses a demo whose references do not hold: Load would fail
// half-way through it.
func check(d Demo) error {
	bad := func(format string, args ...any) error {
		e := emporium.Errorf(emporium.EINVALID, format, args...)
		e.Op = "seed.Load"
		return e
	}
	keys := make(map[string]bool, len(d.Categories))
	for _, c := range d.Categories {
		switch {
		case c.Key == "" || keys[c.Key]:
			return bad("category %q has an empty or repeated key", c.Name)
		case c.ParentKey != "" && !keys[c.ParentKey]:
			return bad("category %s comes before its parent %s", c.Key, c.ParentKey)
		}
		keys[c.Key] = true
	}
	for _, p := range d.Products {
		switch {
		case p.Vendor < 0 || p.Vendor >= len(d.Vendors):
			return bad("product %s has no vendor %d", p.CommandID, p.Vendor)
		case !keys[p.Category]:
			return bad("product %s has no category %s", p.CommandID, p.Category)
		case p.CommandID == "":
			return bad("product %q has no command id", p.Input.Title)
		}
	}
	return nil
}

// loadCategories creates the categories that do not exist yet, parents
// first, and answers the id of every key.
func loadCategories(ctx context.Context, t Target, cats []Category, admin emporium.Principal) (map[string]string, error) {
	const op = "seed.Load"
	existing, err := t.Categories(ctx)
	if err != nil {
		return nil, emporium.Wrap(op+": categories", err)
	}
	bySlug := map[string]string{}
	var walk func([]emporium.Category)
	walk = func(cs []emporium.Category) {
		for _, c := range cs {
			bySlug[c.Slug] = c.ID
			walk(c.Children)
		}
	}
	walk(existing)
	ids := make(map[string]string, len(cats))
	for _, c := range cats {
		if err := ctx.Err(); err != nil {
			return nil, emporium.Wrap(op, err)
		}
		if id, ok := bySlug[c.Key]; ok {
			ids[c.Key] = id
			continue
		}
		created, err := t.CreateCategory(ctx, admin, emporium.CategoryInput{Name: c.Name, Slug: c.Key, ParentID: ids[c.ParentKey]})
		if err != nil {
			return nil, emporium.Wrap(fmt.Sprintf("%s: category %s", op, c.Key), err)
		}
		ids[c.Key] = created.ID
	}
	return ids, nil
}

// each calls do for 0 … n-1 from up to workers goroutines. It stops handing
// out work at the first error, cancels the context the others run with, and
// returns that error; or, when ctx ends first, an error carrying ctx.Err().
func each(ctx context.Context, n, workers int, do func(ctx context.Context, i int) error) error {
	inner, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for range min(workers, n) {
		wg.Go(func() {
			for inner.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := do(inner, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return emporium.Wrap("seed.Load", ctx.Err())
}
