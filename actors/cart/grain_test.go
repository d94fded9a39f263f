package cart_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/actors/cart"
	"github.com/emporium-shop/emporium/actors/catalog"
	"github.com/emporium-shop/emporium/actors/inventory"
	"github.com/emporium-shop/emporium/actors/product"
	"github.com/emporium-shop/emporium/persistence"
	pb "github.com/emporium-shop/emporium/protos/cartpb"
	inventorypb "github.com/emporium-shop/emporium/protos/inventorypb"
	productpb "github.com/emporium-shop/emporium/protos/productpb"
)

// One cluster member and one store serve every test of this package:
// starting a member costs over a second, and Proto.Actor's remote does not
// like being started and stopped many times in one process. The member
// hosts the CartGrain with the real catalogue (catalog.Items over the read
// models) and the ProductGrain and InventoryGrain that write those read
// models. Each test uses its own users and SKUs.
var (
	member      *cluster.Cluster
	store       persistence.Store
	clock       = actorstest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	activations = actors.NewActivations(nil)
	catalogue   = &switchable{}
	published   = &recorder{carts: map[string][]*pb.Cart{}}
	counter     atomic.Int64
)

const (
	vendor      = "vendor-cart"
	idleTimeout = 2 * time.Second
)

// snapshotEvery is the carts' SnapshotEvery: small, so that a test can
// write past it and reload from a snapshot and the events after it.
const snapshotEvery = 10

func TestMain(m *testing.M) {
	os.Exit(actorstest.Main(m, "cart", func(s persistence.Store, logger *slog.Logger, cleanup func(func())) (err error) {
		store = s
		items, err := catalog.NewItems(catalog.ItemsConfig{Reads: store.Projections(), Clock: clock, Logger: logger})
		if err != nil {
			return err
		}
		catalogue.set(items)
		grains := actors.GrainConfig{Journal: store.Journal(), Snapshots: store.Snapshots(), Clock: clock, Logger: logger}
		carts := grains
		carts.Activations, carts.SnapshotEvery, carts.IdleTimeout = activations, snapshotEvery, idleTimeout
		member, err = actors.StartMember(actors.ClusterConfig{Provider: actors.ProviderLocal, Addr: "127.0.0.1:0", Logger: logger},
			cart.NewKind(cart.Config{GrainConfig: carts, Catalog: catalogue, Publish: published.publish}),
			product.NewKind(product.Config{
				GrainConfig: grains,
				Claims:      &actors.DocumentClaims{Collection: func(c string) actors.ClaimDocuments { return store.Documents(c) }},
				Views:       store.Projections(),
			}),
			inventory.NewKind(inventory.Config{GrainConfig: grains, Views: store.Projections()}))
		if err != nil {
			return err
		}
		cleanup(func() { member.Shutdown(true) })
		return nil
	}))
}

// switchable is the cart's catalogue, replaceable for the benchmark.
type switchable struct{ cur atomic.Pointer[catalog.Items] }

func (s *switchable) set(i *catalog.Items) { s.cur.Store(i) }

// Items implements cart.Catalog.
func (s *switchable) Items(ctx context.Context, skus ...string) (map[string]cart.Item, error) {
	return s.cur.Load().Items(ctx, skus...)
}

// recorder keeps the carts the grain published, by user.
type recorder struct {
	off   atomic.Bool
	mu    sync.Mutex
	carts map[string][]*pb.Cart
}

func (r *recorder) publish(userID string, c *pb.Cart) {
	if r.off.Load() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.carts[userID] = append(r.carts[userID], c)
}

func (r *recorder) of(userID string) []*pb.Cart {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*pb.Cart(nil), r.carts[userID]...)
}

func carts(userID string) *pb.CartGrainGrainClient { return pb.GetCartGrainGrainClient(member, userID) }

// newUser returns a user id no other test uses.
func newUser() string { return fmt.Sprint("user-", counter.Add(1)) }

// newProduct creates and publishes a product with one variant per price,
// in currency, stocks each SKU with stock units, and waits until the read
// models hold it. It returns the product id and its SKUs.
func newProduct(t testing.TB, currency string, stock int64, prices ...int64) (string, []string) {
	t.Helper()
	n := counter.Add(1)
	id := fmt.Sprint("p-", n)
	req := &productpb.CreateRequest{
		CommandId: "create", VendorId: vendor, Title: fmt.Sprint("Product ", n), Brand: "Acme", CategoryId: "misc",
		Currency: currency,
	}
	var values, skus []string
	for i, price := range prices {
		sku, size := fmt.Sprintf("SKU-%d-%d", n, i), fmt.Sprint("size-", i)
		values, skus = append(values, size), append(skus, sku)
		req.Variants = append(req.Variants, &productpb.VariantInput{Sku: sku, PriceAmount: price, Options: map[string]string{"size": size}})
	}
	req.Options = []*productpb.Option{{Name: "size", Values: values}}
	_, err := productpb.GetProductGrainGrainClient(member, id).Create(req)
	require.NoError(t, err)
	_, err = productpb.GetProductGrainGrainClient(member, id).Publish(&productpb.PublishRequest{CommandId: "publish", Caller: &productpb.Caller{VendorId: vendor}})
	require.NoError(t, err)
	for _, sku := range skus {
		setStock(t, sku, stock)
	}
	require.NoError(t, store.Projections().Flush(context.Background()))
	return id, skus
}

func setStock(t testing.TB, sku string, onHand int64) {
	t.Helper()
	_, err := inventorypb.GetInventoryGrainGrainClient(member, sku).
		SetStock(&inventorypb.SetStockRequest{CommandId: fmt.Sprint("stock-", counter.Add(1)), OnHand: onHand})
	require.NoError(t, err)
}

// catalogueMoves makes the carts see what the grains wrote: the read
// models stored, and the catalogue's cache past its time to live.
func catalogueMoves(t *testing.T) {
	t.Helper()
	require.NoError(t, store.Projections().Flush(t.Context()))
	clock.Advance(2*catalog.DefaultItemsProductTTL + time.Second)
}

func add(t *testing.T, user, cmd, sku string, qty int64) *pb.Cart {
	t.Helper()
	c, err := carts(user).AddItem(&pb.AddItemRequest{CommandId: cmd, Sku: sku, Quantity: qty})
	require.NoError(t, err)
	return c
}

func get(t *testing.T, user string) *pb.Cart {
	t.Helper()
	c, err := carts(user).Get(&pb.GetRequest{})
	require.NoError(t, err)
	return c
}

func lineOf(t *testing.T, c *pb.Cart, sku string) *pb.CartLine {
	t.Helper()
	for _, l := range c.Lines {
		if l.Sku == sku {
			return l
		}
	}
	t.Fatalf("the cart has no line of %s: %v", sku, c)
	return nil
}

func TestAddMergeUpdateRemoveClear(t *testing.T) {
	user := newUser()
	tee, teeSKUs := newProduct(t, "USD", 20, 1999, 2199)
	_, mugSKUs := newProduct(t, "USD", 20, 900)

	empty := get(t, user)
	assert.Empty(t, empty.Lines)
	assert.Equal(t, uint64(0), empty.Seq)

	c := add(t, user, "a1", teeSKUs[0], 2)
	require.Len(t, c.Lines, 1)
	l := c.Lines[0]
	assert.Equal(t, tee, l.ProductId)
	assert.Equal(t, map[string]string{"size": "size-0"}, l.Options)
	assert.Equal(t, int64(20), l.Available)
	assert.True(t, l.Purchasable)
	assert.False(t, l.PriceChanged)
	assert.True(t, proto.Equal(&pb.Money{Amount: 1999, Currency: "USD"}, l.UnitPrice))
	assert.True(t, proto.Equal(&pb.Money{Amount: 3998, Currency: "USD"}, l.LineTotal))
	assert.Equal(t, clock.Now(), l.AddedAt.AsTime())
	assert.Equal(t, uint64(1), c.Seq)

	add(t, user, "a2", mugSKUs[0], 1)
	c = add(t, user, "a3", teeSKUs[0], 3)
	require.Len(t, c.Lines, 2, "the same SKU merges into its line")
	assert.Equal(t, int64(5), lineOf(t, c, teeSKUs[0]).Quantity)
	assert.Equal(t, int64(6), c.ItemCount)
	assert.True(t, proto.Equal(&pb.Money{Amount: 5*1999 + 900, Currency: "USD"}, c.Subtotal))
	assert.Equal(t, uint64(3), c.Seq)

	mugLine := lineOf(t, c, mugSKUs[0]).LineId
	c, err := carts(user).UpdateLine(&pb.UpdateLineRequest{CommandId: "u1", LineId: mugLine, Quantity: 4})
	require.NoError(t, err)
	assert.Equal(t, int64(4), lineOf(t, c, mugSKUs[0]).Quantity)

	c, err = carts(user).RemoveLine(&pb.RemoveLineRequest{CommandId: "r1", LineId: lineOf(t, c, teeSKUs[0]).LineId})
	require.NoError(t, err)
	require.Len(t, c.Lines, 1)
	assert.Equal(t, mugSKUs[0], c.Lines[0].Sku)

	_, err = carts(user).RemoveLine(&pb.RemoveLineRequest{CommandId: "r2", LineId: "ln404"})
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err), "%v", err)
	_, err = carts(user).UpdateLine(&pb.UpdateLineRequest{CommandId: "u2", LineId: "ln404", Quantity: 1})
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err), "%v", err)

	c, err = carts(user).Clear(&pb.ClearRequest{CommandId: "x1"})
	require.NoError(t, err)
	assert.Empty(t, c.Lines)
	assert.Equal(t, int64(0), c.ItemCount)
	assert.Equal(t, uint64(6), c.Seq)

	// Every durable change was published, in order, with the cart it made.
	pushed := published.of(user)
	require.Len(t, pushed, 6)
	for i, p := range pushed {
		assert.Equal(t, uint64(i+1), p.Seq)
	}
	assert.True(t, proto.Equal(c, pushed[5]))

	// The journal holds what the grain answers.
	replayed, err := cart.Spec.Replay(t.Context(), store.Journal(), user)
	require.NoError(t, err)
	assert.Empty(t, replayed.Lines)
	assert.Equal(t, uint64(2), replayed.LinesAdded)
}

func TestRetriesChangeTheCartOnce(t *testing.T) {
	user := newUser()
	_, skus := newProduct(t, "USD", 50, 1500)
	req := &pb.AddItemRequest{CommandId: "add-once", Sku: skus[0], Quantity: 2}
	first, err := carts(user).AddItem(req)
	require.NoError(t, err)
	// Proto.Actor retries a request that timed out; the grain sees it again.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			again, err := carts(user).AddItem(req)
			if assert.NoError(t, err) {
				assert.Equal(t, first.Seq, again.Seq)
				assert.Equal(t, int64(2), again.ItemCount)
			}
		})
	}
	wg.Wait()

	line := first.Lines[0].LineId
	for range 2 {
		c, err := carts(user).UpdateLine(&pb.UpdateLineRequest{CommandId: "upd", LineId: line, Quantity: 7})
		require.NoError(t, err)
		assert.Equal(t, int64(7), c.ItemCount)
	}
	for range 2 {
		c, err := carts(user).RemoveLine(&pb.RemoveLineRequest{CommandId: "rm", LineId: line})
		require.NoError(t, err, "a retried removal answers the cart, not not_found")
		assert.Empty(t, c.Lines)
	}
	c := get(t, user)
	assert.Equal(t, uint64(3), c.Seq, "one event per command")
	assert.Len(t, published.of(user), 3, "retries publish nothing")
}

func TestLimitsAndRefusalsChangeNothing(t *testing.T) {
	user := newUser()
	_, skus := newProduct(t, "USD", 3, 1000, 2000)
	_, euro := newProduct(t, "EUR", 10, 500)
	draft := fmt.Sprint("DRAFT-", counter.Add(1))
	_, err := productpb.GetProductGrainGrainClient(member, "p-"+draft).Create(&productpb.CreateRequest{
		CommandId: "create", VendorId: vendor, Title: "Draft", Currency: "USD",
		Options:  []*productpb.Option{{Name: "size", Values: []string{"one"}}},
		Variants: []*productpb.VariantInput{{Sku: draft, PriceAmount: 100, Options: map[string]string{"size": "one"}}},
	})
	require.NoError(t, err)
	setStock(t, draft, 10)
	require.NoError(t, store.Projections().Flush(t.Context()))
	before := add(t, user, "a1", skus[0], 2)

	cases := []struct {
		name, sku   string
		qty         int64
		code, field string
		fieldCode   string
	}{
		{"zero", skus[1], 0, emporium.EINVALID, "quantity", emporium.FieldOutOfRange},
		{"a hundred", skus[1], 100, emporium.EINVALID, "quantity", emporium.FieldOutOfRange},
		{"more than the stock", skus[1], 4, emporium.EOUTOFSTOCK, "", ""},
		{"merged past the stock", skus[0], 2, emporium.EOUTOFSTOCK, "", ""},
		{"an unknown SKU", "NO-SUCH-SKU", 1, emporium.EINVALID, "sku", emporium.FieldNotFound},
		{"a draft", draft, 1, emporium.EINVALID, "sku", emporium.FieldUnavailable},
		{"another currency", euro[0], 1, emporium.EINVALID, "sku", emporium.FieldCurrencyMismatch},
	}
	for i, c := range cases {
		_, err := carts(user).AddItem(&pb.AddItemRequest{CommandId: fmt.Sprint("bad-", i), Sku: c.sku, Quantity: c.qty})
		require.Error(t, err, c.name)
		assert.Equal(t, c.code, emporium.ErrorCode(err), "%s: %v", c.name, err)
		if c.field != "" {
			fields := emporium.ErrorFields(err)
			if assert.Len(t, fields, 1, c.name) {
				assert.Equal(t, c.field, fields[0].Field, c.name)
				assert.Equal(t, c.fieldCode, fields[0].Code, c.name)
			}
		}
	}
	_, err = carts(user).AddItem(&pb.AddItemRequest{CommandId: "more", Sku: skus[0], Quantity: 2})
	assert.Equal(t, fmt.Sprintf("Only 3 of SKU %s available; the line would hold 4.", skus[0]), emporium.ErrorMessage(err),
		"the refusal says how many are available")
	_, err = carts(user).UpdateLine(&pb.UpdateLineRequest{CommandId: "up", LineId: before.Lines[0].LineId, Quantity: 4})
	assert.Equal(t, emporium.EOUTOFSTOCK, emporium.ErrorCode(err))

	after := get(t, user)
	assert.True(t, proto.Equal(before, after), "refused commands changed the cart: %v -> %v", before, after)
	assert.Len(t, published.of(user), 1)
}

func TestArchivedProductsAndPriceChanges(t *testing.T) {
	user := newUser()
	shirt, shirtSKUs := newProduct(t, "USD", 10, 2000)
	hat, hatSKUs := newProduct(t, "USD", 10, 1000)
	add(t, user, "a1", shirtSKUs[0], 1)
	add(t, user, "a2", hatSKUs[0], 2)

	// The shirt's price goes up; the hat is archived.
	_, err := productpb.GetProductGrainGrainClient(member, shirt).Update(&productpb.UpdateRequest{
		CommandId: "reprice", Caller: &productpb.Caller{VendorId: vendor},
		VariantSet: &productpb.VariantSet{
			Options:  []*productpb.Option{{Name: "size", Values: []string{"size-0"}}},
			Variants: []*productpb.VariantInput{{Sku: shirtSKUs[0], PriceAmount: 2500, Options: map[string]string{"size": "size-0"}}},
		},
	})
	require.NoError(t, err)
	_, err = productpb.GetProductGrainGrainClient(member, hat).Archive(&productpb.ArchiveRequest{CommandId: "archive", Caller: &productpb.Caller{VendorId: vendor}})
	require.NoError(t, err)
	catalogueMoves(t)

	c := get(t, user)
	s := lineOf(t, c, shirtSKUs[0])
	assert.True(t, s.PriceChanged)
	assert.True(t, proto.Equal(&pb.Money{Amount: 2500, Currency: "USD"}, s.UnitPrice))
	assert.True(t, proto.Equal(&pb.Money{Amount: 2000, Currency: "USD"}, s.PriceWhenAdded))
	assert.True(t, s.Purchasable)
	k := lineOf(t, c, hatSKUs[0])
	assert.False(t, k.Purchasable, "an archived product's line cannot be bought")
	assert.True(t, proto.Equal(&pb.Money{Amount: 2500, Currency: "USD"}, c.Subtotal), "the archived line is left out")
	assert.Equal(t, int64(3), c.ItemCount)

	_, err = carts(user).AddItem(&pb.AddItemRequest{CommandId: "a3", Sku: hatSKUs[0], Quantity: 1})
	require.Error(t, err)
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	assert.Equal(t, emporium.FieldUnavailable, emporium.ErrorFields(err)[0].Code)
	_, err = carts(user).UpdateLine(&pb.UpdateLineRequest{CommandId: "u1", LineId: k.LineId, Quantity: 3})
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err), "raising an archived line")
	lowered, err := carts(user).UpdateLine(&pb.UpdateLineRequest{CommandId: "u2", LineId: k.LineId, Quantity: 1})
	require.NoError(t, err, "lowering one works")
	assert.Equal(t, int64(1), lineOf(t, lowered, hatSKUs[0]).Quantity)

	// Stock follows the inventory.
	setStock(t, shirtSKUs[0], 1)
	catalogueMoves(t)
	assert.Equal(t, int64(1), lineOf(t, get(t, user), shirtSKUs[0]).Available)
}

func TestPassivationKeepsTheCart(t *testing.T) {
	user := newUser()
	_, skus := newProduct(t, "USD", 99, 100, 200, 300)
	for i := range snapshotEvery + 2 { // past SnapshotEvery: a snapshot, and events after it
		add(t, user, fmt.Sprint("a", i), skus[i%3], 1)
	}
	before := get(t, user)
	// The snapshot is saved in the background; the reload below must find
	// it, with the last two events in the journal only.
	var snapAt uint64
	actorstest.WaitFor(t, 5*time.Second, "the snapshot", func() bool {
		seq, found, err := store.Snapshots().Load(t.Context(), cart.Spec.Stream(user), &pb.State{})
		require.NoError(t, err)
		snapAt = seq
		return found
	})
	require.Equal(t, uint64(snapshotEvery), snapAt, "the snapshot was taken at SnapshotEvery")
	require.Equal(t, uint64(snapshotEvery+2), before.Seq, "two events lie after the snapshot")

	// Passivate the activation the way the idle timeout does: a poison pill.
	pid := member.Get(user, cart.Kind)
	require.NotNil(t, pid)
	require.NoError(t, member.ActorSystem.Root.PoisonFuture(pid).Wait())

	after := get(t, user)
	assert.True(t, proto.Equal(before, after), "the cart changed across passivation: %v -> %v", before, after)
	assert.NotEqual(t, pid.String(), member.Get(user, cart.Kind).String(), "a new activation answered")

	// Retries after the reload are still recognised.
	again := add(t, user, fmt.Sprint("a", snapshotEvery+1), skus[(snapshotEvery+1)%3], 1)
	assert.Equal(t, before.Seq, again.Seq)
	assert.Equal(t, int64(snapshotEvery+2), again.ItemCount)
	again = add(t, user, "a3", skus[0], 1) // remembered in the snapshot
	assert.Equal(t, before.Seq, again.Seq)
}

func TestIdleCartsPassivate(t *testing.T) {
	user := newUser()
	_, skus := newProduct(t, "USD", 5, 100)
	before := add(t, user, "a1", skus[0], 1)
	require.Positive(t, activations.Live())
	actorstest.WaitFor(t, 3*idleTimeout, "every cart passivated", func() bool { return activations.Live() == 0 })
	assert.True(t, proto.Equal(before, get(t, user)))
}

// Two devices of one buyer add to the same cart at once, some SKUs on both:
// every successful add counts once and nothing is lost.
func TestConcurrentDevicesLoseNothing(t *testing.T) {
	user := newUser()
	_, skus := newProduct(t, "USD", 1000, 100, 200, 300)
	shared, phone, laptop := skus[0], skus[1], skus[2]
	const rounds = 40
	var okBy [3]atomic.Int64
	var wg sync.WaitGroup
	device := func(name, own string, ownIndex int) {
		defer wg.Done()
		for i := range rounds {
			for _, sku := range []string{shared, own} {
				req := &pb.AddItemRequest{CommandId: fmt.Sprintf("%s-%s-%d", name, sku, i), Sku: sku, Quantity: 1}
				_, err := carts(user).AddItem(req)
				if !assert.NoError(t, err) {
					return
				}
				if sku == shared {
					okBy[0].Add(1)
				} else {
					okBy[ownIndex].Add(1)
				}
				// Some requests arrive twice, as retries do.
				if i%5 == 0 {
					_, err := carts(user).AddItem(req)
					assert.NoError(t, err)
				}
			}
		}
	}
	wg.Add(2)
	go device("phone", phone, 1)
	go device("laptop", laptop, 2)
	wg.Wait()

	c := get(t, user)
	require.Len(t, c.Lines, 3)
	assert.Equal(t, okBy[0].Load(), lineOf(t, c, shared).Quantity)
	assert.Equal(t, okBy[1].Load(), lineOf(t, c, phone).Quantity)
	assert.Equal(t, okBy[2].Load(), lineOf(t, c, laptop).Quantity)
	assert.Equal(t, int64(4*rounds), c.ItemCount)
	replayed, err := cart.Spec.Replay(t.Context(), store.Journal(), user)
	require.NoError(t, err)
	assert.Len(t, replayed.Lines, 3)
	assert.Equal(t, uint64(4*rounds), c.Seq, "one event per add, none per retry")
}

func TestJournalConflictReloadsAndDecidesAgain(t *testing.T) {
	user := newUser()
	_, skus := newProduct(t, "USD", 10, 100, 200)
	c := add(t, user, "a1", skus[0], 1)
	// Another activation of the same cart (as while members join or leave)
	// appends behind this one's back: it added the second SKU.
	other := &pb.ItemAdded{CommandId: "other", Line: &pb.Line{LineId: "ln2", Sku: skus[1], ProductId: c.Lines[0].ProductId,
		Quantity: 9, PriceWhenAdded: &pb.Money{Amount: 200, Currency: "USD"}}}
	_, err := store.Journal().Append(t.Context(), cart.Spec.Stream(user), c.Seq, other)
	require.NoError(t, err)

	// The grain decides on its stale state, its append collides, and it
	// reloads and decides again: the merge now sees 9 units and refuses
	// the 2 more that would pass the stock.
	_, err = carts(user).AddItem(&pb.AddItemRequest{CommandId: "a2", Sku: skus[1], Quantity: 2})
	assert.Equal(t, emporium.EOUTOFSTOCK, emporium.ErrorCode(err), "%v", err)
	got := add(t, user, "a3", skus[1], 1)
	assert.Equal(t, int64(10), lineOf(t, got, skus[1]).Quantity)
	assert.Equal(t, c.Seq+2, got.Seq)
}

func TestService(t *testing.T) {
	svc, err := cart.NewService(cart.ServiceConfig{Cluster: member})
	require.NoError(t, err)
	assert.Panics(t, func() { _, _ = cart.NewService(cart.ServiceConfig{}) }, "a missing cluster is a wiring mistake")
	ctx := t.Context()
	buyer := emporium.Principal{UserID: newUser()}
	_, skus := newProduct(t, "USD", 10, 1250)

	empty, err := svc.Cart(ctx, buyer)
	require.NoError(t, err)
	assert.NotNil(t, empty.Lines, "an empty cart shows an empty list")
	assert.Empty(t, empty.Lines)

	// The same Idempotency-Key changes the cart once; another key adds again.
	in := emporium.CartItemInput{SKU: skus[0], Quantity: 2}
	first, err := svc.AddItem(ctx, buyer, in, "key-1")
	require.NoError(t, err)
	again, err := svc.AddItem(ctx, buyer, in, "key-1")
	require.NoError(t, err)
	assert.Equal(t, first, again)
	c, err := svc.AddItem(ctx, buyer, emporium.CartItemInput{SKU: skus[0], Quantity: 1}, "")
	require.NoError(t, err)
	require.Len(t, c.Lines, 1)
	l := c.Lines[0]
	assert.Equal(t, int64(3), l.Quantity)
	assert.Equal(t, emporium.Money{Amount: 1250, Currency: "USD"}, l.UnitPrice)
	assert.Equal(t, emporium.Money{Amount: 3750, Currency: "USD"}, l.LineTotal)
	assert.Equal(t, emporium.Money{Amount: 3750, Currency: "USD"}, c.Subtotal)
	assert.Equal(t, int64(3), c.ItemCount)
	assert.Equal(t, uint64(2), c.Seq)
	assert.Equal(t, clock.Now(), c.UpdatedAt)
	assert.Equal(t, map[string]string{"size": "size-0"}, l.Options)
	assert.True(t, l.Purchasable)

	// Another buyer's key does not collide, and their cart is their own.
	other := emporium.Principal{UserID: newUser()}
	theirs, err := svc.AddItem(ctx, other, in, "key-1")
	require.NoError(t, err)
	assert.Equal(t, int64(2), theirs.ItemCount)
	_, err = svc.RemoveLine(ctx, other, l.LineID+"x")
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err))

	c, err = svc.UpdateLine(ctx, buyer, l.LineID, 5)
	require.NoError(t, err)
	assert.Equal(t, int64(5), c.Lines[0].Quantity)
	_, err = svc.UpdateLine(ctx, buyer, l.LineID, 11)
	assert.Equal(t, emporium.EOUTOFSTOCK, emporium.ErrorCode(err))
	_, err = svc.AddItem(ctx, buyer, emporium.CartItemInput{SKU: skus[0], Quantity: 0}, "")
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	assert.Equal(t, []emporium.FieldError{{Field: "quantity", Code: emporium.FieldOutOfRange, Message: "quantity must be between 1 and 99"}},
		emporium.ErrorFields(err), "field errors cross the cluster")
	c, err = svc.RemoveLine(ctx, buyer, l.LineID)
	require.NoError(t, err)
	assert.Empty(t, c.Lines)
	_, err = svc.AddItem(ctx, buyer, in, "")
	require.NoError(t, err)
	c, err = svc.Clear(ctx, buyer)
	require.NoError(t, err)
	assert.Empty(t, c.Lines)
	assert.Equal(t, emporium.Money{Currency: ""}, c.Subtotal)

	_, err = svc.Cart(ctx, emporium.Principal{})
	assert.Equal(t, emporium.EUNAUTHENTICATED, emporium.ErrorCode(err))
}
