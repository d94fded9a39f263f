package cart

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors/product"
	pb "github.com/emporium-shop/emporium/protos/cartpb"
)

// The pure core of the CartGrain: decide turns a command into events (or
// refuses it) without changing anything, apply folds an event into the state
// without checking anything, and priced renders the state as the answer.
// The actor shell (grain.go) persists the events between them. Nothing here
// does I/O or reads the clock: the shell passes now and the catalogue facts
// of the SKUs involved (Catalog), looked up before deciding.

// Limits of a cart.
const (
	// MaxLines is how many lines a cart holds.
	MaxLines = 100
)

// Item is what the catalogue says of one SKU now: the facts a cart decision
// and a priced cart need.
type Item struct {
	SKU       string
	ProductID string
	// VendorID is the product's vendor; orders split by it.
	VendorID string
	Title    string
	// Options maps each option name to the SKU's value. It may be shared
	// with a cache and with answers: read it, never change it.
	Options map[string]string
	// Price is the SKU's current price, in its product's currency.
	Price emporium.Money
	// Active is true while the product is on sale (status "active").
	Active bool
	// Available is the units a buyer can order now (on hand minus
	// reserved).
	Available int64
}

// Catalog answers the catalogue facts of SKUs; actors/catalog.Items reads
// them from the product and inventory read models. The cart checks a command
// against them (a SKU must exist, be on sale, and have the units) and prices
// every answer with them.
//
// The facts may be a moment old (a cache of a second or two): a cart may
// show a price or an availability just changed, and may accept units that
// were sold a moment before. That is acceptable in a cart because checkout
// reserves the stock atomically in the InventoryGrain and prices the order
// there and then; the cart only must not promise what it knows to be wrong.
type Catalog interface {
	// Items answers the facts of the SKUs the catalogue knows, by SKU; a
	// SKU it does not know is absent from the map. It is called once per
	// command with every SKU of the cart, so it should batch.
	Items(ctx context.Context, skus ...string) (map[string]Item, error)
}

// newState returns the state of a user who never had a cart.
func newState(userID string) *pb.State { return &pb.State{UserId: userID} }

// needs returns the SKUs whose facts decide and priced need for cmd: every
// line's, and the SKU an AddItem names when it can exist.
func needs(s *pb.State, cmd proto.Message) []string {
	skus := make([]string, 0, len(s.Lines)+1)
	for _, l := range s.Lines {
		skus = append(skus, l.Sku)
	}
	if c, ok := cmd.(*pb.AddItemRequest); ok && product.CheckSKU(c.Sku) && !slices.Contains(skus, c.Sku) {
		skus = append(skus, c.Sku)
	}
	return skus
}

// decide checks cmd against the state and the catalogue facts items (by
// SKU, as Catalog answers them) and returns the events that carry it out.
// No events and no error means the command asks for what already holds; a
// retry (a command id the state remembers) is answered by the shell before
// decide runs.
func decide(s *pb.State, cmd proto.Message, items map[string]Item, now time.Time) ([]proto.Message, error) {
	switch c := cmd.(type) {
	case *pb.AddItemRequest:
		return decideAdd(s, c, items, now)
	case *pb.UpdateLineRequest:
		return decideUpdate(s, c, items, now)
	case *pb.RemoveLineRequest:
		return decideRemove(s, c, now)
	case *pb.ClearRequest:
		return decideClear(s, c, now)
	case *pb.CheckOutRequest:
		return decideCheckOut(s, c, now)
	case *pb.GetRequest:
		return nil, nil
	default:
		return nil, emporium.Errorf(emporium.EINTERNAL, "cart: unknown command %T", cmd)
	}
}

func decideAdd(s *pb.State, c *pb.AddItemRequest, items map[string]Item, now time.Time) ([]proto.Message, error) {
	if err := checkQuantity(c.Quantity); err != nil {
		return nil, err
	}
	switch {
	case c.Sku == "":
		return nil, emporium.Invalidf("sku", emporium.FieldRequired, "sku is required")
	case !product.CheckSKU(c.Sku):
		return nil, emporium.Invalidf("sku", emporium.FieldInvalid, "sku must be 1-%d of A-Z a-z 0-9 . _ -", product.MaxSKU)
	}
	item, ok := items[c.Sku]
	if !ok {
		return nil, emporium.Invalidf("sku", emporium.FieldNotFound, "There is no product with SKU %s.", c.Sku)
	}
	if !item.Active {
		return nil, emporium.Invalidf("sku", emporium.FieldUnavailable, "SKU %s is not on sale.", c.Sku)
	}
	_, line := lineBySKU(s, c.Sku)
	if line != nil && line.ProductId != item.ProductID {
		// The SKU left the product the line was added from and now belongs
		// to another: merging would mix two products in one line.
		return nil, emporium.Invalidf("sku", emporium.FieldUnavailable,
			"The cart holds SKU %s from a product that no longer sells it; remove that line first.", c.Sku)
	}
	if cur := currency(s); cur != "" && cur != item.Price.Currency {
		return nil, emporium.Invalidf("sku", emporium.FieldCurrencyMismatch,
			"SKU %s is priced in %s and the cart in %s; a cart holds one currency.", c.Sku, item.Price.Currency, cur)
	}
	want := c.Quantity
	if line != nil {
		want += line.Quantity
		if want > emporium.MaxLineQuantity {
			return nil, emporium.Invalidf("quantity", emporium.FieldOutOfRange,
				"The cart already holds %d of SKU %s; a line holds at most %d.", line.Quantity, c.Sku, emporium.MaxLineQuantity)
		}
	} else if len(s.Lines) >= MaxLines {
		return nil, emporium.Invalidf("sku", emporium.FieldCartFull, "The cart already holds %d lines, the most it can.", MaxLines)
	}
	if want > item.Available {
		return nil, outOfStock(c.Sku, item.Available, want)
	}
	at := timestamppb.New(now)
	if line != nil {
		return []proto.Message{&pb.LineQuantitySet{CommandId: c.CommandId, LineId: line.LineId, Quantity: want, At: at}}, nil
	}
	return []proto.Message{&pb.ItemAdded{CommandId: c.CommandId, At: at, Line: &pb.Line{
		LineId:         lineID(s.LinesAdded + 1),
		Sku:            c.Sku,
		ProductId:      item.ProductID,
		Quantity:       c.Quantity,
		PriceWhenAdded: money(item.Price),
		AddedAt:        at,
		Title:          item.Title,
		Options:        maps.Clone(item.Options),
	}}}, nil
}

// decideUpdate sets a line's quantity. Raising it is checked like an add
// (the SKU must still be on sale with the units available); lowering it is
// always allowed, so that a buyer whose line outgrew the stock can bring it
// down step by step.
func decideUpdate(s *pb.State, c *pb.UpdateLineRequest, items map[string]Item, now time.Time) ([]proto.Message, error) {
	if err := checkQuantity(c.Quantity); err != nil {
		return nil, err
	}
	_, line := lineByID(s, c.LineId)
	if line == nil {
		return nil, noLine()
	}
	switch {
	case c.Quantity == line.Quantity:
		return nil, nil
	case c.Quantity > line.Quantity:
		item, ok := known(line, items)
		if !ok || !item.Active {
			return nil, emporium.Invalidf("line_id", emporium.FieldUnavailable, "SKU %s is no longer on sale; remove the line.", line.Sku)
		}
		if c.Quantity > item.Available {
			return nil, outOfStock(line.Sku, item.Available, c.Quantity)
		}
	}
	return []proto.Message{&pb.LineQuantitySet{
		CommandId: c.CommandId, LineId: line.LineId, Quantity: c.Quantity, At: timestamppb.New(now),
	}}, nil
}

// decideCheckOut takes an order's units out of the cart. It never refuses
// a well-formed command: the order is placed, and a cart that changed since
// (a line removed, a quantity lowered) only has less to take.
func decideCheckOut(s *pb.State, c *pb.CheckOutRequest, now time.Time) ([]proto.Message, error) {
	for _, it := range c.Items {
		if it.Quantity <= 0 {
			return nil, emporium.Invalidf("items", emporium.FieldOutOfRange, "each item's quantity must be positive")
		}
	}
	touches := false
	for _, it := range c.Items {
		if _, line := lineBySKU(s, it.Sku); line != nil {
			touches = true
		}
	}
	if !touches {
		return nil, nil
	}
	return []proto.Message{&pb.CheckedOut{CommandId: c.CommandId, Items: c.Items, At: timestamppb.New(now)}}, nil
}

func decideRemove(s *pb.State, c *pb.RemoveLineRequest, now time.Time) ([]proto.Message, error) {
	if _, line := lineByID(s, c.LineId); line == nil {
		return nil, noLine()
	}
	return []proto.Message{&pb.LineRemoved{CommandId: c.CommandId, LineId: c.LineId, At: timestamppb.New(now)}}, nil
}

func decideClear(s *pb.State, c *pb.ClearRequest, now time.Time) ([]proto.Message, error) {
	if len(s.Lines) == 0 {
		return nil, nil
	}
	return []proto.Message{&pb.CartCleared{CommandId: c.CommandId, At: timestamppb.New(now)}}, nil
}

// apply folds one event into the state. Events are facts: apply never
// refuses one, so replaying a journal always gives the same state.
func apply(s *pb.State, ev proto.Message) {
	switch e := ev.(type) {
	case *pb.ItemAdded:
		s.Lines = append(s.Lines, proto.CloneOf(e.Line))
		s.LinesAdded++
		changed(s, e.At)
	case *pb.LineQuantitySet:
		if _, line := lineByID(s, e.LineId); line != nil {
			line.Quantity = e.Quantity
		}
		changed(s, e.At)
	case *pb.LineRemoved:
		if i, line := lineByID(s, e.LineId); line != nil {
			s.Lines = slices.Delete(s.Lines, i, i+1)
		}
		changed(s, e.At)
	case *pb.CheckedOut:
		for _, it := range e.Items {
			if i, line := lineBySKU(s, it.Sku); line != nil {
				if line.Quantity -= it.Quantity; line.Quantity <= 0 {
					s.Lines = slices.Delete(s.Lines, i, i+1)
				}
			}
		}
		changed(s, e.At)
	case *pb.CartCleared:
		s.Lines = nil
		changed(s, e.At)
	case *pb.Fenced:
		// Only takes its seq.
	}
}

// changed records the time of a change. The shell remembers the command
// id the event carries (actors.Spec.Remembered).
func changed(s *pb.State, at *timestamppb.Timestamp) {
	s.UpdatedAt = at
}

// priced renders the state at journal seq as the answer, each line checked
// against the catalogue facts items: the current title, options and price
// of SKUs the catalogue still sells under the line's product, and what was
// stored when the line was added for the others.
//
// The answer shares the parts that never change in place (options maps,
// prices when added, timestamps) with the state and with items instead of
// copying them for every line of every answer: whoever holds it reads it
// and never changes it.
func priced(s *pb.State, seq uint64, items map[string]Item) *pb.Cart {
	cur := currency(s)
	out := &pb.Cart{
		UserId:    s.UserId,
		Lines:     make([]*pb.CartLine, len(s.Lines)),
		Seq:       seq,
		UpdatedAt: s.UpdatedAt,
	}
	var subtotal int64
	for i, l := range s.Lines {
		cl := &pb.CartLine{
			LineId: l.LineId, ProductId: l.ProductId, Sku: l.Sku,
			Title: l.Title, Options: l.Options,
			Quantity:       l.Quantity,
			UnitPrice:      l.PriceWhenAdded,
			PriceWhenAdded: l.PriceWhenAdded,
			AddedAt:        l.AddedAt,
		}
		if item, ok := known(l, items); ok {
			cl.Title, cl.Options = item.Title, item.Options
			if !sameMoney(item.Price, l.PriceWhenAdded) {
				cl.UnitPrice, cl.PriceChanged = money(item.Price), true
			}
			cl.Available = max(item.Available, 0)
			cl.Purchasable = item.Active
		}
		if cl.Options == nil {
			cl.Options = noOptions
		}
		cl.LineTotal = &pb.Money{Amount: cl.UnitPrice.GetAmount() * l.Quantity, Currency: cl.UnitPrice.GetCurrency()}
		if cl.Purchasable {
			subtotal += cl.LineTotal.Amount
		}
		out.ItemCount += l.Quantity
		out.Lines[i] = cl
	}
	out.Subtotal = &pb.Money{Amount: subtotal, Currency: cur}
	return out
}

// noOptions is the options of a line without any, shared (read-only) so
// that an answer never carries a nil map.
var noOptions = map[string]string{}

func sameMoney(m emporium.Money, p *pb.Money) bool {
	return m.Amount == p.GetAmount() && m.Currency == p.GetCurrency()
}

// known returns the catalogue's facts of a line's SKU while the SKU still
// belongs to the line's product.
func known(l *pb.Line, items map[string]Item) (Item, bool) {
	item, ok := items[l.Sku]
	return item, ok && item.ProductID == l.ProductId
}

// currency is the cart's currency: that of its lines, or "" while it has
// none.
func currency(s *pb.State) string {
	if len(s.Lines) == 0 {
		return ""
	}
	return s.Lines[0].PriceWhenAdded.GetCurrency()
}

// lineID names the n-th line ever added to a cart. Counting, rather than
// drawing random ids, keeps decide pure and a replay identical, and never
// gives a removed line's id to another.
func lineID(n uint64) string { return "ln" + strconv.FormatUint(n, 10) }

func lineByID(s *pb.State, id string) (int, *pb.Line) {
	for i, l := range s.Lines {
		if l.LineId == id {
			return i, l
		}
	}
	return -1, nil
}

func lineBySKU(s *pb.State, sku string) (int, *pb.Line) {
	for i, l := range s.Lines {
		if l.Sku == sku {
			return i, l
		}
	}
	return -1, nil
}

func money(m emporium.Money) *pb.Money { return &pb.Money{Amount: m.Amount, Currency: m.Currency} }

func checkQuantity(q int64) error {
	if q < emporium.MinLineQuantity || q > emporium.MaxLineQuantity {
		return emporium.Invalidf("quantity", emporium.FieldOutOfRange, "quantity must be between %d and %d",
			emporium.MinLineQuantity, emporium.MaxLineQuantity)
	}
	return nil
}

func outOfStock(sku string, available, want int64) error {
	return emporium.Errorf(emporium.EOUTOFSTOCK, "Only %d of SKU %s available; the line would hold %d.",
		max(available, 0), sku, want)
}

func noLine() error {
	return emporium.Errorf(emporium.ENOTFOUND, "The cart has no line with this id.")
}
