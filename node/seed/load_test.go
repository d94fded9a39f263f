package seed

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
)

// fake is an in-memory Target with the rules Load relies on: parents exist
// before their children, slugs are unique, accounts and stores are found
// again, a command id answers the product it made, and only a product's
// vendor sets its stock. fail, when set, makes a call fail: it is given the
// method and the item (username, slug, command id or SKU).
type fake struct {
	fail func(method, item string) error
	// block, when set, makes CreateProduct wait for the context to end,
	// after telling started.
	block   bool
	started chan struct{}
	// hold, when set, makes every CreateProduct started after fail refused
	// a call wait for its context to end (at most 10 s, counted in
	// uncancelled). It makes "nothing after the error is started" a
	// property Load must keep, not a race it usually wins: without it, the
	// failing worker could sleep while the others worked through the rest.
	hold        bool
	refused     atomic.Bool
	late        atomic.Int64 // CreateProduct calls started after the refusal
	uncancelled atomic.Int64

	mu         sync.Mutex
	accounts   map[string]string // username -> user id
	stores     map[string]emporium.VendorInput
	categories []emporium.Category // flat, in creation order
	products   map[string]*emporium.Product
	byCommand  map[string]string // vendor + command id -> product id
	stock      map[string]int64  // product id + SKU -> on hand
	creates    int               // products created, not answered again
}

func newFake() *fake {
	return &fake{
		accounts: map[string]string{}, stores: map[string]emporium.VendorInput{},
		products: map[string]*emporium.Product{}, byCommand: map[string]string{}, stock: map[string]int64{},
	}
}

func (f *fake) failed(method, item string) error {
	if f.fail == nil {
		return nil
	}
	err := f.fail(method, item)
	if err != nil {
		f.refused.Store(true)
	}
	return err
}

func (f *fake) CreateVendorAccount(ctx context.Context, username, email string) (string, error) {
	if err := f.failed("CreateVendorAccount", username); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.accounts[username]; ok {
		return id, nil
	}
	id := fmt.Sprintf("u%d", len(f.accounts)+1)
	f.accounts[username] = id
	return id, nil
}

func (f *fake) Categories(ctx context.Context) ([]emporium.Category, error) {
	if err := f.failed("Categories", ""); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// The tree: children inside their parents, as the catalogue answers.
	var build func(parent string) []emporium.Category
	build = func(parent string) []emporium.Category {
		var out []emporium.Category
		for _, c := range f.categories {
			if c.ParentID == parent {
				c.Children = build(c.ID)
				out = append(out, c)
			}
		}
		return out
	}
	return build(""), nil
}

func (f *fake) CreateCategory(ctx context.Context, p emporium.Principal, in emporium.CategoryInput) (emporium.Category, error) {
	if err := f.failed("CreateCategory", in.Slug); err != nil {
		return emporium.Category{}, err
	}
	if !p.HasRole(emporium.RoleAdmin) {
		return emporium.Category{}, emporium.Errorf(emporium.EFORBIDDEN, "admins only")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	parentFound := in.ParentID == ""
	for _, c := range f.categories {
		if c.Slug == in.Slug {
			return emporium.Category{}, emporium.Errorf(emporium.ECONFLICT, "slug %s is taken", in.Slug)
		}
		parentFound = parentFound || c.ID == in.ParentID
	}
	if !parentFound {
		return emporium.Category{}, emporium.Errorf(emporium.EINVALID, "no parent %s", in.ParentID)
	}
	c := emporium.Category{ID: fmt.Sprintf("c%d", len(f.categories)+1), Name: in.Name, Slug: in.Slug, ParentID: in.ParentID}
	f.categories = append(f.categories, c)
	return c, nil
}

func (f *fake) BecomeVendor(ctx context.Context, p emporium.Principal, in emporium.VendorInput) (emporium.Vendor, error) {
	if err := f.failed("BecomeVendor", in.StoreName); err != nil {
		return emporium.Vendor{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Contains(mapValues(f.accounts), p.UserID) {
		return emporium.Vendor{}, emporium.Errorf(emporium.EUNAUTHENTICATED, "no user %s", p.UserID)
	}
	if old, ok := f.stores[p.UserID]; ok && old != in {
		return emporium.Vendor{}, emporium.Errorf(emporium.ECONFLICT, "another store")
	}
	f.stores[p.UserID] = in
	return emporium.Vendor{ID: p.UserID, StoreName: in.StoreName, Description: in.Description}, nil
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func (f *fake) CreateProduct(ctx context.Context, p emporium.Principal, in emporium.ProductInput, commandID string) (emporium.Product, error) {
	if f.block {
		f.started <- struct{}{}
		<-ctx.Done()
		return emporium.Product{}, emporium.Wrap("fake.CreateProduct", ctx.Err())
	}
	if f.hold && f.refused.Load() {
		f.late.Add(1)
		select {
		case <-ctx.Done():
			return emporium.Product{}, emporium.Wrap("fake.CreateProduct", ctx.Err())
		case <-time.After(10 * time.Second):
			f.uncancelled.Add(1)
		}
	}
	if err := f.failed("CreateProduct", commandID); err != nil {
		return emporium.Product{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.stores[p.UserID]; !ok || !p.HasRole(emporium.RoleVendor) {
		return emporium.Product{}, emporium.Errorf(emporium.EFORBIDDEN, "not a vendor")
	}
	if !slices.ContainsFunc(f.categories, func(c emporium.Category) bool { return c.ID == in.CategoryID }) {
		return emporium.Product{}, emporium.Errorf(emporium.EINVALID, "no category %q", in.CategoryID)
	}
	if id, ok := f.byCommand[p.UserID+"/"+commandID]; ok {
		return *f.products[id], nil
	}
	prod := &emporium.Product{ID: fmt.Sprintf("p%d", len(f.products)+1), VendorID: p.UserID, Title: in.Title,
		CategoryID: in.CategoryID, Status: in.Status}
	for _, v := range in.Variants {
		prod.Variants = append(prod.Variants, emporium.Variant{SKU: v.SKU})
	}
	f.products[prod.ID] = prod
	f.byCommand[p.UserID+"/"+commandID] = prod.ID
	f.creates++
	return *prod, nil
}

func (f *fake) SetStock(ctx context.Context, p emporium.Principal, productID, sku string, onHand int64) (emporium.Stock, error) {
	if err := f.failed("SetStock", sku); err != nil {
		return emporium.Stock{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	prod, ok := f.products[productID]
	if !ok || prod.VendorID != p.UserID {
		return emporium.Stock{}, emporium.Errorf(emporium.ENOTFOUND, "no product %s", productID)
	}
	if !slices.ContainsFunc(prod.Variants, func(v emporium.Variant) bool { return v.SKU == sku }) {
		return emporium.Stock{}, emporium.Errorf(emporium.EINVALID, "no SKU %s", sku)
	}
	f.stock[productID+"/"+sku] = onHand
	return emporium.Stock{SKU: sku, OnHand: onHand, Available: onHand}, nil
}

// checkLoaded asserts that the fake holds d exactly once.
func checkLoaded(t *testing.T, f *fake, d Demo) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Len(t, f.categories, len(d.Categories))
	idOf := map[string]string{}
	for i, c := range f.categories {
		assert.Equal(t, d.Categories[i].Key, c.Slug, "created in the demo's order")
		assert.Equal(t, d.Categories[i].Name, c.Name)
		assert.Equal(t, idOf[d.Categories[i].ParentKey], c.ParentID, "%s is under its parent", c.Slug)
		idOf[c.Slug] = c.ID
	}
	require.Len(t, f.accounts, len(d.Vendors))
	require.Len(t, f.stores, len(d.Vendors))
	for _, v := range d.Vendors {
		assert.Equal(t, v.Store, f.stores[f.accounts[v.Username]])
	}
	require.Len(t, f.products, len(d.Products))
	assert.Equal(t, len(d.Products), f.creates, "every product is created once")
	for _, p := range d.Products {
		vendorID := f.accounts[d.Vendors[p.Vendor].Username]
		prod := f.products[f.byCommand[vendorID+"/"+p.CommandID]]
		require.NotNil(t, prod, p.CommandID)
		assert.Equal(t, p.Input.Title, prod.Title)
		assert.Equal(t, idOf[p.Category], prod.CategoryID)
		assert.Equal(t, emporium.StatusActive, prod.Status)
		for _, s := range p.Stock {
			onHand, ok := f.stock[prod.ID+"/"+s.SKU]
			assert.True(t, ok, "stock of %s is set", s.SKU)
			assert.Equal(t, s.OnHand, onHand, s.SKU)
		}
	}
	assert.Len(t, f.stock, skuCount(d))
}

func skuCount(d Demo) int {
	n := 0
	for _, p := range d.Products {
		n += len(p.Stock)
	}
	return n
}

func TestLoad(t *testing.T) {
	d := Generate(11, 1600)
	f := newFake()
	var (
		calls  int
		last   int
		inside atomic.Bool
	)
	err := Load(context.Background(), f, d, LoadOptions{Workers: 8, Progress: func(done, total int) {
		// Unlocked on purpose: the race detector and the flag catch
		// overlapping calls.
		if !inside.CompareAndSwap(false, true) {
			t.Error("Progress calls overlap")
		}
		defer inside.Store(false)
		assert.Equal(t, len(d.Products), total)
		assert.Equal(t, last+min(calls, 1), done, "done counts up by one")
		calls++
		last = done
	}})
	require.NoError(t, err)
	checkLoaded(t, f, d)
	assert.Equal(t, len(d.Products)+1, calls, "once at 0, then once per product")
	assert.Equal(t, len(d.Products), last)
}

func TestLoadAgainChangesNothing(t *testing.T) {
	d := Generate(12, 300)
	f := newFake()
	require.NoError(t, Load(context.Background(), f, d, LoadOptions{}))
	require.NoError(t, Load(context.Background(), f, d, LoadOptions{Workers: 3}))
	checkLoaded(t, f, d)

	// A larger demo of the same seed adds to the smaller one.
	bigger := Generate(12, 500)
	require.NoError(t, Load(context.Background(), f, bigger, LoadOptions{}))
	checkLoaded(t, f, bigger)
}

func TestLoadResumesAfterAFailure(t *testing.T) {
	d := Generate(13, 400)
	f := newFake()
	f.hold = true
	var n atomic.Int64
	f.fail = func(method, item string) error {
		if method == "CreateProduct" && n.Add(1) == 150 {
			return emporium.Errorf(emporium.EUNAVAILABLE, "the node went away")
		}
		return nil
	}
	err := Load(context.Background(), f, d, LoadOptions{})
	require.Error(t, err)
	assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err))
	f.mu.Lock()
	partial := f.creates
	f.mu.Unlock()
	assert.Less(t, partial, len(d.Products), "Load stopped at the error")

	assert.Zero(t, f.uncancelled.Load(), "the error cancels the calls in flight")

	f.fail, f.hold = nil, false
	require.NoError(t, Load(context.Background(), f, d, LoadOptions{}))
	checkLoaded(t, f, d)
}

func TestLoadStopsAtTheFirstError(t *testing.T) {
	d := Generate(14, 600)
	boom := emporium.Errorf(emporium.EINVALID, "refused")
	product := d.Products[321]
	tests := []struct {
		method, item string
		// want are words the error must carry to name the item.
		want []string
	}{
		{"Categories", "", []string{"seed.Load: categories"}},
		{"CreateCategory", "skillets", []string{"seed.Load: category skillets"}},
		{"CreateVendorAccount", d.Vendors[1].Username, []string{"account of vendor " + d.Vendors[1].Username}},
		{"BecomeVendor", d.Vendors[2].Store.StoreName, []string{"store of vendor " + d.Vendors[2].Username}},
		{"CreateProduct", product.CommandID, []string{"product " + product.CommandID, product.Input.Title}},
		{"SetStock", product.Stock[0].SKU, []string{"stock of SKU " + product.Stock[0].SKU, product.CommandID}},
	}
	for _, tc := range tests {
		t.Run(tc.method, func(t *testing.T) {
			f := newFake()
			f.hold = true
			f.fail = func(method, item string) error {
				if method == tc.method && item == tc.item {
					return boom
				}
				return nil
			}
			progress := 0
			// Eight workers over 600 products: the error stops the hand-out
			// long before the last product (with as many workers as
			// products, all would have started before it).
			err := Load(context.Background(), f, d, LoadOptions{Workers: 8, Progress: func(done, _ int) { progress = done }})
			require.Error(t, err)
			assert.ErrorIs(t, err, boom)
			assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "the cause's code is kept")
			assert.Equal(t, "refused", emporium.ErrorMessage(err))
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Less(t, progress, len(d.Products))
			// After the refusal each other worker starts at most the one
			// product it had taken before it saw the error, and that call
			// is cancelled. (How many products were created before the
			// refusal is the scheduler's business: the failing worker may
			// sleep between creating product 321 and setting its stock.)
			assert.LessOrEqual(t, f.late.Load(), int64(8-1), "nothing after the error is started")
			assert.Zero(t, f.uncancelled.Load(), "the error cancels the calls in flight")
			f.mu.Lock()
			defer f.mu.Unlock()
			if tc.method == "CreateCategory" {
				assert.Empty(t, f.products, "no product before every category exists")
				assert.Empty(t, f.accounts)
			}
		})
	}
}

func TestLoadStopsWhenCancelled(t *testing.T) {
	d := Generate(15, 200)
	f := newFake()
	f.block = true
	f.started = make(chan struct{}, len(d.Products))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- Load(ctx, f, d, LoadOptions{Workers: 4}) }()
	select {
	case <-f.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no product was started")
	}
	cancel()
	select {
	case err := <-errc:
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, emporium.EUNAVAILABLE, emporium.ErrorCode(err))
	case <-time.After(10 * time.Second):
		t.Fatal("Load did not stop when its context ended")
	}
	assert.LessOrEqual(t, len(f.started), 4, "no product starts after the cancellation")
}

func TestLoadCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := newFake()
	err := Load(ctx, f, Generate(16, 50), LoadOptions{})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, f.categories)
	assert.Empty(t, f.products)
}

func TestLoadRefusesABrokenDemo(t *testing.T) {
	tests := map[string]func(d *Demo){
		"unknown vendor":   func(d *Demo) { d.Products[3].Vendor = len(d.Vendors) },
		"negative vendor":  func(d *Demo) { d.Products[3].Vendor = -1 },
		"unknown category": func(d *Demo) { d.Products[3].Category = "nowhere" },
		"no command id":    func(d *Demo) { d.Products[3].CommandID = "" },
		"child first":      func(d *Demo) { d.Categories[0], d.Categories[1] = d.Categories[1], d.Categories[0] },
		"repeated key":     func(d *Demo) { d.Categories[5].Key = d.Categories[4].Key },
	}
	for name, breakIt := range tests {
		t.Run(name, func(t *testing.T) {
			d := Generate(17, 20)
			breakIt(&d)
			f := newFake()
			err := Load(context.Background(), f, d, LoadOptions{})
			require.Error(t, err)
			assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
			var e *emporium.Error
			require.True(t, errors.As(err, &e))
			assert.Equal(t, "seed.Load", e.Op)
			assert.Empty(t, f.categories, "nothing is created")
			assert.Empty(t, f.accounts)
		})
	}
}

func TestLoadUsesTheAdmin(t *testing.T) {
	d := Generate(18, 10)
	f := newFake()
	err := Load(context.Background(), f, d, LoadOptions{Admin: emporium.Principal{UserID: "alice", Roles: []string{emporium.RoleCustomer}}})
	assert.Equal(t, emporium.EFORBIDDEN, emporium.ErrorCode(err), "the given admin is used as given")
	require.NoError(t, Load(context.Background(), f, d, LoadOptions{}), "the default admin has the admin role")
	checkLoaded(t, f, d)
}
