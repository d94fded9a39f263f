package order

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/cluster"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/cart"
	"github.com/emporium-shop/emporium/checkout"
	"github.com/emporium-shop/emporium/mail"
	"github.com/emporium-shop/emporium/payments"
	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

// Carts answers the caller's cart (emporium.Carts).
type Carts interface {
	Cart(ctx context.Context, p emporium.Principal) (emporium.Cart, error)
}

// Addresses answers one of the caller's addresses (emporium.Accounts).
type Addresses interface {
	Address(ctx context.Context, p emporium.Principal, id string) (emporium.Address, error)
}

// Reads lists read models (persistence.Projections).
type Reads interface {
	List(ctx context.Context, collection, field string, value any, beforeID string, limit int, into any) error
	GetMany(ctx context.Context, collection string, ids []string, into any) error
}

// ServiceConfig is what the order service needs.
type ServiceConfig struct {
	Cluster   *cluster.Cluster
	Carts     Carts
	Addresses Addresses
	// Catalog answers the facts of the cart's SKUs (their vendors).
	Catalog cart.Catalog
	// Rates prices shipping and tax; the same for previews and orders.
	Rates *checkout.Rates
	// Payments are the payment providers the OrderGrain has, by name.
	Payments map[string]payments.Provider
	Reads    Reads
	// Waiter hears of order changes on this node (Config.Changed), so that
	// a placed order is answered as soon as its saga settles.
	Waiter *Waiter
	Now    func() time.Time
}

// Service is the order service (emporium.Orders) over the OrderGrain.
type Service struct{ cfg ServiceConfig }

var _ emporium.Orders = (*Service)(nil)

// NewService checks cfg and returns the service.
func NewService(cfg ServiceConfig) *Service {
	if cfg.Cluster == nil || cfg.Carts == nil || cfg.Addresses == nil || cfg.Catalog == nil || cfg.Rates == nil || cfg.Reads == nil {
		panic("order.NewService: Cluster, Carts, Addresses, Catalog, Rates and Reads are required")
	}
	if cfg.Waiter == nil {
		cfg.Waiter = NewWaiter()
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	return &Service{cfg: cfg}
}

// MaxWait bounds how long PlaceOrder waits for a saga's outcome.
const MaxWait = 10 * time.Second

// ShippingMethods lists the methods offered to country.
func (s *Service) ShippingMethods(_ context.Context, country string) ([]emporium.ShippingMethod, error) {
	return s.cfg.Rates.Methods(country, ""), nil
}

// Preview prices the caller's cart as PlaceOrder would.
func (s *Service) Preview(ctx context.Context, p emporium.Principal, in emporium.CheckoutInput) (emporium.CheckoutPreview, error) {
	const op = "order.Preview"
	d, err := s.draft(ctx, p, in.ShippingAddressID, in.ShippingMethod)
	if err != nil {
		return emporium.CheckoutPreview{}, emporium.Wrap(op, err)
	}
	return d.preview(), nil
}

// PlaceOrder places the caller's cart as the order of key.
func (s *Service) PlaceOrder(ctx context.Context, p emporium.Principal, in emporium.PlaceOrderInput, key string, wait time.Duration) (emporium.Order, error) {
	const op = "order.PlaceOrder"
	if p.UserID == "" {
		return emporium.Order{}, &emporium.Error{Code: emporium.EUNAUTHENTICATED, Op: op, Message: "Sign in to place an order."}
	}
	if key == "" {
		return emporium.Order{}, &emporium.Error{Code: emporium.EMALFORMED, Op: op,
			Message: "An order needs an Idempotency-Key header, so that a retry cannot buy twice."}
	}
	id, hash := OrderID(p.UserID, key), requestHash(in)
	// Watch before placing: every change of the order after Place is heard
	// of, so the wait asks the grain only when the order lives elsewhere.
	changes, stop := s.cfg.Waiter.Watch(id)
	defer stop()
	o, err := s.place(ctx, p, in, id, hash)
	if err != nil {
		// A replay answers the order as it is, whatever the cart holds now
		// (the order took its lines). The order is asked for only when the
		// request cannot place a new one, which spares every new order a
		// call.
		existing, gerr := s.get(ctx, p, id)
		switch {
		case gerr == nil && existing.State.RequestHash != hash:
			return emporium.Order{}, emporium.Wrap(op, keyReused(id))
		case gerr == nil:
			o = existing
		default:
			return emporium.Order{}, emporium.Wrap(op, err)
		}
	}
	if pendingOnly(o.State) || wait <= 0 {
		return FromProto(o), nil
	}
	return s.waitOn(ctx, o, changes, wait, pendingOnly), nil
}

// place drafts the caller's cart as an order and places it with the grain
// of id, which answers a replay of the same request with the order as it is.
func (s *Service) place(ctx context.Context, p emporium.Principal, in emporium.PlaceOrderInput, id, hash string) (*pb.Order, error) {
	if err := s.checkProvider(in.Payment); err != nil {
		return nil, err
	}
	d, err := s.draft(ctx, p, in.ShippingAddressID, in.ShippingMethod)
	if err != nil {
		return nil, err
	}
	if in.ExpectedTotal != nil && *in.ExpectedTotal != d.quote.Total {
		e := emporium.PriceChanged(emporium.OrderTotals{Subtotal: d.quote.Subtotal, Shipping: d.quote.Shipping,
			Tax: d.quote.Tax, Total: d.quote.Total})
		e.Message = "The total is now " + formatMoney(d.quote.Total) + ", not " + formatMoney(*in.ExpectedTotal) +
			": a price or the shipping changed since the preview. See totals for the amounts now."
		return nil, e
	}
	billing := d.shipTo
	if in.BillingAddressID != "" && in.BillingAddressID != in.ShippingAddressID {
		a, err := s.cfg.Addresses.Address(ctx, p, in.BillingAddressID)
		if err != nil {
			return nil, addressError("billing_address_id", err)
		}
		billing = a
	}
	req := d.placeRequest(p.UserID, hash, in.Payment, billing)
	return s.call(ctx, id, func(g *pb.OrderGrainGrainClient, opt cluster.GrainCallOption) (*pb.Order, error) {
		return g.Place(req, opt)
	})
}

// Order answers one of the caller's orders.
func (s *Service) Order(ctx context.Context, p emporium.Principal, id string) (emporium.Order, error) {
	o, err := s.get(ctx, p, id)
	if err != nil {
		return emporium.Order{}, emporium.Wrap("order.Order", err)
	}
	return FromProto(o), nil
}

// ListOrders lists the caller's orders, newest first, from the read model.
func (s *Service) ListOrders(ctx context.Context, p emporium.Principal, cursor string, limit int) (emporium.OrderPage, error) {
	const op = "order.ListOrders"
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	// One more than a page tells whether there is a next one.
	var views []View
	if err := s.cfg.Reads.List(ctx, ViewCollection, "buyer_id", p.UserID, cursor, limit+1, &views); err != nil {
		return emporium.OrderPage{}, emporium.Wrap(op, err)
	}
	page := emporium.OrderPage{}
	if len(views) > limit {
		views = views[:limit]
		last := views[limit-1]
		page.NextCursor = last.listKey()
	}
	page.Items = make([]emporium.Order, len(views))
	for i, v := range views {
		page.Items[i] = v.Order
	}
	return page, nil
}

// CancelOrder cancels one of the caller's orders, and waits a moment for
// the stock and the money to be given back.
func (s *Service) CancelOrder(ctx context.Context, p emporium.Principal, id, key string) (emporium.Order, error) {
	const op = "order.CancelOrder"
	if err := s.checkID(p, id); err != nil {
		return emporium.Order{}, emporium.Wrap(op, err)
	}
	req := &pb.CancelRequest{CommandId: commandID(p, "cancel:"+id, key), BuyerId: p.UserID}
	o, err := s.call(ctx, id, func(g *pb.OrderGrainGrainClient, opt cluster.GrainCallOption) (*pb.Order, error) {
		return g.Cancel(req, opt)
	})
	if err != nil {
		return emporium.Order{}, emporium.Wrap(op, err)
	}
	return s.wait(ctx, o, 2*time.Second, untilEnded)
}

// ConfirmPayment tells an order awaiting its payment's approval that the
// buyer came back.
func (s *Service) ConfirmPayment(ctx context.Context, p emporium.Principal, id string) (emporium.Order, error) {
	const op = "order.ConfirmPayment"
	if err := s.checkID(p, id); err != nil {
		return emporium.Order{}, emporium.Wrap(op, err)
	}
	req := &pb.ConfirmPaymentRequest{CommandId: rand.Text(), BuyerId: p.UserID}
	o, err := s.call(ctx, id, func(g *pb.OrderGrainGrainClient, opt cluster.GrainCallOption) (*pb.Order, error) {
		return g.ConfirmPayment(req, opt)
	})
	if err != nil {
		return emporium.Order{}, emporium.Wrap(op, err)
	}
	return s.wait(ctx, o, 2*time.Second, approvalSettled)
}

// checkID refuses an anonymous caller, and an id that cannot be an
// order's before any grain is activated for it.
func (s *Service) checkID(p emporium.Principal, id string) error {
	if p.UserID == "" {
		return &emporium.Error{Code: emporium.EUNAUTHENTICATED, Message: "Sign in to see your orders."}
	}
	if !validID(id) {
		return emporium.Errorf(emporium.ENOTFOUND, "There is no order %s.", id)
	}
	return nil
}

// get asks the order's grain for it, as the caller.
func (s *Service) get(ctx context.Context, p emporium.Principal, id string) (*pb.Order, error) {
	if err := s.checkID(p, id); err != nil {
		return nil, err
	}
	return s.call(ctx, id, func(g *pb.OrderGrainGrainClient, opt cluster.GrainCallOption) (*pb.Order, error) {
		return g.Get(&pb.GetRequest{BuyerId: p.UserID}, opt)
	})
}

// peek asks the order's grain for it without a caller: only to follow an
// order whose caller a request to the grain authorised already (a wait).
func (s *Service) peek(ctx context.Context, id string) (*pb.Order, error) {
	return s.call(ctx, id, func(g *pb.OrderGrainGrainClient, opt cluster.GrainCallOption) (*pb.Order, error) {
		return g.Get(&pb.GetRequest{Admin: true}, opt)
	})
}

func (s *Service) call(ctx context.Context, id string, fn func(*pb.OrderGrainGrainClient, cluster.GrainCallOption) (*pb.Order, error)) (*pb.Order, error) {
	o, err := fn(pb.GetOrderGrainGrainClient(s.cfg.Cluster, id), actors.Within(ctx, s.cfg.Cluster))
	if err != nil {
		return nil, emporium.GrainCall("order.call", err)
	}
	return o, nil
}

// Conditions a wait ends on.
var (
	pendingOnly = func(s *pb.State) bool { return s.Status != emporium.OrderPending }
	untilEnded  = func(s *pb.State) bool { return (s.Outcome == "" || Terminal(s)) && adjustmentDue(s) == nil }
	// approvalSettled waits out the provider's answer to a confirmation:
	// the order is no longer pending, and not asking the provider either.
	approvalSettled = func(s *pb.State) bool {
		return s.Status != emporium.OrderPending &&
			!(s.Status == emporium.OrderAwaitingPayment && (s.Payment.GetConfirmRequested() || s.Started != pb.Step_STEP_NONE))
	}
)

// pollInterval is how often a wait asks the grain of an order that has not
// changed on this node meanwhile: the order may live on another node.
const pollInterval = 100 * time.Millisecond

// wait answers o once done says so or wait has passed, whichever is first.
func (s *Service) wait(ctx context.Context, o *pb.Order, wait time.Duration, done func(*pb.State) bool) (emporium.Order, error) {
	if done(o.State) || wait <= 0 {
		return FromProto(o), nil
	}
	changes, stop := s.cfg.Waiter.Watch(o.State.Id)
	defer stop()
	// A change between o and the watch would not be heard of: ask once.
	if fresh, err := s.peek(ctx, o.State.Id); err == nil && fresh.Seq > o.Seq {
		o = fresh
	}
	return s.waitOn(ctx, o, changes, wait, done), nil
}

// waitOn answers o once done says so or wait has passed: it takes the
// order's changes on this node from changes, and asks the grain when none
// came for pollInterval, in case the order lives on another node.
func (s *Service) waitOn(ctx context.Context, o *pb.Order, changes <-chan *pb.Order, wait time.Duration, done func(*pb.State) bool) emporium.Order {
	deadline := time.NewTimer(min(wait, MaxWait))
	defer deadline.Stop()
	poll := time.NewTimer(pollInterval)
	defer poll.Stop()
	for !done(o.State) {
		select {
		case fresh := <-changes:
			if fresh.Seq > o.Seq {
				o = fresh
			}
			poll.Reset(pollInterval)
		case <-poll.C:
			if fresh, err := s.peek(ctx, o.State.Id); err == nil && fresh.Seq > o.Seq {
				o = fresh
			}
			poll.Reset(pollInterval)
		case <-deadline.C:
			return FromProto(o)
		case <-ctx.Done():
			return FromProto(o)
		}
	}
	return FromProto(o)
}

// checkProvider refuses a payment the node cannot take: a provider it does
// not have, or a payment method the provider says it cannot take (before
// anything is reserved).
func (s *Service) checkProvider(in emporium.PaymentInput) error {
	p, ok := s.cfg.Payments[in.Provider]
	if !ok {
		names := slices.Sorted(maps.Keys(s.cfg.Payments))
		return emporium.Invalidf("payment.provider", emporium.FieldInvalid,
			"payment.provider must be one of: %s", strings.Join(names, ", "))
	}
	if c, ok := p.(MethodChecker); ok {
		return c.CheckMethod(in.Token)
	}
	return nil
}

// MethodChecker is a provider that can tell, without a call, whether it
// takes a payment method (the sandbox knows its test tokens).
type MethodChecker interface {
	CheckMethod(method string) error
}

// draft is a cart priced for an address and a shipping method: what a
// preview shows and an order holds.
type draft struct {
	lines  []*pb.Line
	quote  checkout.Quote
	shipTo emporium.Address
}

// draft reads the caller's cart and address and prices them.
func (s *Service) draft(ctx context.Context, p emporium.Principal, addressID, method string) (*draft, error) {
	if p.UserID == "" {
		return nil, &emporium.Error{Code: emporium.EUNAUTHENTICATED, Message: "Sign in to check out."}
	}
	if addressID == "" {
		return nil, emporium.Invalidf("shipping_address_id", emporium.FieldRequired, "shipping_address_id is required")
	}
	shipTo, err := s.cfg.Addresses.Address(ctx, p, addressID)
	if err != nil {
		return nil, addressError("shipping_address_id", err)
	}
	c, err := s.cfg.Carts.Cart(ctx, p)
	if err != nil {
		return nil, err
	}
	if len(c.Lines) == 0 {
		return nil, emporium.Invalidf("cart", emporium.FieldRequired, "The cart is empty.")
	}
	skus := make([]string, len(c.Lines))
	for i, l := range c.Lines {
		skus[i] = l.SKU
	}
	facts, err := s.cfg.Catalog.Items(ctx, skus...)
	if err != nil {
		return nil, err
	}
	d := &draft{shipTo: shipTo, lines: make([]*pb.Line, len(c.Lines))}
	priced := make([]checkout.Line, len(c.Lines))
	for i, l := range c.Lines {
		item, known := facts[l.SKU]
		if !l.Purchasable || !known || !item.Active {
			return nil, emporium.Invalidf("cart", emporium.FieldUnavailable,
				"%s (SKU %s) can no longer be bought; remove it from the cart.", l.Title, l.SKU)
		}
		priced[i] = checkout.Line{Quantity: l.Quantity, UnitPrice: l.UnitPrice}
		d.lines[i] = &pb.Line{LineId: l.LineID, ProductId: l.ProductID, VendorId: item.VendorID, Sku: l.SKU,
			Title: l.Title, Options: l.Options, Quantity: l.Quantity, UnitPrice: pbMoney(l.UnitPrice)}
	}
	if d.quote, err = s.cfg.Rates.Quote(priced, shipTo.Country, shipTo.Region, method, s.cfg.Now()); err != nil {
		return nil, addressFields(err)
	}
	for i := range d.lines {
		d.lines[i].LineTotal = pbMoney(d.quote.LineTotals[i])
	}
	return d, nil
}

func (d *draft) preview() emporium.CheckoutPreview {
	out := emporium.CheckoutPreview{
		Lines:    make([]emporium.OrderLine, len(d.lines)),
		Subtotal: d.quote.Subtotal, Shipping: d.quote.Shipping, Tax: d.quote.Tax, Total: d.quote.Total,
		ShippingMethod: d.quote.Method, EstimatedDelivery: d.quote.EstimatedDelivery,
	}
	for i, l := range d.lines {
		out.Lines[i] = lineOf(l, nil) // a draft's lines are not fulfilled: no status
	}
	return out
}

func (d *draft) placeRequest(buyer, hash string, pay emporium.PaymentInput, billing emporium.Address) *pb.PlaceRequest {
	m := d.quote.Method
	return &pb.PlaceRequest{
		BuyerId: buyer, RequestHash: hash, Lines: d.lines,
		Subtotal: pbMoney(d.quote.Subtotal), Shipping: pbMoney(d.quote.Shipping),
		Tax: pbMoney(d.quote.Tax), Total: pbMoney(d.quote.Total),
		ShippingMethod: &pb.ShippingMethod{Id: m.ID, Name: m.Name, Price: pbMoney(m.Price),
			MinDays: int32(m.MinDays), MaxDays: int32(m.MaxDays)},
		ShippingAddress:   pbAddress(d.shipTo),
		BillingAddress:    pbAddress(billing),
		Provider:          pay.Provider,
		PaymentMethod:     pay.Token,
		ReturnUrl:         pay.ReturnURL,
		EstimatedDelivery: d.quote.EstimatedDelivery,
	}
}

// addressError names the request field of an address that is not the
// caller's.
func addressError(field string, err error) error {
	if emporium.IsCode(err, emporium.ENOTFOUND) {
		return emporium.Invalidf(field, emporium.FieldNotFound, "You have no address with that id.")
	}
	return err
}

// addressFields moves checkout's refusals of the address's country or
// region onto the request field that chose the address.
func addressFields(err error) error {
	fields := emporium.ErrorFields(err)
	if len(fields) == 0 {
		return err
	}
	out := make([]emporium.FieldError, len(fields))
	for i, f := range fields {
		out[i] = f
		if f.Field == "country" || f.Field == "region" {
			out[i].Field = "shipping_address_id"
			out[i].Message = "The shipping address's " + f.Field + ": " + f.Message
		}
	}
	return emporium.InvalidFields(out...)
}

// OrderID derives the id of the order a buyer places with an
// Idempotency-Key: a retry, through any node, reaches the same OrderGrain.
func OrderID(userID, key string) string {
	sum := sha256.Sum256([]byte(userID + "\x00" + key))
	return "ord_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:16]))
}

// validID reports whether id can be an order id, before a grain is
// activated for it.
func validID(id string) bool {
	if len(id) != 30 || !strings.HasPrefix(id, "ord_") {
		return false
	}
	for _, r := range id[4:] {
		if !(r >= 'a' && r <= 'z' || r >= '2' && r <= '7') {
			return false
		}
	}
	return true
}

// requestHash is the hash of a place-order request the order keeps: the
// same key with another body is refused.
func requestHash(in emporium.PlaceOrderInput) string {
	b, _ := json.Marshal(in) // a struct of strings and numbers always encodes
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// commandID derives a command id from the caller and an Idempotency-Key,
// or makes a random one without a key.
func commandID(p emporium.Principal, what, key string) string {
	if key == "" {
		return what + ":" + rand.Text()
	}
	sum := sha256.Sum256([]byte(p.UserID + "\x00" + what + "\x00" + key))
	return hex.EncodeToString(sum[:])
}

func formatMoney(m emporium.Money) string { return mail.FormatMoney(m.Amount, m.Currency) }

func pbMoney(m emporium.Money) *pb.Money { return &pb.Money{Amount: m.Amount, Currency: m.Currency} }

func pbAddress(a emporium.Address) *pb.Address {
	return &pb.Address{FullName: a.FullName, Line1: a.Line1, Line2: a.Line2, City: a.City, Region: a.Region,
		PostalCode: a.PostalCode, Country: a.Country, Phone: a.Phone}
}

// Waiter tells the order service of this node when an order changed here,
// and what it is now: a waiting PlaceOrder takes the order from the change
// instead of asking its grain again.
type Waiter struct {
	mu   sync.Mutex
	subs map[string]map[chan *pb.Order]struct{}
}

// NewWaiter returns an empty Waiter.
func NewWaiter() *Waiter { return &Waiter{subs: map[string]map[chan *pb.Order]struct{}{}} }

// Watch returns a channel that receives the order id after each of its
// changes (the newest only, when the watcher is behind), and the function
// that stops watching.
func (w *Waiter) Watch(id string) (<-chan *pb.Order, func()) {
	ch := make(chan *pb.Order, 1)
	w.mu.Lock()
	if w.subs[id] == nil {
		w.subs[id] = map[chan *pb.Order]struct{}{}
	}
	w.subs[id][ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		delete(w.subs[id], ch)
		if len(w.subs[id]) == 0 {
			delete(w.subs, id)
		}
		w.mu.Unlock()
	}
}

// Changed hands o, which its watchers must not modify, to the watchers of
// its order; it never blocks. A watcher that has not taken the change
// before gets this one instead.
func (w *Waiter) Changed(o *pb.Order) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.subs[o.GetState().GetId()] {
		select {
		case ch <- o:
		default:
			select {
			case <-ch:
			default:
			}
			select {
			case ch <- o:
			default:
			}
		}
	}
}
