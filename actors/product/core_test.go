package product

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	pb "github.com/emporium-shop/emporium/protos/productpb"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

const vendor = "vendor-1"

var (
	owner = &pb.Caller{VendorId: vendor}
	other = &pb.Caller{VendorId: "vendor-2"}
	admin = &pb.Caller{VendorId: "admin-1", AsAdmin: true}
)

// given builds a state by applying events, the way a replay does.
func given(events ...proto.Message) *pb.State { return actorstest.Given(&Spec, "p1", events...) }

// decideAsShell decides cmd as the shell does: what expired first, then
// the command id, then decide.
func decideAsShell(s *pb.State, cmd proto.Message, now time.Time) ([]proto.Message, error) {
	return actorstest.Decide(&Spec, s, cmd, now, func(s *pb.State) ([]proto.Message, error) { return decide(s, cmd, now) })
}

func sizeColor() []*pb.Option {
	return []*pb.Option{{Name: "size", Values: []string{"S", "M"}}, {Name: "color", Values: []string{"red", "blue"}}}
}

func variant(sku string, price int64, opts ...string) *pb.VariantInput {
	v := &pb.VariantInput{Sku: sku, PriceAmount: price, Options: map[string]string{}}
	for i := 0; i+1 < len(opts); i += 2 {
		v.Options[opts[i]] = opts[i+1]
	}
	return v
}

// fullVariants is one variant per size×color combination.
func fullVariants() []*pb.VariantInput {
	return []*pb.VariantInput{
		variant("TS-S-R", 1999, "size", "S", "color", "red"),
		variant("TS-S-B", 1999, "size", "S", "color", "blue"),
		variant("TS-M-R", 2199, "size", "M", "color", "red"),
		variant("TS-M-B", 2199, "size", "M", "color", "blue"),
	}
}

func createReq(mut ...func(*pb.CreateRequest)) *pb.CreateRequest {
	c := &pb.CreateRequest{
		CommandId:   "create-1",
		VendorId:    vendor,
		Title:       "T-shirt",
		Description: "Soft.\nCotton.",
		Brand:       "Acme",
		CategoryId:  "apparel",
		Images:      []*pb.Image{{Url: "https://img.example.com/1.jpg", Alt: "front"}},
		Attributes:  map[string]string{"material": "cotton"},
		Options:     sizeColor(),
		Variants:    fullVariants(),
		Currency:    "USD",
	}
	for _, m := range mut {
		m(c)
	}
	return c
}

// createdEv is the event a valid createReq yields at t0.
func createdEv(mut ...func(*pb.CreateRequest)) *pb.ProductCreated {
	evs, err := decideAsShell(newState("p1"), createReq(mut...), t0)
	if err != nil {
		panic(err)
	}
	return evs[0].(*pb.ProductCreated)
}

func storedVariants(in ...*pb.VariantInput) []*pb.Variant {
	out := make([]*pb.Variant, len(in))
	for i, v := range in {
		out[i] = &pb.Variant{Sku: v.Sku, Options: v.Options, PriceAmount: v.PriceAmount, CompareAtAmount: v.CompareAtAmount}
	}
	return out
}

type check struct {
	name      string
	given     []proto.Message
	cmd       proto.Message
	want      []proto.Message
	errCode   string
	field     string // the first field error's field, when errCode is EINVALID
	fieldCode string
}

func runChecks(t *testing.T, tests []check) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := given(tt.given...)
			before := proto.Clone(s)
			got, err := decideAsShell(s, tt.cmd, t0)
			if tt.errCode != "" {
				require.Error(t, err)
				assert.Equal(t, tt.errCode, emporium.ErrorCode(err), "error: %v", err)
				assert.NotEmpty(t, emporium.ErrorMessage(err))
				assert.Empty(t, got)
				if tt.field != "" {
					fields := emporium.ErrorFields(err)
					require.NotEmpty(t, fields, "error: %v", err)
					assert.Equal(t, tt.field, fields[0].Field, "fields: %v", fields)
					assert.Equal(t, tt.fieldCode, fields[0].Code, "fields: %v", fields)
				}
			} else {
				require.NoError(t, err)
				assert.Empty(t, actorstest.DiffEvents(tt.want, got))
			}
			assert.True(t, proto.Equal(before, s), "decide changed the state")
		})
	}
}

func TestDecideCreate(t *testing.T) {
	created := []proto.Message{createdEv()}
	long := func(n int) string { return strings.Repeat("x", n) }
	runChecks(t, []check{
		{name: "create", cmd: createReq(), want: []proto.Message{&pb.ProductCreated{
			CommandId: "create-1", VendorId: vendor, Title: "T-shirt", Description: "Soft.\nCotton.", Brand: "Acme",
			CategoryId: "apparel", Images: []*pb.Image{{Url: "https://img.example.com/1.jpg", Alt: "front"}},
			Attributes: map[string]string{"material": "cotton"}, Options: sizeColor(),
			Variants: storedVariants(fullVariants()...), Currency: "USD", At: timestamppb.New(t0),
		}}},
		{name: "create trims one-line texts", cmd: createReq(func(c *pb.CreateRequest) { c.Title = "  T-shirt "; c.Brand = " Acme" }),
			want: []proto.Message{createdEv()}},
		{name: "create without options", cmd: createReq(func(c *pb.CreateRequest) {
			c.Options = nil
			c.Variants = []*pb.VariantInput{variant("MUG-1", 900)}
		}), want: []proto.Message{createdEv(func(c *pb.CreateRequest) {
			c.Options = nil
			c.Variants = []*pb.VariantInput{variant("MUG-1", 900)}
		})}},
		{name: "create draft without category", cmd: createReq(func(c *pb.CreateRequest) { c.CategoryId = "" }),
			want: []proto.Message{createdEv(func(c *pb.CreateRequest) { c.CategoryId = "" })}},
		{name: "create retried", given: created, cmd: createReq()},
		{name: "create again with another id", given: created,
			cmd: createReq(func(c *pb.CreateRequest) { c.CommandId = "create-2" }), errCode: emporium.ECONFLICT},
		{name: "create without command id", cmd: createReq(func(c *pb.CreateRequest) { c.CommandId = "" }),
			errCode: emporium.EINVALID, field: "command_id", fieldCode: emporium.FieldRequired},
		{name: "create without vendor", cmd: createReq(func(c *pb.CreateRequest) { c.VendorId = "" }),
			errCode: emporium.EINVALID, field: "vendor_id", fieldCode: emporium.FieldRequired},
		{name: "title missing", cmd: createReq(func(c *pb.CreateRequest) { c.Title = "  " }),
			errCode: emporium.EINVALID, field: "title", fieldCode: emporium.FieldRequired},
		{name: "title too long", cmd: createReq(func(c *pb.CreateRequest) { c.Title = long(MaxTitle + 1) }),
			errCode: emporium.EINVALID, field: "title", fieldCode: emporium.FieldTooLong},
		{name: "title of 200 runes", cmd: createReq(func(c *pb.CreateRequest) { c.Title = strings.Repeat("é", MaxTitle) }),
			want: []proto.Message{createdEv(func(c *pb.CreateRequest) { c.Title = strings.Repeat("é", MaxTitle) })}},
		{name: "title with control character", cmd: createReq(func(c *pb.CreateRequest) { c.Title = "a\x00b" }),
			errCode: emporium.EINVALID, field: "title", fieldCode: emporium.FieldInvalid},
		{name: "title not utf-8", cmd: createReq(func(c *pb.CreateRequest) { c.Title = "a\xffb" }),
			errCode: emporium.EINVALID, field: "title", fieldCode: emporium.FieldInvalid},
		{name: "description too long", cmd: createReq(func(c *pb.CreateRequest) { c.Description = long(MaxDescription + 1) }),
			errCode: emporium.EINVALID, field: "description", fieldCode: emporium.FieldTooLong},
		{name: "brand too long", cmd: createReq(func(c *pb.CreateRequest) { c.Brand = long(MaxBrand + 1) }),
			errCode: emporium.EINVALID, field: "brand", fieldCode: emporium.FieldTooLong},
		{name: "category invalid", cmd: createReq(func(c *pb.CreateRequest) { c.CategoryId = "a/b" }),
			errCode: emporium.EINVALID, field: "category_id", fieldCode: emporium.FieldInvalid},
		{name: "currency missing", cmd: createReq(func(c *pb.CreateRequest) { c.Currency = "" }),
			errCode: emporium.EINVALID, field: "currency", fieldCode: emporium.FieldRequired},
		{name: "currency lower case", cmd: createReq(func(c *pb.CreateRequest) { c.Currency = "usd" }),
			errCode: emporium.EINVALID, field: "currency", fieldCode: emporium.FieldUnsupported},
		{name: "currency unknown", cmd: createReq(func(c *pb.CreateRequest) { c.Currency = "XXX" }),
			errCode: emporium.EINVALID, field: "currency", fieldCode: emporium.FieldUnsupported},
		{name: "too many images", cmd: createReq(func(c *pb.CreateRequest) {
			c.Images = make([]*pb.Image, MaxImages+1)
			for i := range c.Images {
				c.Images[i] = &pb.Image{Url: "https://x.example/a.jpg"}
			}
		}), errCode: emporium.EINVALID, field: "images", fieldCode: emporium.FieldTooMany},
		{name: "image over http", cmd: createReq(func(c *pb.CreateRequest) { c.Images[0].Url = "http://x.example/a.jpg" }),
			errCode: emporium.EINVALID, field: "images[0].url", fieldCode: emporium.FieldInvalid},
		{name: "image without host", cmd: createReq(func(c *pb.CreateRequest) { c.Images[0].Url = "https:///a.jpg" }),
			errCode: emporium.EINVALID, field: "images[0].url", fieldCode: emporium.FieldInvalid},
		{name: "image url missing", cmd: createReq(func(c *pb.CreateRequest) { c.Images[0].Url = "" }),
			errCode: emporium.EINVALID, field: "images[0].url", fieldCode: emporium.FieldRequired},
		{name: "image url too long", cmd: createReq(func(c *pb.CreateRequest) { c.Images[0].Url = "https://x.example/" + long(MaxImageURL) }),
			errCode: emporium.EINVALID, field: "images[0].url", fieldCode: emporium.FieldTooLong},
		{name: "image alt too long", cmd: createReq(func(c *pb.CreateRequest) { c.Images[0].Alt = long(MaxImageAlt + 1) }),
			errCode: emporium.EINVALID, field: "images[0].alt", fieldCode: emporium.FieldTooLong},
		{name: "too many attributes", cmd: createReq(func(c *pb.CreateRequest) {
			for i := range MaxAttributes {
				c.Attributes[fmt.Sprint("k", i)] = "v"
			}
		}), errCode: emporium.EINVALID, field: "attributes", fieldCode: emporium.FieldTooMany},
		{name: "attribute key too long", cmd: createReq(func(c *pb.CreateRequest) { c.Attributes = map[string]string{long(MaxAttributeKey + 1): "v"} }),
			errCode: emporium.EINVALID, field: "attributes." + long(MaxAttributeKey+1), fieldCode: emporium.FieldTooLong},
		{name: "attribute key empty", cmd: createReq(func(c *pb.CreateRequest) { c.Attributes = map[string]string{" ": "v"} }),
			errCode: emporium.EINVALID, field: "attributes. ", fieldCode: emporium.FieldRequired},
		{name: "attribute value too long", cmd: createReq(func(c *pb.CreateRequest) { c.Attributes = map[string]string{"k": long(MaxAttributeValue + 1)} }),
			errCode: emporium.EINVALID, field: "attributes.k", fieldCode: emporium.FieldTooLong},
		{name: "price zero", cmd: createReq(func(c *pb.CreateRequest) { c.Variants[1].PriceAmount = 0 }),
			errCode: emporium.EINVALID, field: "variants[1].price_amount", fieldCode: emporium.FieldOutOfRange},
		{name: "price too high", cmd: createReq(func(c *pb.CreateRequest) { c.Variants[1].PriceAmount = MaxPrice + 1 }),
			errCode: emporium.EINVALID, field: "variants[1].price_amount", fieldCode: emporium.FieldOutOfRange},
		{name: "price at the limit", cmd: createReq(func(c *pb.CreateRequest) { c.Variants[1].PriceAmount = MaxPrice }),
			want: []proto.Message{createdEv(func(c *pb.CreateRequest) { c.Variants[1].PriceAmount = MaxPrice })}},
		{name: "compare-at not above price", cmd: createReq(func(c *pb.CreateRequest) { c.Variants[0].CompareAtAmount = wrapperspb.Int64(1999) }),
			errCode: emporium.EINVALID, field: "variants[0].compare_at_amount", fieldCode: emporium.FieldNotAbovePrice},
		{name: "compare-at above price", cmd: createReq(func(c *pb.CreateRequest) { c.Variants[0].CompareAtAmount = wrapperspb.Int64(2999) }),
			want: []proto.Message{createdEv(func(c *pb.CreateRequest) { c.Variants[0].CompareAtAmount = wrapperspb.Int64(2999) })}},
		{name: "several errors at once", cmd: createReq(func(c *pb.CreateRequest) { c.Title = ""; c.Currency = "" }),
			errCode: emporium.EINVALID, field: "title", fieldCode: emporium.FieldRequired},
	})
}

// TestVariantRules covers the option/variant combination rule.
func TestVariantRules(t *testing.T) {
	with := func(opts []*pb.Option, vs ...*pb.VariantInput) *pb.CreateRequest {
		return createReq(func(c *pb.CreateRequest) { c.Options = opts; c.Variants = vs })
	}
	full := fullVariants()
	runChecks(t, []check{
		{name: "missing combination", cmd: with(sizeColor(), full[0], full[1], full[2]),
			errCode: emporium.EINVALID, field: "variants", fieldCode: emporium.FieldMissingCombination},
		{name: "duplicate combination", cmd: with(sizeColor(), full[0], full[1], full[2], full[3],
			variant("TS-X", 1999, "size", "S", "color", "red")),
			errCode: emporium.EINVALID, field: "variants[4].options", fieldCode: emporium.FieldDuplicateCombination},
		{name: "duplicate combination instead of a missing one", cmd: with(sizeColor(), full[0], full[1], full[2],
			variant("TS-X", 1999, "size", "S", "color", "red")),
			errCode: emporium.EINVALID, field: "variants[3].options", fieldCode: emporium.FieldDuplicateCombination},
		{name: "duplicate sku", cmd: with(sizeColor(), full[0], full[1], full[2], variant("TS-S-R", 1, "size", "M", "color", "blue")),
			errCode: emporium.EINVALID, field: "variants[3].sku", fieldCode: emporium.FieldDuplicate},
		{name: "unknown option value", cmd: with(sizeColor(), full[0], full[1], full[2], variant("TS-M-G", 1, "size", "M", "color", "green")),
			errCode: emporium.EINVALID, field: "variants[3].options.color", fieldCode: emporium.FieldUnknownValue},
		{name: "unknown option", cmd: with(sizeColor(), full[0], full[1], full[2],
			variant("TS-M-B", 1, "size", "M", "color", "blue", "fit", "slim")),
			errCode: emporium.EINVALID, field: "variants[3].options.fit", fieldCode: emporium.FieldUnknownOption},
		{name: "option not named", cmd: with(sizeColor(), full[0], full[1], full[2], variant("TS-M-B", 1, "size", "M")),
			errCode: emporium.EINVALID, field: "variants[3].options.color", fieldCode: emporium.FieldMissingOption},
		{name: "sku missing", cmd: with(sizeColor(), full[0], full[1], full[2], variant("", 1, "size", "M", "color", "blue")),
			errCode: emporium.EINVALID, field: "variants[3].sku", fieldCode: emporium.FieldRequired},
		{name: "sku with a space", cmd: with(sizeColor(), full[0], full[1], full[2], variant("TS M", 1, "size", "M", "color", "blue")),
			errCode: emporium.EINVALID, field: "variants[3].sku", fieldCode: emporium.FieldInvalid},
		{name: "sku too long", cmd: with(nil, variant(strings.Repeat("A", MaxSKU+1), 1)),
			errCode: emporium.EINVALID, field: "variants[0].sku", fieldCode: emporium.FieldInvalid},
		{name: "no variants", cmd: with(nil),
			errCode: emporium.EINVALID, field: "variants", fieldCode: emporium.FieldRequired},
		{name: "two variants without options", cmd: with(nil, variant("A", 1), variant("B", 1)),
			errCode: emporium.EINVALID, field: "variants", fieldCode: emporium.FieldTooMany},
		{name: "options on a product without options", cmd: with(nil, variant("A", 1, "size", "S")),
			errCode: emporium.EINVALID, field: "variants[0].options.size", fieldCode: emporium.FieldUnknownOption},
		{name: "too many options", cmd: with([]*pb.Option{{Name: "a", Values: []string{"1"}}, {Name: "b", Values: []string{"1"}},
			{Name: "c", Values: []string{"1"}}, {Name: "d", Values: []string{"1"}}}, variant("A", 1)),
			errCode: emporium.EINVALID, field: "options", fieldCode: emporium.FieldTooMany},
		{name: "duplicate option name", cmd: with([]*pb.Option{{Name: "size", Values: []string{"S"}}, {Name: "size", Values: []string{"M"}}}, variant("A", 1)),
			errCode: emporium.EINVALID, field: "options[1].name", fieldCode: emporium.FieldDuplicate},
		{name: "duplicate option value", cmd: with([]*pb.Option{{Name: "size", Values: []string{"S", "S"}}}, variant("A", 1, "size", "S")),
			errCode: emporium.EINVALID, field: "options[0].values[1]", fieldCode: emporium.FieldDuplicate},
		{name: "option without values", cmd: with([]*pb.Option{{Name: "size"}}, variant("A", 1)),
			errCode: emporium.EINVALID, field: "options[0].values", fieldCode: emporium.FieldRequired},
		{name: "option name missing", cmd: with([]*pb.Option{{Name: " ", Values: []string{"S"}}}, variant("A", 1)),
			errCode: emporium.EINVALID, field: "options[0].name", fieldCode: emporium.FieldRequired},
		{name: "too many option values", cmd: with([]*pb.Option{{Name: "size", Values: manyValues(MaxOptionValues + 1)}}, variant("A", 1, "size", "v0")),
			errCode: emporium.EINVALID, field: "options[0].values", fieldCode: emporium.FieldTooMany},
		{name: "too many combinations", cmd: with([]*pb.Option{{Name: "a", Values: manyValues(11)}, {Name: "b", Values: manyValues(10)}}, variant("A", 1)),
			errCode: emporium.EINVALID, field: "options", fieldCode: emporium.FieldTooMany},
		{name: "too many variants", cmd: with(nil, manyVariants(MaxVariants+1)...),
			errCode: emporium.EINVALID, field: "variants", fieldCode: emporium.FieldTooMany},
		{name: "variant order is free", cmd: with(sizeColor(), full[3], full[1], full[2], full[0]),
			want: []proto.Message{createdEv(func(c *pb.CreateRequest) { c.Variants = []*pb.VariantInput{full[3], full[1], full[2], full[0]} })}},
	})
}

func manyValues(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint("v", i)
	}
	return out
}

func manyVariants(n int) []*pb.VariantInput {
	out := make([]*pb.VariantInput, n)
	for i := range out {
		out[i] = variant(fmt.Sprint("SKU-", i), 100)
	}
	return out
}

func TestDecideUpdate(t *testing.T) {
	created := []proto.Message{createdEv()}
	archived := append(created[:1:1], &pb.ProductArchived{CommandId: "a1", At: timestamppb.New(t0)})
	active := append(created[:1:1], &pb.ProductPublished{CommandId: "p1", At: timestamppb.New(t0)})
	at := timestamppb.New(t0)
	newSet := &pb.VariantSet{
		Options:  []*pb.Option{{Name: "size", Values: []string{"S", "M"}}},
		Variants: []*pb.VariantInput{variant("TS-S-R", 1999, "size", "S"), variant("TS-M", 2199, "size", "M")},
	}
	runChecks(t, []check{
		{name: "update title", given: created, cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, Title: wrapperspb.String("Tee")},
			want: []proto.Message{&pb.ProductUpdated{CommandId: "u1", Title: wrapperspb.String("Tee"), At: at}}},
		{name: "update only what changed", given: created, cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner,
			Title: wrapperspb.String("T-shirt"), Brand: wrapperspb.String("Other"), Description: wrapperspb.String("Soft.\nCotton.")},
			want: []proto.Message{&pb.ProductUpdated{CommandId: "u1", Brand: wrapperspb.String("Other"), At: at}}},
		{name: "update that changes nothing", given: created, cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner,
			Title: wrapperspb.String("T-shirt"), Images: &pb.Images{Items: []*pb.Image{{Url: "https://img.example.com/1.jpg", Alt: "front"}}},
			Attributes: &pb.Attributes{Items: map[string]string{"material": "cotton"}},
			VariantSet: &pb.VariantSet{Options: sizeColor(), Variants: fullVariants()}}},
		{name: "update with nothing", given: created, cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner}},
		{name: "update clears brand", given: created, cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, Brand: wrapperspb.String("")},
			want: []proto.Message{&pb.ProductUpdated{CommandId: "u1", Brand: wrapperspb.String(""), At: at}}},
		{name: "update replaces images", given: created, cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, Images: &pb.Images{}},
			want: []proto.Message{&pb.ProductUpdated{CommandId: "u1", Images: &pb.Images{Items: []*pb.Image{}}, At: at}}},
		{name: "update replaces attributes", given: created, cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner,
			Attributes: &pb.Attributes{Items: map[string]string{"fit": "slim"}}},
			want: []proto.Message{&pb.ProductUpdated{CommandId: "u1", Attributes: &pb.Attributes{Items: map[string]string{"fit": "slim"}}, At: at}}},
		{name: "update replaces variants and reports removed skus", given: created, cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, VariantSet: newSet},
			want: []proto.Message{&pb.ProductUpdated{CommandId: "u1", HasVariantSet: true,
				Options:     []*pb.Option{{Name: "size", Values: []string{"S", "M"}}},
				Variants:    storedVariants(variant("TS-S-R", 1999, "size", "S"), variant("TS-M", 2199, "size", "M")),
				RemovedSkus: []string{"TS-S-B", "TS-M-R", "TS-M-B"}, AddedSkus: []string{"TS-M"}, At: at}}},
		{name: "update variants breaking the rule", given: created, cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner,
			VariantSet: &pb.VariantSet{Options: sizeColor(), Variants: fullVariants()[:3]}},
			errCode: emporium.EINVALID, field: "variants", fieldCode: emporium.FieldMissingCombination},
		{name: "update retried", given: append(created[:1:1], &pb.ProductUpdated{CommandId: "u1", Title: wrapperspb.String("Tee"), At: at}),
			cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, ExpectedVersion: 1, Title: wrapperspb.String("Tee")}},
		{name: "update with expected version", given: created, cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, ExpectedVersion: 1, Title: wrapperspb.String("Tee")},
			want: []proto.Message{&pb.ProductUpdated{CommandId: "u1", Title: wrapperspb.String("Tee"), At: at}}},
		{name: "update with stale version", given: active, cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, ExpectedVersion: 1, Title: wrapperspb.String("Tee")},
			errCode: emporium.ECONFLICT},
		{name: "update with future version", given: created, cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, ExpectedVersion: 9},
			errCode: emporium.ECONFLICT},
		{name: "update invalid title", given: created, cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, Title: wrapperspb.String("")},
			errCode: emporium.EINVALID, field: "title", fieldCode: emporium.FieldRequired},
		{name: "update invalid image", given: created, cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner,
			Images: &pb.Images{Items: []*pb.Image{{Url: "ftp://x/y"}}}},
			errCode: emporium.EINVALID, field: "images[0].url", fieldCode: emporium.FieldInvalid},
		{name: "update clears category of a draft", given: created, cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, CategoryId: wrapperspb.String("")},
			want: []proto.Message{&pb.ProductUpdated{CommandId: "u1", CategoryId: wrapperspb.String(""), At: at}}},
		{name: "update clears category of an active product", given: active, cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, CategoryId: wrapperspb.String("")},
			errCode: emporium.EINVALID, field: "category_id", fieldCode: emporium.FieldRequired},
		{name: "update active product", given: active, cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, Title: wrapperspb.String("Tee")},
			want: []proto.Message{&pb.ProductUpdated{CommandId: "u1", Title: wrapperspb.String("Tee"), At: at}}},
		{name: "update archived", given: archived, cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, Title: wrapperspb.String("Tee")},
			errCode: emporium.ECONFLICT},
		{name: "update without command id", given: created, cmd: &pb.UpdateRequest{Caller: owner, Title: wrapperspb.String("Tee")},
			errCode: emporium.EINVALID, field: "command_id", fieldCode: emporium.FieldRequired},
		{name: "update not created", cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, Title: wrapperspb.String("Tee")},
			errCode: emporium.ENOTFOUND},
	})
}

func TestDecideStatusAndRating(t *testing.T) {
	created := []proto.Message{createdEv()}
	noCategory := []proto.Message{createdEv(func(c *pb.CreateRequest) { c.CategoryId = "" })}
	published := append(created[:1:1], &pb.ProductPublished{CommandId: "p1", At: timestamppb.New(t0)})
	archived := append(created[:1:1], &pb.ProductArchived{CommandId: "a1", At: timestamppb.New(t0)})
	publishedThenArchived := append(published[:2:2], &pb.ProductArchived{CommandId: "a1", At: timestamppb.New(t0)})
	rated := append(created[:1:1], &pb.RatingUpdated{CommandId: "r1", Average: 4.5, Count: 2, At: timestamppb.New(t0)})
	at := timestamppb.New(t0)
	runChecks(t, []check{
		{name: "publish", given: created, cmd: &pb.PublishRequest{CommandId: "p1", Caller: owner},
			want: []proto.Message{&pb.ProductPublished{CommandId: "p1", At: at}}},
		{name: "publish retried", given: published, cmd: &pb.PublishRequest{CommandId: "p1", Caller: owner}},
		{name: "publish retried after archive", given: publishedThenArchived, cmd: &pb.PublishRequest{CommandId: "p1", Caller: owner}},
		{name: "publish active", given: published, cmd: &pb.PublishRequest{CommandId: "p2", Caller: owner}},
		{name: "publish archived", given: archived, cmd: &pb.PublishRequest{CommandId: "p1", Caller: owner}, errCode: emporium.ECONFLICT},
		{name: "publish without category", given: noCategory, cmd: &pb.PublishRequest{CommandId: "p1", Caller: owner},
			errCode: emporium.EINVALID, field: "category_id", fieldCode: emporium.FieldRequired},
		{name: "publish without command id", given: created, cmd: &pb.PublishRequest{Caller: owner},
			errCode: emporium.EINVALID, field: "command_id", fieldCode: emporium.FieldRequired},
		{name: "publish not created", cmd: &pb.PublishRequest{CommandId: "p1", Caller: owner}, errCode: emporium.ENOTFOUND},
		{name: "archive draft", given: created, cmd: &pb.ArchiveRequest{CommandId: "a1", Caller: owner},
			want: []proto.Message{&pb.ProductArchived{CommandId: "a1", At: at}}},
		{name: "archive active", given: published, cmd: &pb.ArchiveRequest{CommandId: "a1", Caller: owner},
			want: []proto.Message{&pb.ProductArchived{CommandId: "a1", At: at}}},
		{name: "archive retried", given: archived, cmd: &pb.ArchiveRequest{CommandId: "a1", Caller: owner}},
		{name: "archive archived", given: archived, cmd: &pb.ArchiveRequest{CommandId: "a2", Caller: owner}},
		{name: "archive not created", cmd: &pb.ArchiveRequest{CommandId: "a1", Caller: owner}, errCode: emporium.ENOTFOUND},
		{name: "set rating", given: created, cmd: &pb.SetRatingRequest{CommandId: "r1", Average: 4.5, Count: 2},
			want: []proto.Message{&pb.RatingUpdated{CommandId: "r1", Average: 4.5, Count: 2, At: at}}},
		{name: "set rating on archived", given: archived, cmd: &pb.SetRatingRequest{CommandId: "r1", Average: 3, Count: 1},
			want: []proto.Message{&pb.RatingUpdated{CommandId: "r1", Average: 3, Count: 1, At: at}}},
		{name: "set rating retried", given: rated, cmd: &pb.SetRatingRequest{CommandId: "r1", Average: 4.5, Count: 2}},
		{name: "set rating unchanged", given: rated, cmd: &pb.SetRatingRequest{CommandId: "r2", Average: 4.5, Count: 2}},
		{name: "set rating above 5", given: created, cmd: &pb.SetRatingRequest{CommandId: "r1", Average: 5.1, Count: 2},
			errCode: emporium.EINVALID, field: "average", fieldCode: emporium.FieldOutOfRange},
		{name: "set rating without ratings", given: created, cmd: &pb.SetRatingRequest{CommandId: "r1", Average: 4, Count: 0},
			errCode: emporium.EINVALID, field: "average", fieldCode: emporium.FieldOutOfRange},
		{name: "set rating negative count", given: created, cmd: &pb.SetRatingRequest{CommandId: "r1", Count: -1},
			errCode: emporium.EINVALID, field: "count", fieldCode: emporium.FieldOutOfRange},
		{name: "set rating not created", cmd: &pb.SetRatingRequest{CommandId: "r1", Average: 4, Count: 1}, errCode: emporium.ENOTFOUND},
		{name: "get", given: created, cmd: &pb.GetRequest{}},
		{name: "get not created", cmd: &pb.GetRequest{}, errCode: emporium.ENOTFOUND},
		{name: "get for vendor not created", cmd: &pb.GetForVendorRequest{Caller: owner}, errCode: emporium.ENOTFOUND},
		{name: "unknown command", given: created, cmd: &pb.State{}, errCode: emporium.EINTERNAL},
	})
}

// TestOwnership: a vendor reads and changes only their own products; anyone
// else is told the product does not exist; an admin may do anything.
func TestOwnership(t *testing.T) {
	created := []proto.Message{createdEv()}
	at := timestamppb.New(t0)
	var tests []check
	for _, c := range []struct {
		name   string
		caller *pb.Caller
	}{{"another vendor", other}, {"no caller", nil}, {"empty vendor", &pb.Caller{}}} {
		tests = append(tests,
			check{name: c.name + " updates", given: created, cmd: &pb.UpdateRequest{CommandId: "u1", Caller: c.caller, Title: wrapperspb.String("X")}, errCode: emporium.ENOTFOUND},
			check{name: c.name + " publishes", given: created, cmd: &pb.PublishRequest{CommandId: "p1", Caller: c.caller}, errCode: emporium.ENOTFOUND},
			check{name: c.name + " archives", given: created, cmd: &pb.ArchiveRequest{CommandId: "a1", Caller: c.caller}, errCode: emporium.ENOTFOUND},
			check{name: c.name + " reads", given: created, cmd: &pb.GetForVendorRequest{Caller: c.caller}, errCode: emporium.ENOTFOUND},
		)
	}
	tests = append(tests,
		check{name: "another vendor retrying the owner's command id", given: append(created[:1:1], &pb.ProductUpdated{CommandId: "u1", At: at}),
			cmd: &pb.UpdateRequest{CommandId: "u1", Caller: other}, errCode: emporium.ENOTFOUND},
		check{name: "admin updates", given: created, cmd: &pb.UpdateRequest{CommandId: "u1", Caller: admin, Title: wrapperspb.String("X")},
			want: []proto.Message{&pb.ProductUpdated{CommandId: "u1", Title: wrapperspb.String("X"), At: at}}},
		check{name: "admin publishes", given: created, cmd: &pb.PublishRequest{CommandId: "p1", Caller: admin},
			want: []proto.Message{&pb.ProductPublished{CommandId: "p1", At: at}}},
		check{name: "admin archives", given: created, cmd: &pb.ArchiveRequest{CommandId: "a1", Caller: admin},
			want: []proto.Message{&pb.ProductArchived{CommandId: "a1", At: at}}},
		check{name: "admin reads", given: created, cmd: &pb.GetForVendorRequest{Caller: admin}},
		check{name: "owner reads", given: created, cmd: &pb.GetForVendorRequest{Caller: owner}},
	)
	runChecks(t, tests)
}

// TestUpdateCarriesNoServerOwnedField walks the descriptor of UpdateRequest
// (and of every message it holds, but the Caller, which names who asks):
// server-owned fields cannot be changed by Update because it has no field
// for them.
func TestUpdateCarriesNoServerOwnedField(t *testing.T) {
	serverOwned := map[string]bool{
		"id": true, "vendor_id": true, "status": true, "rating": true, "average": true, "count": true,
		"created_at": true, "updated_at": true, "version": true, "currency": true, "as_admin": true,
	}
	callerName := (&pb.Caller{}).ProtoReflect().Descriptor().FullName()
	var walk func(md protoreflect.MessageDescriptor, path string, seen map[protoreflect.FullName]bool)
	walked := 0
	walk = func(md protoreflect.MessageDescriptor, path string, seen map[protoreflect.FullName]bool) {
		if seen[md.FullName()] || md.FullName() == callerName {
			return
		}
		seen[md.FullName()] = true
		fields := md.Fields()
		for i := range fields.Len() {
			f := fields.Get(i)
			walked++
			assert.False(t, serverOwned[string(f.Name())], "UpdateRequest carries the server-owned field %s%s", path, f.Name())
			if f.Message() != nil && !strings.HasPrefix(string(f.Message().FullName()), "google.protobuf.") {
				walk(f.Message(), path+string(f.Name())+".", seen)
			}
		}
	}
	md := (&pb.UpdateRequest{}).ProtoReflect().Descriptor()
	walk(md, "", map[protoreflect.FullName]bool{})
	assert.Greater(t, walked, 10)
	// The caller is there, and names only who asks.
	caller := md.Fields().ByName("caller")
	require.NotNil(t, caller)
	assert.Equal(t, callerName, caller.Message().FullName())
}

func TestProductView(t *testing.T) {
	s := given(
		createdEv(func(c *pb.CreateRequest) { c.Variants[0].CompareAtAmount = wrapperspb.Int64(2999) }),
		&pb.ProductPublished{CommandId: "p1", At: timestamppb.New(t0.Add(time.Minute))},
		&pb.Fenced{},
		&pb.RatingUpdated{CommandId: "r1", Average: 4, Count: 3, At: timestamppb.New(t0.Add(2 * time.Minute))},
	)
	p := product(s)
	assert.Equal(t, "p1", p.Id)
	assert.Equal(t, vendor, p.VendorId)
	assert.Equal(t, "active", p.Status)
	assert.Equal(t, uint64(3), p.Version, "Fenced takes no version")
	assert.Equal(t, t0, p.CreatedAt.AsTime())
	assert.Equal(t, t0.Add(time.Minute), p.UpdatedAt.AsTime(), "a rating is not an edit")
	assert.True(t, proto.Equal(&pb.Rating{Average: 4, Count: 3}, p.Rating))
	require.Len(t, p.Variants, 4)
	assert.True(t, proto.Equal(&pb.Money{Amount: 1999, Currency: "USD"}, p.Variants[0].Price))
	assert.True(t, proto.Equal(&pb.Money{Amount: 2999, Currency: "USD"}, p.Variants[0].CompareAtPrice))
	assert.Nil(t, p.Variants[1].CompareAtPrice)
	assert.Equal(t, []string{"TS-S-R", "TS-S-B", "TS-M-R", "TS-M-B"}, skus(s))
	// The answer shares nothing with the state.
	p.Images[0].Alt = "changed"
	p.Variants[0].Options["size"] = "XL"
	p.Options[0].Values[0] = "XS"
	assert.Equal(t, "front", s.Images[0].Alt)
	assert.Equal(t, "S", s.Variants[0].Options["size"])
	assert.Equal(t, "S", s.Options[0].Values[0])
	assert.Equal(t, "draft", statusWord(pb.ProductStatus_PRODUCT_STATUS_DRAFT))
	assert.Equal(t, "archived", statusWord(pb.ProductStatus_PRODUCT_STATUS_ARCHIVED))
}

func TestApplyCopiesEvents(t *testing.T) {
	ev := createdEv()
	s := given(ev)
	ev.Variants[0].Options["size"] = "XL"
	ev.Images[0].Url = "https://other.example/"
	assert.Equal(t, "S", s.Variants[0].Options["size"])
	assert.Equal(t, "https://img.example.com/1.jpg", s.Images[0].Url)
}

func TestMemoryIsBounded(t *testing.T) {
	s := given(createdEv())
	for i := range actors.CommandsKept + 10 {
		Spec.Fold(s, &pb.RatingUpdated{CommandId: fmt.Sprint("r", i), Average: 1, Count: int64(i + 1)})
	}
	assert.Len(t, s.RecentCommands, actors.CommandsKept)
	assert.Equal(t, "create-1", s.CreatedBy, "the Create's id is kept for good")
	_, err := decideAsShell(s, createReq(), t0)
	assert.NoError(t, err, "a late Create retry is still answered from state")
}
