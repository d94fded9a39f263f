package user_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
)

// Wishlists through the real grain (one cluster member over the embedded
// store) and the WishlistService, with a small catalogue and cart standing
// in for the real ones (those are tested end to end over HTTP).

// faultyJournal is the UserGrain's journal in these tests: the store's, and
// appends a test makes fail, as a store that is down would.
type faultyJournal struct {
	actors.Journal
	mu   sync.Mutex
	fail map[string]int
}

// FailNext makes the next n appends to stream fail without writing.
func (j *faultyJournal) FailNext(stream string, n int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail == nil {
		j.fail = map[string]int{}
	}
	j.fail[stream] += n
}

func (j *faultyJournal) Append(ctx context.Context, stream string, expectedSeq uint64, events ...proto.Message) (uint64, error) {
	j.mu.Lock()
	failing := j.fail[stream] > 0
	if failing {
		j.fail[stream]--
	}
	j.mu.Unlock()
	if failing {
		return 0, emporium.Errorf(emporium.EUNAVAILABLE, "injected store failure")
	}
	return j.Journal.Append(ctx, stream, expectedSeq, events...)
}

// catalogue answers the products on sale, as the catalogue service does.
// Ids starting "bulk-" are products with one variant, for filling lists;
// "down" is a catalogue that cannot be reached.
type catalogue struct {
	mu       sync.Mutex
	products map[string]emporium.Product
	calls    atomic.Int64
}

func newCatalogue() *catalogue {
	variants := func(skus ...string) []emporium.Variant {
		var out []emporium.Variant
		for _, sku := range skus {
			out = append(out, emporium.Variant{SKU: sku, Price: emporium.Money{Amount: 1999, Currency: "USD"}})
		}
		return out
	}
	c := &catalogue{products: map[string]emporium.Product{}}
	for id, skus := range map[string][]string{
		"mug":   {"MUG-1"},
		"tee":   {"TEE-S", "TEE-M", "TEE-L"},
		"shirt": {"SHIRT-S", "SHIRT-M"},
		"pen":   {"PEN-1"},
	} {
		c.products[id] = emporium.Product{ID: id, Status: emporium.StatusActive, Variants: variants(skus...)}
	}
	return c
}

func (c *catalogue) Product(_ context.Context, id string) (emporium.Product, error) {
	c.calls.Add(1)
	if id == "down" {
		return emporium.Product{}, emporium.Errorf(emporium.EUNAVAILABLE, "the catalogue is down")
	}
	if strings.HasPrefix(id, "bulk-") {
		return emporium.Product{ID: id, Status: emporium.StatusActive, Variants: []emporium.Variant{{SKU: id + "-1"}}}, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.products[id]
	if !ok {
		return emporium.Product{}, emporium.Errorf(emporium.ENOTFOUND, "product not found")
	}
	return p, nil
}

// archive takes a product off sale.
func (c *catalogue) archive(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.products, id)
}

// carts is a cart per user that, like the CartGrain, applies a command id
// once. refuse makes every add fail with that error; lose makes the next
// adds succeed but lose their answer (the caller sees unavailable).
type carts struct {
	mu      sync.Mutex
	lines   map[string]map[string]int64 // user → SKU → quantity
	applied map[string]bool             // user + command id
	adds    int
	refuse  error
	lose    int
}

func (c *carts) AddItem(_ context.Context, p emporium.Principal, in emporium.CartItemInput, commandID string) (emporium.Cart, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refuse != nil {
		return emporium.Cart{}, c.refuse
	}
	if key := p.UserID + "\x00" + commandID; commandID == "" || !c.applied[key] {
		if c.lines == nil {
			c.lines, c.applied = map[string]map[string]int64{}, map[string]bool{}
		}
		if c.lines[p.UserID] == nil {
			c.lines[p.UserID] = map[string]int64{}
		}
		c.lines[p.UserID][in.SKU] += in.Quantity
		c.applied[key] = true
		c.adds++
	}
	if c.lose > 0 {
		c.lose--
		return emporium.Cart{}, emporium.Errorf(emporium.EUNAVAILABLE, "the answer was lost")
	}
	return c.cartOf(p.UserID), nil
}

func (c *carts) cartOf(userID string) emporium.Cart {
	var out emporium.Cart
	for sku, n := range c.lines[userID] {
		out.Lines = append(out.Lines, emporium.CartLine{LineID: sku, SKU: sku, Quantity: n})
		out.ItemCount += n
	}
	return out
}

// quantities answers a user's cart as SKU → quantity, and the adds applied.
func (c *carts) quantities(userID string) (map[string]int64, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int64{}
	for sku, n := range c.lines[userID] {
		out[sku] = n
	}
	return out, c.adds
}

func (c *carts) Cart(_ context.Context, p emporium.Principal) (emporium.Cart, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cartOf(p.UserID), nil
}

func (c *carts) UpdateLine(context.Context, emporium.Principal, string, int64) (emporium.Cart, error) {
	return emporium.Cart{}, emporium.Errorf(emporium.EINTERNAL, "not used by wishlists")
}

func (c *carts) RemoveLine(context.Context, emporium.Principal, string) (emporium.Cart, error) {
	return emporium.Cart{}, emporium.Errorf(emporium.EINTERNAL, "not used by wishlists")
}

func (c *carts) Clear(context.Context, emporium.Principal) (emporium.Cart, error) {
	return emporium.Cart{}, emporium.Errorf(emporium.EINTERNAL, "not used by wishlists")
}
