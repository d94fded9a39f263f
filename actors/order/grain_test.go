package order_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/actors/cart"
	"github.com/emporium-shop/emporium/actors/catalog"
	"github.com/emporium-shop/emporium/actors/inventory"
	"github.com/emporium-shop/emporium/actors/order"
	"github.com/emporium-shop/emporium/payments"
	"github.com/emporium-shop/emporium/payments/sandbox"
	"github.com/emporium-shop/emporium/persistence"
	inventorypb "github.com/emporium-shop/emporium/protos/inventorypb"
	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

// One cluster member and one store serve every test of this package. The
// member hosts the OrderGrain with the sandbox provider (its ledger in the
// store), and the real InventoryGrain and CartGrain it calls. Each test
// uses its own SKUs and buyers.
var (
	member  *cluster.Cluster
	store   persistence.Store
	box     *sandbox.Sandbox
	crashes = &crasher{}
	// pushes counts the vendor.order.created pushes per order and vendor.
	pushes  = &pushCounter{n: map[string]int{}}
	slow    = &gated{}
	counter atomic.Int64
)

func TestMain(m *testing.M) {
	os.Exit(actorstest.Main(m, "order", func(s persistence.Store, logger *slog.Logger, cleanup func(func())) error {
		store = s
		box = sandbox.New(store, sandbox.Config{TimeoutDelay: 5 * time.Millisecond})
		slow.Provider = box
		items, err := catalog.NewItems(catalog.ItemsConfig{Reads: store.Projections(), Logger: logger})
		if err != nil {
			return err
		}
		grains := actors.GrainConfig{Journal: store.Journal(), Snapshots: store.Snapshots(), Logger: logger}
		member, err = actors.StartMember(actors.ClusterConfig{Provider: actors.ProviderLocal, Addr: "127.0.0.1:0", Logger: logger},
			order.NewKind(order.Config{
				GrainConfig: grains,
				Payments:    map[string]payments.Provider{sandbox.Name: box, "slow": slow},
				Views:       store.Projections(),
				RetryMin:    2 * time.Millisecond,
				RetryMax:    40 * time.Millisecond,
				Crash:       crashes.crash,
				VendorOrderCreated: func(vendorID string, o emporium.VendorOrder) {
					pushes.add(o.ID + "/" + vendorID)
				},
			}),
			inventory.NewKind(inventory.Config{GrainConfig: grains, Views: store.Projections()}),
			cart.NewKind(cart.Config{GrainConfig: grains, Catalog: items}))
		if err != nil {
			return err
		}
		cleanup(func() { member.Shutdown(true) })
		return nil
	}))
}

// pushCounter counts calls by key.
type pushCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *pushCounter) add(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[key]++
}

func (c *pushCounter) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

// gated is a provider whose authorisations wait until the test opens the
// gate (or the call's deadline passes): a provider that is slow to answer.
type gated struct {
	payments.Provider
	mu   sync.Mutex
	gate chan struct{}
}

func (g *gated) Name() string { return "slow" }

// shut closes the gate to authorisations, and returns the function that
// opens it.
func (g *gated) shut() (open func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gate := make(chan struct{})
	g.gate = gate
	return func() { close(gate) }
}

func (g *gated) Authorize(ctx context.Context, req payments.AuthorizeRequest) (payments.Authorization, error) {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	select {
	case <-gate:
	case <-ctx.Done():
		return payments.Authorization{}, emporium.Errorf(emporium.EUNAVAILABLE, "the provider did not answer")
	}
	return g.Provider.Authorize(ctx, req)
}

// crasher is the grains' crash hook: armed with a point for an order, it
// answers true the first time that order's saga reaches it.
type crasher struct {
	mu     sync.Mutex
	points map[string]string // order id -> crash point
	// watch is called at every point an order's saga reaches, by order id.
	watch map[string]func(point string)
}

// observe calls fn at every point order id's saga reaches.
func (c *crasher) observe(orderID string, fn func(point string)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.watch == nil {
		c.watch = map[string]func(string){}
	}
	c.watch[orderID] = fn
}

func (c *crasher) arm(orderID, point string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.points == nil {
		c.points = map[string]string{}
	}
	c.points[orderID] = point
}

func (c *crasher) crash(orderID, point string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fn := c.watch[orderID]; fn != nil {
		fn(point)
	}
	if c.points[orderID] != point {
		return false
	}
	delete(c.points, orderID)
	return true
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func usd(n int64) *pb.Money { return &pb.Money{Amount: n, Currency: "USD"} }

// stock gives sku onHand units.
func stock(t *testing.T, sku string, onHand int64) {
	t.Helper()
	_, err := inventorypb.GetInventoryGrainGrainClient(member, sku).SetStock(
		&inventorypb.SetStockRequest{CommandId: fmt.Sprint("set-", counter.Add(1)), OnHand: onHand},
		actors.Within(ctxT(t), member))
	require.NoError(t, err)
}

// availability answers sku's stock, asking again while a busy store
// answers unavailable.
func availability(t *testing.T, sku string) *inventorypb.Stock {
	t.Helper()
	var st *inventorypb.Stock
	actorstest.WaitFor(t, 20*time.Second, "the stock of "+sku, func() bool {
		var err error
		st, err = inventorypb.GetInventoryGrainGrainClient(member, sku).GetAvailability(&inventorypb.GetAvailabilityRequest{},
			actors.Within(ctxT(t), member))
		require.True(t, err == nil || emporium.IsCode(emporium.GrainCall("availability", err), emporium.EUNAVAILABLE), "%v", err)
		return err == nil
	})
	return st
}

// placeRequest is an order of qty units of sku at 1000 each, paid with
// token.
func placeRequest(buyer, sku string, qty int64, token string) *pb.PlaceRequest {
	return &pb.PlaceRequest{
		BuyerId: buyer, RequestHash: "hash-" + buyer,
		Lines:    []*pb.Line{{LineId: "l1", Sku: sku, Quantity: qty, UnitPrice: usd(1000), LineTotal: usd(1000 * qty)}},
		Subtotal: usd(1000 * qty), Shipping: usd(500), Tax: usd(0), Total: usd(1000*qty + 500),
		Provider: sandbox.Name, PaymentMethod: token,
	}
}

func place(ctx context.Context, id string, req *pb.PlaceRequest) (*pb.Order, error) {
	o, err := pb.GetOrderGrainGrainClient(member, id).Place(req, actors.Within(ctx, member))
	return o, emporium.GrainCall("place", err)
}

func get(ctx context.Context, id, buyer string) (*pb.Order, error) {
	o, err := pb.GetOrderGrainGrainClient(member, id).Get(&pb.GetRequest{BuyerId: buyer}, actors.Within(ctx, member))
	return o, emporium.GrainCall("get", err)
}

// settle waits until the order's saga has nothing left to do, and answers
// it. Asking activates the grain, which resumes a saga a crash stopped.
func settle(t *testing.T, id, buyer string) *pb.State {
	t.Helper()
	var last *pb.Order
	actorstest.WaitFor(t, 20*time.Second, "order "+id+" to settle", func() bool {
		o, err := get(t.Context(), id, buyer)
		if err != nil {
			return false
		}
		last = o
		return order.Settled(o.State, time.Now()) && o.State.Status != emporium.OrderPending
	})
	return last.State
}

// ledgerOf answers the sandbox's payments of order id.
func ledgerOf(t *testing.T, id string) []sandbox.Payment {
	t.Helper()
	var all []sandbox.Payment
	actorstest.WaitFor(t, 20*time.Second, "the sandbox ledger", func() bool {
		var err error
		all, err = box.Ledger(t.Context())
		require.True(t, err == nil || emporium.IsCode(err, emporium.EUNAVAILABLE), "%v", err)
		return err == nil
	})
	var out []sandbox.Payment
	for _, p := range all {
		if p.OrderID == id {
			out = append(out, p)
		}
	}
	return out
}

func TestOrderConfirms(t *testing.T) {
	sku := fmt.Sprint("SKU-OK-", counter.Add(1))
	stock(t, sku, 5)
	id := order.OrderID("buyer-ok", sku) // a key of its own each run (go test -count)
	o, err := place(ctxT(t), id, placeRequest("buyer-ok", sku, 2, payments.TokenVisa))
	require.NoError(t, err)
	assert.Equal(t, "buyer-ok", o.State.BuyerId)
	s := settle(t, id, "buyer-ok")
	assert.Equal(t, emporium.OrderConfirmed, s.Status)
	assert.Equal(t, emporium.PaymentCaptured, s.Payment.Status)
	st := availability(t, sku)
	assert.Equal(t, int64(3), st.OnHand)
	assert.Equal(t, int64(2), st.Sold)
	pays := ledgerOf(t, id)
	require.Len(t, pays, 1)
	assert.Equal(t, int64(2500), pays[0].Captured)

	_, err = get(ctxT(t), id, "someone-else")
	assert.True(t, emporium.IsCode(err, emporium.ENOTFOUND), "another buyer's order: %v", err)
}

// A slow provider never holds the order's mailbox: the order answers at
// once while its authorisation waits, and settles when the provider does.
func TestOrderAnswersWhileTheProviderIsSlow(t *testing.T) {
	sku := fmt.Sprint("SKU-SLOW-", counter.Add(1))
	stock(t, sku, 5)
	id := order.OrderID("buyer-slow", sku)
	req := placeRequest("buyer-slow", sku, 1, payments.TokenVisa)
	req.Provider = "slow"
	open := slow.shut()
	start := time.Now()
	o, err := place(ctxT(t), id, req)
	require.NoError(t, err)
	assert.Equal(t, emporium.OrderPending, o.State.Status)
	actorstest.WaitFor(t, 5*time.Second, "the authorisation under way", func() bool {
		o, err := get(t.Context(), id, "buyer-slow")
		return err == nil && o.State.Started == pb.Step_STEP_AUTHORIZE
	})
	for range 5 {
		asked := time.Now()
		o, err := get(ctxT(t), id, "buyer-slow")
		require.NoError(t, err)
		assert.Equal(t, emporium.OrderPending, o.State.Status)
		assert.Less(t, time.Since(asked), time.Second, "the order answers while the provider is silent")
	}
	assert.Less(t, time.Since(start), 3*time.Second, "all of that before the provider's timeout")
	open()
	s := settle(t, id, "buyer-slow")
	assert.Equal(t, emporium.OrderConfirmed, s.Status)
}

// 1,000 concurrent buyers for 10 units of one SKU: exactly 10 orders
// confirmed, the rest failed out_of_stock, and the stock adds up
// throughout.
func TestThousandBuyersForTenUnits(t *testing.T) {
	const buyers, units = 1000, 10
	sku := fmt.Sprint("SKU-RUSH-", counter.Add(1))
	stock(t, sku, units)
	stop := make(chan struct{})
	var watched sync.WaitGroup
	watched.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			// A store too busy to answer in time says unavailable: that
			// is no answer about the stock, so it is skipped.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			st, err := inventorypb.GetInventoryGrainGrainClient(member, sku).GetAvailability(
				&inventorypb.GetAvailabilityRequest{}, actors.Within(ctx, member))
			cancel()
			if err != nil {
				assert.True(t, emporium.IsCode(emporium.GrainCall("availability", err), emporium.EUNAVAILABLE), "%v", err)
				continue
			}
			assert.Equal(t, st.OnHand, st.Available+st.Reserved, "on_hand = available + reserved")
			assert.GreaterOrEqual(t, st.Available, int64(0))
			assert.GreaterOrEqual(t, st.OnHand, int64(0))
		}
	})
	ids := make([]string, buyers)
	var wg sync.WaitGroup
	for i := range buyers {
		buyer := fmt.Sprint("rush-", i)
		ids[i] = order.OrderID(buyer, sku)
		wg.Go(func() {
			// A busy node answers unavailable; a client retries (the
			// order id makes the retry the same order).
			deadline := time.Now().Add(60 * time.Second)
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := place(ctx, ids[i], placeRequest(buyer, sku, 1, payments.TokenVisa))
				cancel()
				if err == nil || !emporium.IsCode(err, emporium.EUNAVAILABLE) || time.Now().After(deadline) {
					assert.NoError(t, err)
					return
				}
			}
		})
	}
	wg.Wait()
	confirmed, outOfStock := 0, 0
	for i, id := range ids {
		s := settle(t, id, fmt.Sprint("rush-", i))
		switch {
		case s.Status == emporium.OrderConfirmed:
			confirmed++
		case s.Status == emporium.OrderFailed && s.FailureReason == emporium.ReasonOutOfStock:
			outOfStock++
		default:
			t.Errorf("order %s ended %s (%s)", id, s.Status, s.FailureReason)
		}
	}
	close(stop)
	watched.Wait()
	assert.Equal(t, units, confirmed)
	assert.Equal(t, buyers-units, outOfStock)
	st := availability(t, sku)
	assert.Equal(t, int64(0), st.OnHand)
	assert.Equal(t, int64(units), st.Sold)
	assert.Equal(t, int64(0), st.Reserved)
}

// 50 concurrent places of one order: every answer names it, and it
// authorises and captures once.
func TestConcurrentPlacesOfOneOrder(t *testing.T) {
	sku := fmt.Sprint("SKU-DUP-", counter.Add(1))
	stock(t, sku, 5)
	id := order.OrderID("buyer-dup", sku)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			o, err := place(ctxT(t), id, placeRequest("buyer-dup", sku, 1, payments.TokenVisa))
			if assert.NoError(t, err) {
				assert.Equal(t, id, o.State.Id)
			}
		})
	}
	wg.Wait()
	s := settle(t, id, "buyer-dup")
	assert.Equal(t, emporium.OrderConfirmed, s.Status)
	pays := ledgerOf(t, id)
	require.Len(t, pays, 1, "one payment")
	captures := 0
	for _, op := range pays[0].Operations {
		if op.Kind == sandbox.OpCapture {
			captures++
		}
	}
	assert.Equal(t, 1, captures, "one capture")
	assert.Equal(t, int64(1), availability(t, sku).Sold)
}

// The crash points of the saga (see Config.Crash).
func crashPoints() []string {
	points := []string{"before-journal:request", "after-journal:request", "before-journal:advance", "after-journal:advance"}
	for _, step := range []pb.Step{pb.Step_STEP_RESERVE, pb.Step_STEP_AUTHORIZE, pb.Step_STEP_COMMIT, pb.Step_STEP_CAPTURE,
		pb.Step_STEP_CHECKOUT_CART, pb.Step_STEP_NOTIFY, pb.Step_STEP_VOID, pb.Step_STEP_REFUND, pb.Step_STEP_RETURN_STOCK} {
		for _, at := range []string{"before-effect:", "after-effect:", "before-journal:", "after-journal:"} {
			points = append(points, at+step.String())
		}
	}
	return points
}

// A crash at a random point of the saga, 200 times: every order ends
// settled; no capture without a confirmed order and none confirmed
// without a capture; a failed or cancelled order's stock is all back and
// its money refunded or its hold voided.
func TestCrashAnywhere(t *testing.T) {
	points := crashPoints()
	tokens := []string{payments.TokenVisa, payments.TokenVisa, payments.TokenDeclined, payments.TokenTimeout}
	runs := 200
	if testing.Short() {
		runs = 40
	}
	// Runs go eight at a time, each with its own order, SKU and crash.
	const workers = 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(11, uint64(w)))
			for run := w; run < runs && !t.Failed(); run += workers {
				crashRun(t, run, points[r.IntN(len(points))], tokens[r.IntN(len(tokens))], r.IntN(3) == 0)
			}
		})
	}
	wg.Wait()
}

// crashRun places an order that crashes at point, cancels it once
// confirmed when cancel is set, and checks what it left.
func crashRun(t *testing.T, run int, point, token string, cancel bool) {
	sku := fmt.Sprint("SKU-CRASH-", counter.Add(1))
	buyer := fmt.Sprint("crash-", run)
	stock(t, sku, 3)
	id := order.OrderID(buyer, sku)
	crashes.arm(id, point)
	req := placeRequest(buyer, sku, 2, token)
	// Two vendors' lines, so that their mails and pushes run under the
	// crash too.
	req.Lines[0].VendorId = "v-crash-1"
	req.Lines[0].Quantity, req.Lines[0].LineTotal = 1, usd(1000)
	req.Lines = append(req.Lines, &pb.Line{LineId: "l2", Sku: sku, VendorId: "v-crash-2", Quantity: 1,
		UnitPrice: usd(1000), LineTotal: usd(1000)})
	actorstest.WaitFor(t, 10*time.Second, "the order placed", func() bool {
		_, err := place(t.Context(), id, req) // a client retries a failed place
		return err == nil
	})
	s := settle(t, id, buyer)
	if cancel && s.Status == emporium.OrderConfirmed {
		actorstest.WaitFor(t, 10*time.Second, "the order cancelled", func() bool {
			// A crash may hit the cancel request itself: it is retried.
			_, err := pb.GetOrderGrainGrainClient(member, id).Cancel(&pb.CancelRequest{CommandId: "c", BuyerId: buyer},
				actors.Within(t.Context(), member))
			return err == nil
		})
		s = settle(t, id, buyer)
	}
	what := fmt.Sprintf("run %d: crash at %s, %s, cancel %v: %s %s", run, point, token, cancel, s.Status, s.FailureReason)
	st := availability(t, sku)
	var captured, refunded int64
	for _, p := range ledgerOf(t, id) {
		captured += p.Captured
		refunded += p.Refunded
		if s.Status != emporium.OrderConfirmed {
			assert.NotEqual(t, payments.StatusAuthorized, p.Status, "%s: a hold left on a failed order", what)
		}
	}
	if s.CartCheckedOut {
		// Confirmed once: each vendor's mail is recorded exactly once, and
		// pushed once, or twice only when the crash hit between the mail's
		// effect and its record.
		for _, v := range []string{"v-crash-1", "v-crash-2"} {
			mails := 0
			for _, k := range s.Notified {
				if k == order.MailVendorOrder+v {
					mails++
				}
			}
			n := pushes.count(id + "/" + v)
			if s.Status == emporium.OrderCancelled && mails == 0 {
				continue // cancelled before the vendors' mails were recorded
			}
			assert.Equal(t, 1, mails, "%s: %s's mail recorded once: %v", what, v, s.Notified)
			if point == "after-effect:STEP_NOTIFY" || point == "before-journal:STEP_NOTIFY" {
				assert.Contains(t, []int{1, 2}, n, "%s: %s pushed", what, v)
			} else {
				assert.Equal(t, 1, n, "%s: %s pushed once", what, v)
			}
		}
	}
	switch s.Status {
	case emporium.OrderConfirmed:
		assert.Equal(t, s.Total.Amount, captured-refunded, "%s: a confirmed order is captured once", what)
		assert.Equal(t, int64(2), st.Sold, what)
		assert.Equal(t, int64(1), st.OnHand, what)
	case emporium.OrderFailed, emporium.OrderCancelled:
		assert.Equal(t, int64(0), captured-refunded, "%s: no money kept", what)
		assert.Equal(t, int64(3), st.OnHand, "%s: the stock is back", what)
		assert.Equal(t, int64(0), st.Sold, what)
		assert.Equal(t, int64(0), st.Reserved, what)
	default:
		t.Errorf("%s: not settled", what)
	}
}
