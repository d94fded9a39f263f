package cart

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	pb "github.com/emporium-shop/emporium/protos/cartpb"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// given builds a state by applying events, the way a replay does.
func given(events ...proto.Message) *pb.State { return actorstest.Given(&Spec, "user-1", events...) }

// decideAsShell decides cmd as the shell does: what expired first, then
// the command id, then decide.
func decideAsShell(s *pb.State, cmd proto.Message, items map[string]Item, now time.Time) ([]proto.Message, error) {
	return actorstest.Decide(&Spec, s, cmd, now, func(s *pb.State) ([]proto.Message, error) { return decide(s, cmd, items, now) })
}

func usd(amount int64) emporium.Money { return emporium.Money{Amount: amount, Currency: "USD"} }

// catalogue is the facts the tests decide against.
var catalogue = map[string]Item{
	"TEE-S":   {SKU: "TEE-S", ProductID: "p-tee", Title: "Tee", Options: map[string]string{"size": "S"}, Price: usd(1999), Active: true, Available: 50},
	"TEE-M":   {SKU: "TEE-M", ProductID: "p-tee", Title: "Tee", Options: map[string]string{"size": "M"}, Price: usd(1999), Active: true, Available: 3},
	"MUG":     {SKU: "MUG", ProductID: "p-mug", Title: "Mug", Price: usd(900), Active: true, Available: 200},
	"DRAFT":   {SKU: "DRAFT", ProductID: "p-draft", Title: "Soon", Price: usd(500), Available: 10},
	"EURO":    {SKU: "EURO", ProductID: "p-euro", Title: "Euro thing", Price: emporium.Money{Amount: 700, Currency: "EUR"}, Active: true, Available: 10},
	"NOSTOCK": {SKU: "NOSTOCK", ProductID: "p-nostock", Title: "Gone", Price: usd(100), Active: true},
	// FILL-7 is one of the lines of a full cart (see TestDecide).
	"FILL-7": {SKU: "FILL-7", ProductID: "p-mug", Title: "Mug", Price: usd(900), Active: true, Available: 200},
}

// added is the event of the n-th line, for SKU sku of the catalogue.
func added(cmd string, n uint64, sku string, qty int64) *pb.ItemAdded {
	item := catalogue[sku]
	at := timestamppb.New(t0)
	return &pb.ItemAdded{CommandId: cmd, At: at, Line: &pb.Line{
		LineId: lineID(n), Sku: sku, ProductId: item.ProductID, Quantity: qty,
		PriceWhenAdded: money(item.Price), AddedAt: at, Title: item.Title, Options: item.Options,
	}}
}

func qtySet(cmd, line string, qty int64) *pb.LineQuantitySet {
	return &pb.LineQuantitySet{CommandId: cmd, LineId: line, Quantity: qty, At: timestamppb.New(t0)}
}

func TestDecide(t *testing.T) {
	one := []proto.Message{added("c1", 1, "TEE-S", 2)}
	two := append(slices.Clone(one), added("c2", 2, "MUG", 1))
	full := make([]proto.Message, 0, MaxLines)
	for i := range MaxLines {
		ev := added(fmt.Sprint("f", i), uint64(i+1), "MUG", 1)
		ev.Line.Sku = fmt.Sprint("FILL-", i)
		full = append(full, ev)
	}
	at := timestamppb.New(t0)
	tests := []struct {
		name    string
		given   []proto.Message
		cmd     proto.Message
		want    []proto.Message
		errCode string
		field   string
		code    string
	}{
		{"add", nil, &pb.AddItemRequest{CommandId: "c1", Sku: "TEE-S", Quantity: 2},
			[]proto.Message{added("c1", 1, "TEE-S", 2)}, "", "", ""},
		{"add a second line", one, &pb.AddItemRequest{CommandId: "c2", Sku: "MUG", Quantity: 1},
			[]proto.Message{added("c2", 2, "MUG", 1)}, "", "", ""},
		{"add merges into the line", two, &pb.AddItemRequest{CommandId: "c3", Sku: "TEE-S", Quantity: 5},
			[]proto.Message{qtySet("c3", "ln1", 7)}, "", "", ""},
		{"add retried", one, &pb.AddItemRequest{CommandId: "c1", Sku: "TEE-S", Quantity: 2}, nil, "", "", ""},
		{"add without command id", nil, &pb.AddItemRequest{Sku: "TEE-S", Quantity: 1}, nil, emporium.EINVALID, "command_id", emporium.FieldRequired},
		{"add a command id too long", nil, &pb.AddItemRequest{CommandId: strings.Repeat("x", 129), Sku: "TEE-S", Quantity: 1},
			nil, emporium.EINVALID, "command_id", emporium.FieldRequired},
		{"add zero", nil, &pb.AddItemRequest{CommandId: "c1", Sku: "TEE-S"}, nil, emporium.EINVALID, "quantity", emporium.FieldOutOfRange},
		{"add negative", nil, &pb.AddItemRequest{CommandId: "c1", Sku: "TEE-S", Quantity: -1}, nil, emporium.EINVALID, "quantity", emporium.FieldOutOfRange},
		{"add 100", nil, &pb.AddItemRequest{CommandId: "c1", Sku: "MUG", Quantity: 100}, nil, emporium.EINVALID, "quantity", emporium.FieldOutOfRange},
		{"add 99", nil, &pb.AddItemRequest{CommandId: "c1", Sku: "MUG", Quantity: 99},
			[]proto.Message{added("c1", 1, "MUG", 99)}, "", "", ""},
		{"merge past 99", []proto.Message{added("c1", 1, "MUG", 60)}, &pb.AddItemRequest{CommandId: "c2", Sku: "MUG", Quantity: 40},
			nil, emporium.EINVALID, "quantity", emporium.FieldOutOfRange},
		{"merge to 99", []proto.Message{added("c1", 1, "MUG", 60)}, &pb.AddItemRequest{CommandId: "c2", Sku: "MUG", Quantity: 39},
			[]proto.Message{qtySet("c2", "ln1", 99)}, "", "", ""},
		{"add without sku", nil, &pb.AddItemRequest{CommandId: "c1", Quantity: 1}, nil, emporium.EINVALID, "sku", emporium.FieldRequired},
		{"add a malformed sku", nil, &pb.AddItemRequest{CommandId: "c1", Sku: "no spaces", Quantity: 1}, nil, emporium.EINVALID, "sku", emporium.FieldInvalid},
		{"add an unknown sku", nil, &pb.AddItemRequest{CommandId: "c1", Sku: "NOPE", Quantity: 1}, nil, emporium.EINVALID, "sku", emporium.FieldNotFound},
		{"add a draft", nil, &pb.AddItemRequest{CommandId: "c1", Sku: "DRAFT", Quantity: 1}, nil, emporium.EINVALID, "sku", emporium.FieldUnavailable},
		{"add another currency", one, &pb.AddItemRequest{CommandId: "c2", Sku: "EURO", Quantity: 1},
			nil, emporium.EINVALID, "sku", emporium.FieldCurrencyMismatch},
		{"add another currency to an empty cart", nil, &pb.AddItemRequest{CommandId: "c1", Sku: "EURO", Quantity: 1},
			[]proto.Message{added("c1", 1, "EURO", 1)}, "", "", ""},
		{"add after clearing takes a new line id", append(slices.Clone(one), &pb.CartCleared{CommandId: "c2", At: at}),
			&pb.AddItemRequest{CommandId: "c3", Sku: "EURO", Quantity: 1},
			[]proto.Message{added("c3", 2, "EURO", 1)}, "", "", ""},
		{"add more than available", nil, &pb.AddItemRequest{CommandId: "c1", Sku: "TEE-M", Quantity: 4}, nil, emporium.EOUTOFSTOCK, "", ""},
		{"add all available", nil, &pb.AddItemRequest{CommandId: "c1", Sku: "TEE-M", Quantity: 3},
			[]proto.Message{added("c1", 1, "TEE-M", 3)}, "", "", ""},
		{"merge past available", []proto.Message{added("c1", 1, "TEE-M", 2)}, &pb.AddItemRequest{CommandId: "c2", Sku: "TEE-M", Quantity: 2},
			nil, emporium.EOUTOFSTOCK, "", ""},
		{"add out of stock", nil, &pb.AddItemRequest{CommandId: "c1", Sku: "NOSTOCK", Quantity: 1}, nil, emporium.EOUTOFSTOCK, "", ""},
		{"add to a full cart", full, &pb.AddItemRequest{CommandId: "c1", Sku: "MUG", Quantity: 1}, nil, emporium.EINVALID, "sku", emporium.FieldCartFull},
		{"merge into a full cart", full, &pb.AddItemRequest{CommandId: "c1", Sku: "FILL-7", Quantity: 1},
			[]proto.Message{qtySet("c1", "ln8", 2)}, "", "", ""},
		{"add a sku that moved to another product",
			[]proto.Message{func() *pb.ItemAdded { ev := added("c1", 1, "MUG", 1); ev.Line.ProductId = "p-old"; return ev }()},
			&pb.AddItemRequest{CommandId: "c2", Sku: "MUG", Quantity: 1}, nil, emporium.EINVALID, "sku", emporium.FieldUnavailable},

		{"update", two, &pb.UpdateLineRequest{CommandId: "u1", LineId: "ln2", Quantity: 5},
			[]proto.Message{qtySet("u1", "ln2", 5)}, "", "", ""},
		{"update down", two, &pb.UpdateLineRequest{CommandId: "u1", LineId: "ln1", Quantity: 1},
			[]proto.Message{qtySet("u1", "ln1", 1)}, "", "", ""},
		{"update to the same", two, &pb.UpdateLineRequest{CommandId: "u1", LineId: "ln1", Quantity: 2}, nil, "", "", ""},
		{"update retried", append(slices.Clone(two), qtySet("u1", "ln2", 5)),
			&pb.UpdateLineRequest{CommandId: "u1", LineId: "ln2", Quantity: 5}, nil, "", "", ""},
		{"update to zero", two, &pb.UpdateLineRequest{CommandId: "u1", LineId: "ln1"}, nil, emporium.EINVALID, "quantity", emporium.FieldOutOfRange},
		{"update to 100", two, &pb.UpdateLineRequest{CommandId: "u1", LineId: "ln1", Quantity: 100}, nil, emporium.EINVALID, "quantity", emporium.FieldOutOfRange},
		{"update an unknown line", two, &pb.UpdateLineRequest{CommandId: "u1", LineId: "ln9", Quantity: 1}, nil, emporium.ENOTFOUND, "", ""},
		{"update without command id", two, &pb.UpdateLineRequest{LineId: "ln1", Quantity: 1}, nil, emporium.EINVALID, "command_id", emporium.FieldRequired},
		{"update past available", []proto.Message{added("c1", 1, "TEE-M", 1)},
			&pb.UpdateLineRequest{CommandId: "u1", LineId: "ln1", Quantity: 4}, nil, emporium.EOUTOFSTOCK, "", ""},
		{"update up a line no longer on sale", []proto.Message{func() *pb.ItemAdded { ev := added("c1", 1, "DRAFT", 2); return ev }()},
			&pb.UpdateLineRequest{CommandId: "u1", LineId: "ln1", Quantity: 3}, nil, emporium.EINVALID, "line_id", emporium.FieldUnavailable},
		{"update down a line no longer on sale", []proto.Message{added("c1", 1, "DRAFT", 2)},
			&pb.UpdateLineRequest{CommandId: "u1", LineId: "ln1", Quantity: 1},
			[]proto.Message{qtySet("u1", "ln1", 1)}, "", "", ""},
		{"update down a line over the stock", []proto.Message{added("c1", 1, "NOSTOCK", 5)},
			&pb.UpdateLineRequest{CommandId: "u1", LineId: "ln1", Quantity: 4},
			[]proto.Message{qtySet("u1", "ln1", 4)}, "", "", ""},

		{"remove", two, &pb.RemoveLineRequest{CommandId: "r1", LineId: "ln1"},
			[]proto.Message{&pb.LineRemoved{CommandId: "r1", LineId: "ln1", At: at}}, "", "", ""},
		{"remove retried", append(slices.Clone(two), &pb.LineRemoved{CommandId: "r1", LineId: "ln1", At: at}),
			&pb.RemoveLineRequest{CommandId: "r1", LineId: "ln1"}, nil, "", "", ""},
		{"remove an unknown line", two, &pb.RemoveLineRequest{CommandId: "r1", LineId: "ln3"}, nil, emporium.ENOTFOUND, "", ""},
		{"remove without command id", two, &pb.RemoveLineRequest{LineId: "ln1"}, nil, emporium.EINVALID, "command_id", emporium.FieldRequired},

		{"clear", two, &pb.ClearRequest{CommandId: "x1"}, []proto.Message{&pb.CartCleared{CommandId: "x1", At: at}}, "", "", ""},
		{"clear an empty cart", nil, &pb.ClearRequest{CommandId: "x1"}, nil, "", "", ""},
		{"clear retried", append(slices.Clone(two), &pb.CartCleared{CommandId: "x1", At: at}), &pb.ClearRequest{CommandId: "x1"}, nil, "", "", ""},
		{"clear without command id", two, &pb.ClearRequest{}, nil, emporium.EINVALID, "command_id", emporium.FieldRequired},

		{"get", two, &pb.GetRequest{}, nil, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := given(tt.given...)
			before := proto.Clone(s)
			got, err := decideAsShell(s, tt.cmd, catalogue, t0)
			if tt.errCode != "" {
				require.Error(t, err)
				assert.Equal(t, tt.errCode, emporium.ErrorCode(err), "error: %v", err)
				assert.NotEmpty(t, emporium.ErrorMessage(err))
				if tt.field != "" {
					fields := emporium.ErrorFields(err)
					require.Len(t, fields, 1)
					assert.Equal(t, tt.field, fields[0].Field)
					assert.Equal(t, tt.code, fields[0].Code)
				}
			} else {
				require.NoError(t, err)
			}
			assert.Empty(t, actorstest.DiffEvents(tt.want, got))
			assert.True(t, proto.Equal(before, s), "decide changed the state")
		})
	}
}

func TestOutOfStockSaysHowManyAreAvailable(t *testing.T) {
	_, err := decideAsShell(given(added("c1", 1, "TEE-M", 2)), &pb.AddItemRequest{CommandId: "c2", Sku: "TEE-M", Quantity: 2}, catalogue, t0)
	require.Error(t, err)
	assert.Equal(t, "Only 3 of SKU TEE-M available; the line would hold 4.", emporium.ErrorMessage(err))
}

func TestDecideUnknownCommand(t *testing.T) {
	_, err := decideAsShell(given(), &pb.Cart{}, catalogue, t0)
	assert.Equal(t, emporium.EINTERNAL, emporium.ErrorCode(err))
}

func TestApply(t *testing.T) {
	later := timestamppb.New(t0.Add(time.Hour))
	s := given(
		added("c1", 1, "TEE-S", 2),
		added("c2", 2, "MUG", 1),
		added("c3", 3, "TEE-M", 1),
		qtySet("c4", "ln1", 7),
		&pb.LineRemoved{CommandId: "c5", LineId: "ln2", At: later},
		&pb.Fenced{},
	)
	require.Len(t, s.Lines, 2)
	assert.Equal(t, []string{"ln1", "ln3"}, []string{s.Lines[0].LineId, s.Lines[1].LineId})
	assert.Equal(t, int64(7), s.Lines[0].Quantity)
	assert.Equal(t, uint64(3), s.LinesAdded)
	assert.Equal(t, []string{"c1", "c2", "c3", "c4", "c5"}, s.RecentCommands)
	assert.True(t, proto.Equal(later, s.UpdatedAt))

	Spec.Fold(s, &pb.CartCleared{CommandId: "c6", At: later})
	assert.Empty(t, s.Lines)
	assert.Equal(t, uint64(3), s.LinesAdded, "line ids are not reused after a clear")
	assert.Equal(t, "", currency(s))
}

func TestApplyCopiesTheLine(t *testing.T) {
	ev := added("c1", 1, "TEE-S", 2)
	s := given(ev)
	ev.Line.Quantity = 50
	assert.Equal(t, int64(2), s.Lines[0].Quantity, "the state does not share the event's line")
}

func TestRecentCommandsAreBounded(t *testing.T) {
	s := given(added("c0", 1, "MUG", 1))
	for i := range actors.CommandsKept + 10 {
		Spec.Fold(s, qtySet(fmt.Sprint("u", i), "ln1", int64(1+i%9)))
	}
	assert.Len(t, s.RecentCommands, actors.CommandsKept)
	assert.Equal(t, fmt.Sprint("u", actors.CommandsKept+9), s.RecentCommands[actors.CommandsKept-1])
}

func TestPriced(t *testing.T) {
	s := given(
		added("c1", 1, "TEE-S", 2),
		added("c2", 2, "MUG", 3),
		added("c3", 3, "TEE-M", 1),
		added("c4", 4, "DRAFT", 1),
	)
	now := map[string]Item{
		"TEE-S": catalogue["TEE-S"],
		"MUG":   {SKU: "MUG", ProductID: "p-mug", Title: "Big mug", Price: usd(1100), Active: true, Available: 7},
		// TEE-M left the catalogue; DRAFT is still a draft.
		"DRAFT": catalogue["DRAFT"],
	}
	before := proto.CloneOf(s)
	got := priced(s, 9, now)
	assert.Equal(t, "user-1", got.UserId)
	assert.Equal(t, uint64(9), got.Seq)
	assert.Equal(t, int64(7), got.ItemCount, "every line's quantity counts")
	assert.True(t, proto.Equal(&pb.Money{Amount: 2*1999 + 3*1100, Currency: "USD"}, got.Subtotal),
		"the subtotal adds the purchasable lines at today's prices: %v", got.Subtotal)
	require.Len(t, got.Lines, 4)

	tee, mug, gone, draft := got.Lines[0], got.Lines[1], got.Lines[2], got.Lines[3]
	assert.True(t, tee.Purchasable)
	assert.False(t, tee.PriceChanged)
	assert.Equal(t, int64(50), tee.Available)
	assert.Equal(t, map[string]string{"size": "S"}, tee.Options)
	assert.True(t, proto.Equal(&pb.Money{Amount: 3998, Currency: "USD"}, tee.LineTotal))

	assert.True(t, mug.PriceChanged)
	assert.Equal(t, "Big mug", mug.Title, "the catalogue's title now")
	assert.True(t, proto.Equal(&pb.Money{Amount: 1100, Currency: "USD"}, mug.UnitPrice))
	assert.True(t, proto.Equal(&pb.Money{Amount: 900, Currency: "USD"}, mug.PriceWhenAdded))
	assert.True(t, proto.Equal(&pb.Money{Amount: 3300, Currency: "USD"}, mug.LineTotal))

	assert.False(t, gone.Purchasable, "a SKU that left the catalogue")
	assert.False(t, gone.PriceChanged)
	assert.Equal(t, int64(0), gone.Available)
	assert.Equal(t, "Tee", gone.Title, "the title as when added")
	assert.Equal(t, map[string]string{"size": "M"}, gone.Options)
	assert.True(t, proto.Equal(&pb.Money{Amount: 1999, Currency: "USD"}, gone.UnitPrice))

	assert.False(t, draft.Purchasable, "a product no longer active")
	assert.NotNil(t, draft.Options, "options are never nil")

	assert.True(t, proto.Equal(before, s), "pricing changed the state")

	empty := priced(given(), 0, nil)
	assert.Empty(t, empty.Lines)
	assert.True(t, proto.Equal(&pb.Money{}, empty.Subtotal))
}

func TestPricedTreatsASKUOfAnotherProductAsGone(t *testing.T) {
	s := given(added("c1", 1, "MUG", 1))
	moved := map[string]Item{"MUG": {SKU: "MUG", ProductID: "p-other", Title: "Other", Price: usd(1), Active: true, Available: 5}}
	line := priced(s, 1, moved).Lines[0]
	assert.False(t, line.Purchasable)
	assert.Equal(t, "Mug", line.Title)
}

func TestNeeds(t *testing.T) {
	s := given(added("c1", 1, "TEE-S", 1), added("c2", 2, "MUG", 1))
	assert.Equal(t, []string{"TEE-S", "MUG"}, needs(s, &pb.GetRequest{}))
	assert.Equal(t, []string{"TEE-S", "MUG", "EURO"}, needs(s, &pb.AddItemRequest{Sku: "EURO"}))
	assert.Equal(t, []string{"TEE-S", "MUG"}, needs(s, &pb.AddItemRequest{Sku: "MUG"}))
	assert.Equal(t, []string{"TEE-S", "MUG"}, needs(s, &pb.AddItemRequest{Sku: "not a sku"}), "a malformed SKU is not looked up")
}

// TestRandomCommandsKeepInvariants drives the core with random commands
// against a catalogue that changes under it, some commands repeated as
// Proto.Actor's retries would be, and checks after each that the cart keeps
// its rules, that a retry changes nothing, and that replaying the events
// gives the same state.
func TestRandomCommandsKeepInvariants(t *testing.T) {
	skus := []string{"A", "B", "C", "D", "E", "F"}
	for seed := range uint64(30) {
		r := rand.New(rand.NewPCG(seed, 7))
		items := map[string]Item{}
		for i, sku := range skus {
			items[sku] = Item{SKU: sku, ProductID: fmt.Sprint("p", i%3), Title: sku, Price: usd(int64(100 * (i + 1))),
				Active: true, Available: int64(r.IntN(120))}
		}
		items["F"] = Item{SKU: "F", ProductID: "pf", Price: emporium.Money{Amount: 5, Currency: "EUR"}, Active: true, Available: 50}
		s := newState("u")
		var journal []proto.Message
		var applied []proto.Message // commands that wrote, for retries
		now := t0
		for step := range 300 {
			now = now.Add(time.Second)
			// The catalogue moves: stock, prices and status change.
			sku := skus[r.IntN(len(skus))]
			it := items[sku]
			switch r.IntN(6) {
			case 0:
				it.Available = int64(r.IntN(120))
			case 1:
				it.Price.Amount += int64(r.IntN(50))
			case 2:
				it.Active = r.IntN(4) != 0
			}
			items[sku] = it

			var cmd proto.Message
			id := fmt.Sprint("cmd", step)
			line := fmt.Sprint("ln", 1+r.IntN(int(s.LinesAdded)+1))
			switch k := r.IntN(12); {
			case k == 0 && len(applied) > 0:
				cmd = applied[r.IntN(len(applied))]
			case k < 6:
				cmd = &pb.AddItemRequest{CommandId: id, Sku: skus[r.IntN(len(skus))], Quantity: int64(r.IntN(40) - 2)}
			case k < 9:
				cmd = &pb.UpdateLineRequest{CommandId: id, LineId: line, Quantity: int64(r.IntN(105) - 2)}
			case k < 11:
				cmd = &pb.RemoveLineRequest{CommandId: id, LineId: line}
			default:
				cmd = &pb.ClearRequest{CommandId: id}
			}
			before := proto.CloneOf(s)
			events, err := decideAsShell(s, cmd, items, now)
			require.True(t, proto.Equal(before, s), "decide changed the state")
			if err != nil {
				require.Empty(t, events)
				code := emporium.ErrorCode(err)
				require.Contains(t, []string{emporium.EINVALID, emporium.EOUTOFSTOCK, emporium.ENOTFOUND}, code, "%v", err)
				continue
			}
			if slices.Contains(s.RecentCommands, commandID(cmd)) {
				require.Empty(t, events, "a retry wrote %v", events)
			}
			for _, ev := range events {
				Spec.Fold(s, ev)
				journal = append(journal, ev)
			}
			if len(events) > 0 {
				applied = append(applied, cmd)
				if add, ok := cmd.(*pb.AddItemRequest); ok {
					_, l := lineBySKU(s, add.Sku)
					require.LessOrEqual(t, l.Quantity, items[add.Sku].Available, "an add went past the stock")
				}
			}
			checkInvariants(t, s)
		}
		require.Greater(t, len(journal), 50, "seed %d: too few commands succeeded to test much", seed)
		replayed := given(journal...)
		replayed.UserId = "u"
		require.True(t, proto.Equal(s, replayed), "seed %d: replay differs", seed)
	}
}

func checkInvariants(t *testing.T, s *pb.State) {
	t.Helper()
	require.LessOrEqual(t, len(s.Lines), MaxLines)
	skus, ids := map[string]bool{}, map[string]bool{}
	for _, l := range s.Lines {
		require.False(t, skus[l.Sku], "SKU %s on two lines", l.Sku)
		require.False(t, ids[l.LineId], "line id %s twice", l.LineId)
		skus[l.Sku], ids[l.LineId] = true, true
		require.GreaterOrEqual(t, l.Quantity, int64(emporium.MinLineQuantity))
		require.LessOrEqual(t, l.Quantity, int64(emporium.MaxLineQuantity))
		require.Equal(t, currency(s), l.PriceWhenAdded.Currency, "one currency per cart")
	}
}

func commandID(cmd proto.Message) string {
	type commanded interface{ GetCommandId() string }
	if c, ok := cmd.(commanded); ok {
		return c.GetCommandId()
	}
	return ""
}

func TestCheckOutTakesTheOrderedUnits(t *testing.T) {
	s := given(added("c1", 1, "TEE-S", 3), added("c2", 2, "MUG", 1))
	cmd := &pb.CheckOutRequest{CommandId: "order:o1", Items: []*pb.OrderedItem{
		{Sku: "TEE-S", Quantity: 2}, {Sku: "MUG", Quantity: 1}, {Sku: "GONE", Quantity: 1},
	}}
	events, err := decideAsShell(s, cmd, catalogue, t0)
	require.NoError(t, err)
	require.Len(t, events, 1)
	Spec.Fold(s, events...)
	require.Len(t, s.Lines, 1, "the mug line is gone, the tee line keeps the unit added after the order")
	assert.Equal(t, "TEE-S", s.Lines[0].Sku)
	assert.Equal(t, int64(1), s.Lines[0].Quantity)

	again, err := decideAsShell(s, cmd, catalogue, t0)
	require.NoError(t, err)
	assert.Empty(t, again, "a retry takes nothing twice")

	none, err := decideAsShell(given(), &pb.CheckOutRequest{CommandId: "order:o2", Items: []*pb.OrderedItem{{Sku: "MUG", Quantity: 1}}}, catalogue, t0)
	require.NoError(t, err)
	assert.Empty(t, none, "a cart without the SKUs has nothing to take")

	_, err = decideAsShell(s, &pb.CheckOutRequest{CommandId: "order:o3", Items: []*pb.OrderedItem{{Sku: "TEE-S", Quantity: 0}}}, catalogue, t0)
	assert.True(t, emporium.IsCode(err, emporium.EINVALID))
}
